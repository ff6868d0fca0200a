"""Web UI of claiming: the End Users tab (list, search, create, change, block, set a password,
user data, their devices), and the claim codes page (a printable sheet of QR labels for the
devices the Devices tab's filters match, the CSV of codes and links, and the generation of fresh
codes with a progress bar). A device's claim panel is ``claiming.templatetags.claiming_tags``.

Adapters over ``claiming.services`` and ``claiming.selectors``, with the access rule of every
connector page (``connectors.selectors.connector_access``): viewers read, their posts are 403.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import action_for_method
from claiming import codes
from claiming.forms import EndUserCreateForm, EndUserEditForm, EndUserPasswordForm
from claiming.paging import end_user_page
from claiming.selectors import (
    devices_of_end_user,
    end_user_get,
    end_users_for_connector,
    end_users_with_device_count,
)
from claiming.services import (
    TAG_CLAIM_CODE,
    end_user_create,
    end_user_delete,
    end_user_password_set,
    end_user_update,
)
from connectors.selectors import connector_access, portal_url
from connectors.views import tab_context
from devices.filters import DeviceFilter, device_tags
from devices.models import Status

PAGE_SIZE = 50
# Devices of an end user shown on their page (the Devices tab's tag=users:<id> lists them all).
USER_DEVICES_SHOWN = 100
# Devices per printed sheet of labels (a device with several codes has a label per code).
LABELS_PER_PAGE = 120
TAB = "end-users"


def _access(request, connector_id):
    return connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def end_user_list(request, connector_id):
    """The End Users tab: search by e-mail or name, page; POST creates an end user."""
    access = _access(request, connector_id)
    connector = access.connector
    form = EndUserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = end_user_create(connector=connector, **form.service_kwargs())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"End user “{user.email}” created.")
            return redirect("claiming:end-user-detail", connector_id=connector.pk, user_id=user.pk)
    q = (request.GET.get("q") or "").strip()[:254]
    cursor = request.GET.get("cursor") or None
    users = end_users_with_device_count(end_users_for_connector(connector, q))
    try:
        page = end_user_page(users, cursor=cursor, limit=PAGE_SIZE)
    except ValidationError:
        messages.warning(request, "That page link no longer applies; here is the first page.")
        cursor, page = None, end_user_page(users, cursor=None, limit=PAGE_SIZE)

    def query(**params) -> str:
        kept = {k: v for k, v in {"q": q, **params}.items() if v}
        return "?" + urlencode(kept)

    return render(
        request,
        "claiming/end_user_list.html",
        tab_context(
            access,
            TAB,
            form=form,
            open_dialog=bool(form.errors),
            q=q,
            users=page.users,
            next_query=query(cursor=page.next_cursor) if page.next_cursor else None,
            previous_query=query(cursor=page.previous_cursor) if page.previous_cursor else None,
            first_query=query() if cursor else None,
        ),
        status=400 if form.errors else 200,
    )


def _user_page(request, access, user, *, form=None, password_form=None, status=200):
    connector = access.connector
    devices = list(devices_of_end_user(user)[: USER_DEVICES_SHOWN + 1])
    return render(
        request,
        "claiming/end_user_detail.html",
        tab_context(
            access,
            TAB,
            end_user=user,
            form=form or EndUserEditForm.for_user(user),
            password_form=password_form or EndUserPasswordForm(),
            devices=devices[:USER_DEVICES_SHOWN],
            more_devices=len(devices) > USER_DEVICES_SHOWN,
            devices_query=urlencode({"tag": "users", "q": str(user.pk)}),
            connector_id=connector.pk,
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def end_user_detail(request, connector_id, user_id):
    """An end user: their details and devices; POST changes e-mail, name, verified, blocked and
    user data."""
    access = _access(request, connector_id)
    user = end_user_get(access.connector, user_id)
    if request.method != "POST":
        return _user_page(request, access, user)
    form = EndUserEditForm(request.POST)
    if form.is_valid():
        try:
            end_user_update(user=user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "End user saved.")
            return redirect("claiming:end-user-detail", connector_id=access.connector.pk, user_id=user.pk)
    user.refresh_from_db()
    return _user_page(request, access, user, form=form, status=400)


@login_required
@require_POST
def end_user_password(request, connector_id, user_id):
    """Set an end user's password (their portal sessions end)."""
    access = _access(request, connector_id)
    user = end_user_get(access.connector, user_id)
    form = EndUserPasswordForm(request.POST)
    if form.is_valid():
        try:
            end_user_password_set(user=user, password=form.cleaned_data["password"])
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Password set. The user's portal sessions ended.")
            return redirect("claiming:end-user-detail", connector_id=access.connector.pk, user_id=user.pk)
    return _user_page(request, access, user, password_form=form, status=400)


@login_required
@require_POST
def end_user_remove(request, connector_id, user_id):
    """Delete an end user: they no longer own any device."""
    access = _access(request, connector_id)
    user = end_user_get(access.connector, user_id)
    email = user.email
    end_user_delete(user=user)
    messages.success(request, f"End user “{email}” deleted; their devices have no owner from them any more.")
    return redirect("claiming:end-user-list", connector_id=access.connector.pk)


# --- claim codes: labels, CSV, generation ------------------------------------------------------

FILTER_NAMES = ("q", "status", "tag")


@login_required
@require_http_methods(["GET", "HEAD"])
def claim_codes_page(request, connector_id):
    """A printable sheet of claim labels (QR code, identity, code) for the devices matching the
    Devices tab's filters (identity text, status, ``tag`` as ``name`` or ``name:value``), with
    the CSV of codes and links and, for writers, the generation of fresh codes."""
    access = _access(request, connector_id)
    connector = access.connector
    filters = {name: (request.GET.get(name) or "").strip() for name in FILTER_NAMES}
    kept = {k: v for k, v in filters.items() if v}
    cursor = request.GET.get("cursor") or None
    labels, errors, page = [], [], None
    try:
        device_filter = DeviceFilter.from_params(kept, accept=FILTER_NAMES)
        page = device_filter.page(connector, cursor=cursor, limit=LABELS_PER_PAGE)
    except ValidationError as exc:
        errors = [f"{key}: {message}" for key, ms in exc.message_dict.items() for message in ms]
    if page is not None:
        base = portal_url(connector, request)
        tags_of = device_tags(page.devices)
        for device in page.devices:
            device_codes = sorted(t["value"] for t in tags_of[device.pk] if t["name"] == TAG_CLAIM_CODE)
            for code in device_codes or [None]:
                labels.append(
                    {
                        "device": device,
                        "code": code,
                        "url": codes.claim_url(portal_url=base, connector_id=connector.pk, code=code)
                        if code
                        else "",
                        "qr_query": urlencode({"code": code}) if code else "",
                    }
                )
    filter_query = urlencode(kept)

    def query(**params) -> str:
        return "?" + urlencode({**kept, **{k: v for k, v in params.items() if v}})

    return render(
        request,
        "claiming/claim_codes.html",
        tab_context(
            access,
            TAB,
            filters=filters,
            filtering=bool(kept),
            filter_errors=errors,
            status_choices=Status.choices,
            labels=labels,
            next_query=query(cursor=page.next_cursor) if page and page.next_cursor else None,
            previous_query=query(cursor=page.previous_cursor) if page and page.previous_cursor else None,
            csv_url=f"/api/v1/connectors/{connector.pk}/claim-codes.csv"
            + (f"?{filter_query}" if kept else ""),
            generate_url=f"/api/v1/connectors/{connector.pk}/claim-codes/"
            + (f"?{filter_query}" if kept else ""),
            generic_url=codes.generic_claim_url(portal_url=portal_url(connector, request)),
        ),
        status=400 if errors else 200,
    )
