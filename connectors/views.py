"""Web UI: the connector list, and a connector's Resources, Logs and Settings tabs (Content: views_content).

Views are adapters like the API's: they check access with the same scoping function
(``connector_access``), parse a form, call one service and show its field errors next to
the fields. Someone else's connector is a 404; a viewer sees no edit controls and gets a 403 if
they post anyway.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.selectors import READ_ONLY_MESSAGE, action_for_method, businesses_writable_for_user
from connectors import pki, services
from connectors.forms import ConnectorCreateForm, ConnectorDeleteForm, ConnectorSettingsForm, ResourceForm
from connectors.selectors import (
    ConnectorAccess,
    business_default_for_new_connector,
    business_for_new_connector,
    connector_access,
    connector_contents,
    connector_hostnames,
    connector_summaries,
    resource_get,
    resource_list,
)
from connectors.values import NUMERIC_FORMATS


def tab_context(access: ConnectorAccess, tab: str, **extra) -> dict:
    """What every connector page's header and tab bar need."""
    return {
        "connector": access.connector,
        "role": access.role,
        "can_write": access.can_write,
        "can_admin": access.can_admin,
        "tab": tab,
        "nav": "connectors",
        **extra,
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def connector_list(request):
    """The connectors of the user's businesses, and a form to create one."""
    businesses = businesses_writable_for_user(request.user)
    form = ConnectorCreateForm(
        request.POST or None,
        businesses=businesses,
        default_business=business_default_for_new_connector(user=request.user),
    )
    if request.method == "POST":
        if not businesses:
            raise PermissionDenied(READ_ONLY_MESSAGE)
        if form.is_valid():
            business_id = form.cleaned_data.get("business") or None
            try:
                business = business_for_new_connector(user=request.user, business_id=business_id)
                connector = services.connector_create(
                    business=business,
                    name=form.cleaned_data["name"],
                    settings={"description": form.cleaned_data["description"]},
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"Connector “{connector.name}” created.")
                return redirect("devices:device-list", connector_id=connector.pk)
    return render(
        request,
        "connectors/connector_list.html",
        {
            "connectors": connector_summaries(user=request.user, request=request),
            "form": form,
            "can_create": bool(businesses),
            # Nobody can create a connector before a business exists: a superuser may add one.
            "can_add_business": not businesses and request.user.is_superuser,
            "nav": "connectors",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def connector_detail(request, connector_id):
    """A connector opens on its Devices tab."""
    connector_access(user=request.user, connector_id=connector_id)
    return redirect("devices:device-list", connector_id=connector_id)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def connector_settings(request, connector_id):
    """Protocol, identity format, authentication, provisioning, IP whitelist and PKI."""
    access = connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    )
    connector = access.connector
    initial = {name: getattr(connector, name) for name in services.CONNECTOR_FIELDS}
    initial["hostnames"] = connector_hostnames(connector)
    has_key = bool(connector.pki_ca_private_key_encrypted)
    form = ConnectorSettingsForm(
        request.POST or None, request.FILES or None, initial=initial, has_ca_private_key=has_key
    )
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        try:
            change = services.connector_settings_change(connector=connector, changes=changes)
        except ValidationError as exc:
            # The instance may hold half-applied values now: show the page from a fresh copy.
            form.add_service_errors(exc)
            connector.refresh_from_db()
        else:
            messages.success(request, "Settings saved." if changes else "Nothing changed.")
            for warning in change.warnings:
                messages.warning(request, warning.message)
            return redirect("connectors:connector-settings", connector_id=connector.pk)
    if not access.can_write:
        for field in form.fields.values():
            field.disabled = True
    connector = access.connector
    return render(
        request,
        "connectors/settings.html",
        tab_context(
            access,
            "settings",
            form=form,
            has_ca_private_key=bool(connector.pki_ca_private_key_encrypted),
            ca=pki.certificate_summary(connector.pki_ca_certificate),
            ca_stored=bool(connector.pki_ca_certificate),
        ),
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def connector_ca_generate(request, connector_id):
    """Give the connector a CA of its own (``services.connector_ca_generate``, as the API's
    ``pki/generate-ca/``). A connector without a CA gets one at once; one that has a CA keeps
    it until people confirm the replacement (``replace=1``) on this page."""
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    connector = access.connector
    status = 200
    if request.method == "POST":
        try:
            services.connector_ca_generate(connector=connector, replace=request.POST.get("replace") == "1")
        except services.CaAlreadyExists:
            # Posted from a page that showed no CA, and someone gave it one since: ask first.
            connector.refresh_from_db()
            status = 409
        else:
            messages.success(
                request,
                "A new CA was generated; its private key is stored encrypted."
                + ("" if connector.pki_enabled else " Turn on verification to use it."),
            )
            return redirect("connectors:connector-settings", connector_id=connector.pk)
    return render(
        request,
        "connectors/ca_generate.html",
        tab_context(
            access,
            "settings",
            ca=pki.certificate_summary(connector.pki_ca_certificate),
            ca_stored=bool(connector.pki_ca_certificate),
            ca_years=pki.CA_DAYS // 365,
            conflict=status == 409,
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def connector_delete(request, connector_id):
    """Delete a connector with all its devices, resources and content (business admins only),
    once people typed its name: a wrong name is a 400 and deletes nothing."""
    access = connector_access(user=request.user, connector_id=connector_id, action="admin")
    connector = access.connector
    form = ConnectorDeleteForm(request.POST if request.method == "POST" else None, connector=connector)
    if request.method == "POST" and form.is_valid():
        name = connector.name
        services.connector_delete(connector=connector)
        messages.success(request, f"Connector “{name}” and its devices were deleted.")
        return redirect("connectors:connector-list")
    return render(
        request,
        "connectors/connector_delete.html",
        tab_context(access, "settings", form=form, contents=connector_contents(connector)),
        status=400 if form.errors else 200,
    )


# --- Resources --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def resource_list_page(request, connector_id):
    """The resources, and the "New resource" dialog, which posts here: a refused resource
    shows the list again with the dialog open on the reasons (``resource_create`` is the same
    form as a page of its own, for browsers without scripts)."""
    access = connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    )
    posted = request.POST if request.method == "POST" else None
    form = ResourceForm(posted) if access.can_write else None
    if request.method == "POST" and _resource_created(request, access, form):
        return redirect("connectors:resource-list", connector_id=connector_id)
    return render(
        request,
        "connectors/resource_list.html",
        tab_context(
            access,
            "resources",
            resources=resource_list(connector=access.connector),
            numeric_formats=NUMERIC_FORMATS,
            form=form,
            open_dialog=bool(form is not None and form.errors),
        ),
        status=400 if form is not None and form.errors else 200,
    )


def _resource_created(request, access, form) -> bool:
    """Create the resource ``form`` describes; False with the reasons on the form if refused."""
    if not form.is_valid():
        return False
    try:
        resource = services.resource_create(
            connector=access.connector, alias=form.cleaned_data["alias"], **form.service_fields()
        )
    except ValidationError as exc:
        form.add_service_errors(exc)
        return False
    messages.success(request, f"Resource “{resource.alias}” created.")
    return True


def _resource_form_page(request, access, form, resource=None):
    return render(
        request,
        "connectors/resource_form.html",
        tab_context(access, "resources", form=form, resource=resource),
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def resource_create(request, connector_id):
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    form = ResourceForm(request.POST or None)
    if request.method == "POST" and _resource_created(request, access, form):
        return redirect("connectors:resource-list", connector_id=connector_id)
    return _resource_form_page(request, access, form)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def resource_edit(request, connector_id, alias):
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    resource = resource_get(connector=access.connector, alias=alias)
    form = ResourceForm(request.POST or None, initial=ResourceForm.initial_for(resource), editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.resource_update(resource=resource, **form.service_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Resource “{resource.alias}” saved.")
            return redirect("connectors:resource-list", connector_id=connector_id)
    return _resource_form_page(request, access, form, resource)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def resource_delete(request, connector_id, alias):
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    resource = resource_get(connector=access.connector, alias=alias)
    if request.method == "POST":
        services.resource_delete(resource=resource)
        messages.success(request, f"Resource “{alias}” deleted.")
        return redirect("connectors:resource-list", connector_id=connector_id)
    return render(
        request, "connectors/resource_delete.html", tab_context(access, "resources", resource=resource)
    )
