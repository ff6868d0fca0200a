"""The Portal tab of a connector (product managers): the portal's link and generic claim QR
code, the branding form with a live preview of the landing page, the three images, the
``branding.json`` file (download, upload), the welcome e-mail's template (preview, a test sent
to oneself) and the managed apps.

Adapters over ``portal.services`` with the access rule of every connector page
(``connectors.selectors.connector_access``): viewers see everything, their posts are 403.

The previews are framed by the tab: they alone answer ``X-Frame-Options: SAMEORIGIN`` and a CSP
with ``frame-ancestors 'self'`` (the platform's is ``'none'``). The landing page's preview is
the portal's own template with the submitted (unsaved) branding; the e-mail's is shown in a
sandboxed frame (its own inline styles, no script).
"""

import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from accounts.selectors import action_for_method
from claiming import codes
from connectors.selectors import connector_access, portal_url
from connectors.views import tab_context
from portal import services
from portal.branding import ASSET_NAMES, assets_of, branding_of
from portal.forms import AssetForm, BrandingFileForm, BrandingForm, EmailTemplateForm
from portal.models import AssetName
from portal.presenters import preview_context
from portal.theme import theme_css

TAB = "portal"
BRANDING_FILE_MAX_BYTES = 64 * 1024
# The previews are framed by the Portal tab, and only by it.
FRAMED_CSP = settings.CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
# The e-mail preview: the template's own inline styles and images, nothing that runs.
EMAIL_PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)


def _access(request, connector_id):
    return connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    )


def _framed(response: HttpResponse, csp: str = FRAMED_CSP) -> HttpResponse:
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Content-Security-Policy"] = csp
    return response


def _asset_url(connector, name: str) -> str:
    """The image as the management API serves it (the tab's session reads it), versioned."""
    asset = assets_of(connector).get(name)
    url = reverse("portal-api:asset", kwargs={"connector_id": connector.pk, "asset_name": name})
    return f"{url}?v={asset.sha256[:12] if asset else 'default'}"


def _preview_query(form_data) -> str:
    return urlencode([(key, value) for key, value in form_data.items() if key != "csrfmiddlewaretoken"])


def _page(request, access, *, form=None, email_form=None, file_form=None, status=200, asset_errors=None):
    connector = access.connector
    branding = branding_of(connector)
    form = form or BrandingForm.for_document(branding)
    template = services.email_template_of(connector)
    base = portal_url(connector, request)
    assets = assets_of(connector)
    preview_data = form.data if form.is_bound else {k: v for k, v in form.initial.items()}
    return render(
        request,
        "portal_manage/portal.html",
        tab_context(
            access,
            TAB,
            portal_url=base,
            claim_url=codes.generic_claim_url(portal_url=base) + f"&product={connector.pk}",
            form=form,
            preview_query=_preview_query(preview_data),
            assets=[
                {
                    "name": name,
                    "label": AssetName(name).label,
                    "url": _asset_url(connector, name),
                    "uploaded": assets.get(name),
                    "form": AssetForm(auto_id=f"id_{name.replace('.', '_')}_%s"),
                    "errors": (asset_errors or {}).get(name, []),
                }
                for name in ASSET_NAMES
            ],
            file_form=file_form or BrandingFileForm(),
            email_form=email_form or EmailTemplateForm(initial=template.as_dict()),
            email_variables=services.EMAIL_VARIABLES,
            managed_apps=connector.managed_apps or [],
        ),
        status=status,
    )


def _back(connector, anchor: str = ""):
    return redirect(reverse("portal-manage:portal", kwargs={"connector_id": connector.pk}) + anchor)


@login_required
@require_safe
def portal_page(request, connector_id):
    """The Portal tab."""
    return _page(request, _access(request, connector_id))


@login_required
@require_POST
def branding_save(request, connector_id):
    """Save the branding form (the service's errors next to their fields)."""
    access = _access(request, connector_id)
    form = BrandingForm(request.POST)
    if form.is_valid():
        try:
            services.branding_set(connector=access.connector, document=form.document())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Branding saved.")
            return _back(access.connector, "#branding")
    return _page(request, access, form=form, status=400)


@login_required
@require_POST
def branding_reset(request, connector_id):
    """The default branding again."""
    access = _access(request, connector_id)
    services.branding_reset(connector=access.connector)
    messages.success(request, "Branding reset to the defaults.")
    return _back(access.connector, "#branding")


@login_required
@require_safe
def branding_download(request, connector_id):
    """The saved ``branding.json`` as a file."""
    access = _access(request, connector_id)
    body = json.dumps(branding_of(access.connector), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="branding.json"'
    return response


@login_required
@require_POST
def branding_upload(request, connector_id):
    """Load a ``branding.json`` file (the same rules as the form and the API)."""
    access = _access(request, connector_id)
    file_form = BrandingFileForm(request.POST, request.FILES)
    if file_form.is_valid():
        upload = file_form.cleaned_data["file"]
        try:
            if upload.size > BRANDING_FILE_MAX_BYTES:
                raise ValidationError(f"The file is too large: at most {BRANDING_FILE_MAX_BYTES // 1024} KB.")
            try:
                document = json.loads(upload.read().decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ValidationError("The file is not JSON (UTF-8).") from None
            services.branding_set(connector=access.connector, document=document)
        except ValidationError as exc:
            messages_of = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            for key, field_messages in messages_of.items():
                for message in field_messages:
                    file_form.add_error("file", f"{key}: {message}" if key else message)
        else:
            messages.success(request, "branding.json loaded.")
            return _back(access.connector, "#branding")
    return _page(request, access, file_form=file_form, status=400)


@login_required
@require_POST
def asset_upload(request, connector_id, asset_name):
    """Replace one of the three images (multipart form)."""
    access = _access(request, connector_id)
    name = services.asset_name_check(asset_name)
    form = AssetForm(request.POST, request.FILES)
    errors: list[str] = []
    if not form.is_valid():
        errors = [message for field_errors in form.errors.values() for message in field_errors]
    else:
        upload = form.cleaned_data["file"]
        try:
            if upload.size > services.ASSET_MAX_BYTES:
                raise services.AssetTooLarge()
            services.asset_put(connector=access.connector, name=name, data=upload.read())
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, f"{name} replaced.")
            return _back(access.connector, "#images")
    return _page(request, access, asset_errors={name: errors}, status=400)


@login_required
@require_POST
def asset_restore(request, connector_id, asset_name):
    """The default image again."""
    access = _access(request, connector_id)
    name = services.asset_name_check(asset_name)
    services.asset_delete(connector=access.connector, name=name)
    messages.success(request, f"{name}: the default image again.")
    return _back(access.connector, "#images")


@login_required
@require_POST
def email_save(request, connector_id):
    """Save the welcome e-mail's template."""
    access = _access(request, connector_id)
    form = EmailTemplateForm(request.POST)
    if form.is_valid():
        try:
            services.email_template_set(connector=access.connector, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Welcome e-mail saved.")
            return _back(access.connector, "#email")
    return _page(request, access, email_form=form, status=400)


@login_required
@require_POST
def email_reset(request, connector_id):
    """The built-in welcome e-mail again."""
    access = _access(request, connector_id)
    services.email_template_reset(connector=access.connector)
    messages.success(request, "Welcome e-mail reset to the built-in one.")
    return _back(access.connector, "#email")


@login_required
@require_POST
def email_test(request, connector_id):
    """Send the saved welcome e-mail, with sample values, to the product manager."""
    access = _access(request, connector_id)
    try:
        services.email_test_send(connector=access.connector, to=request.user.email)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Sent to {request.user.email}.")
    return _back(access.connector, "#email")


@login_required
@require_safe
def email_preview(request, connector_id):
    """The saved welcome e-mail with sample values, for a sandboxed frame of the tab."""
    access = _access(request, connector_id)
    subject, body = services.email_sample_render(access.connector)
    return _framed(HttpResponse(body, content_type="text/html; charset=utf-8"), EMAIL_PREVIEW_CSP)


def _submitted_branding(request, connector) -> dict:
    """The branding the query string describes (the tab's form fields), cleaned; the saved one
    when it is not valid."""
    form = BrandingForm(request.GET)
    if form.is_valid():
        try:
            return services.branding_clean(form.document())
        except ValidationError:
            pass
    return branding_of(connector)


@login_required
@require_safe
def landing_preview(request, connector_id):
    """The portal's landing page with the branding of the query string (unsaved), for the tab's
    frame: the portal's own template, its images and theme from routes of the platform."""
    access = _access(request, connector_id)
    connector = access.connector
    branding = _submitted_branding(request, connector)
    theme_url = reverse("portal-manage:preview-theme", kwargs={"connector_id": connector.pk})
    colours = {f"theme_{name}": value for name, value in branding["theme"].items()}
    response = render(
        request,
        "portal/landing.html",
        {
            **preview_context(connector),
            "branding": branding,
            "asset_urls": {name: _asset_url(connector, name) for name in ASSET_NAMES},
            "theme_css_url": theme_url + "?" + urlencode({**colours, "themeType": branding["themeType"]}),
        },
    )
    return _framed(response)


@login_required
@require_safe
def preview_theme(request, connector_id):
    """``/theme.css`` for the colours of the query string (the saved ones where not valid)."""
    access = _access(request, connector_id)
    css = theme_css(_submitted_theme(request, access.connector))
    return HttpResponse(css, content_type="text/css; charset=utf-8")


def _submitted_theme(request, connector) -> dict:
    saved = branding_of(connector)
    document = {
        "theme": {name: request.GET.get(f"theme_{name}", saved["theme"][name]) for name in saved["theme"]},
        "themeType": request.GET.get("themeType", saved["themeType"]),
    }
    try:
        return services.branding_clean(document)
    except ValidationError:
        return saved


@login_required
@require_safe
def claim_qr(request, connector_id):
    """A QR code of the portal's generic claim link (``…/#/?claim=&product=<connector id>``)."""
    access = _access(request, connector_id)
    base = portal_url(access.connector, request)
    link = codes.generic_claim_url(portal_url=base) + f"&product={access.connector.pk}"
    return HttpResponse(codes.qr_svg(link), content_type="image/svg+xml")
