"""Web UI: a connector's Devices tab and the device page.

Adapters over ``devices.services`` and ``devices.selectors`` with the same access rule as every
connector page (``connectors.selectors.connector_access``). The device list is searched and paged
by ``devices.filters``, as the API's is: keyset pages cost the same on page 1 and page 10,000 of a
million devices, and counts are capped.
"""

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import action_for_method
from connectors import pki, runtime
from connectors.selectors import connector_access, resource_list
from connectors.values import NUMERIC_FORMATS
from connectors.views import tab_context
from core.csv_safety import LineEcho, csv_writer
from devices import filters, hooks, services
from devices.charts import chart_of_history, window_query, zoom_in, zoom_out, zoom_window
from devices.events import EventType
from devices.filters import DEFAULT_ORDERING, ORDERINGS, DeviceFilter
from devices.forms import DeviceCertificateForm, DeviceWhitelistForm, certificate_messages, parse_tag_lines
from devices.history_reads import HISTORY_RANGES, chart_history, history_range
from devices.imports import devices_csv_rows
from devices.models import Device, Lifecycle, Status
from devices.selectors import (
    device_get,
    device_is_online,
    device_state,
    device_tag_names,
    devices_current_values,
)
from jobs.api.serializers import JobSerializer

PAGE_SIZE = 50
# Tag names offered by the tag column's drop-down.
MAX_TAG_NAMES = 200
# Charts on the device page: numeric resources, their most recent points (by default) or a time
# range's (bucketed past CHART_POINTS points, see devices.history_reads).
MAX_CHARTS = 12
CHART_POINTS = 300
LATEST_POINTS = ("latest", "Latest points")

ORDERING_LABELS = {
    "identity": "Identity (A–Z)",
    "-identity": "Identity (Z–A)",
    "-last_seen": "Last seen (newest first)",
    "last_seen": "Last seen (oldest first)",
    "-created_at": "Whitelisted (newest first)",
    "created_at": "Whitelisted (oldest first)",
}

STATUS_LEGEND = [
    (Status.WHITELISTED, "Whitelisted: may activate; no credentials yet"),
    (Status.PROVISIONED, "Provisioned: has credentials"),
    (Status.EXPIRED, "Expired: the activation window passed; revoke to let it activate again"),
    (Status.REPROVISION, "Reprovision: credentials revoked; may activate again"),
    (Status.LOCKED, "Locked: every request is refused"),
    (Status.DEVMODE, "Devmode: authenticated over plain HTTP; its credentials are not secure"),
]


def _list_filters(params) -> dict:
    """The Devices tab's controls as typed: search box, status, tag column, ordering, cursor,
    value column."""
    names = ("q", "status", "tag", "ordering", "cursor", "value")
    return {name: (params.get(name) or "").strip() for name in names}


def _search_params(ui: dict, connector) -> dict:
    """The tab's controls as ``devices.filters`` parameters (the API's): with a tag column
    chosen, only devices having that tag are listed, and the search box names its value (as
    typed, or as an app turns it into the stored value: an owner's e-mail for ``users``);
    otherwise the search box finds identities containing the text."""
    params = {"status": ui["status"], "ordering": ui["ordering"]}
    if ui["tag"]:
        value = ui["q"]
        if value:
            stored = [v for v in hooks.tag_value_typed.send(ui["tag"], connector=connector, text=value) if v]
            value = stored[0] if stored else value
        params["tag"] = f"{ui['tag']}:{value}" if value else ui["tag"]
    else:
        params["q"] = ui["q"]
    return params


def _list_query(filters: dict, **changes) -> str:
    params = {**filters, **changes}
    kept = {k: v for k, v in params.items() if v and not (k == "ordering" and v == DEFAULT_ORDERING)}
    return "?" + urlencode(kept) if kept else "?"


def _device_rows(devices: list[Device], tag: str, value_alias: str) -> list[dict]:
    tags_of = filters.device_tags(devices)  # one query for the page, as the API lists them
    values_of = devices_current_values(devices, alias=value_alias) if value_alias else {}
    rows = []
    for device in devices:
        tags = tags_of[device.pk]
        if tag:
            shown = [t["value"] for t in tags if t["name"] == tag]
        else:
            shown = list(dict.fromkeys(t["name"] for t in tags))
        rows.append(
            {"device": device, "status": device.status, "tags": shown, "value": values_of.get(device.pk)}
        )
    return rows


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def device_list(request, connector_id):
    """The Devices tab: search, filter, sort, page; POST whitelists one device."""
    access = connector_access(
        user=request.user, connector_id=connector_id, action=action_for_method(request.method)
    )
    connector = access.connector
    form = DeviceWhitelistForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.device_whitelist(connector=connector, **form.service_kwargs())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Device “{device.identity}” whitelisted.")
            return redirect("devices:device-detail", connector_id=connector.pk, identity=device.identity)

    ui = _list_filters(request.GET)
    filter_errors: dict[str, list[str]] = {}
    rows, page, count = [], None, None
    try:
        device_filter = DeviceFilter.from_params(_search_params(ui, connector))
        try:
            page = device_filter.page(connector, cursor=ui["cursor"] or None, limit=PAGE_SIZE)
        except ValidationError:
            # An old or edited page link: show the first page rather than nothing.
            messages.warning(request, "That page link no longer applies; here is the first page.")
            ui["cursor"] = ""
            page = device_filter.page(connector, limit=PAGE_SIZE)
        if not ui["cursor"]:
            count = device_filter.count(connector, first_page=page)
    except ValidationError as exc:
        filter_errors = exc.message_dict
    # The value column: one of the connector's resources (the cached rules: no query).
    value_aliases = sorted(runtime.connector_rules(connector))
    if ui["value"] not in value_aliases:
        ui["value"] = ""
    if page is not None:
        rows = _device_rows(page.devices, ui["tag"], ui["value"])
    kept = {k: ui[k] for k in ("q", "status", "tag", "ordering", "value")}
    matching = {k: ui[k] for k in ("q", "status", "tag") if ui[k]}
    names = device_tag_names(connector=connector, limit=MAX_TAG_NAMES)
    if ui["tag"] and ui["tag"] not in names:
        names.append(ui["tag"])
    bad_request = bool(form.errors or filter_errors)
    return render(
        request,
        "devices/device_list.html",
        tab_context(
            access,
            "devices",
            form=form,
            open_dialog=bool(form.errors),
            filters=kept,
            filter_errors=[
                f"{FILTER_LABELS.get(key, key)}: {message}"
                for key, ms in filter_errors.items()
                for message in ms
            ],
            filter_invalid=set(filter_errors),
            filtering=any(kept[k] for k in ("q", "status", "tag")),
            rows=rows,
            count=count,
            tag_names=names,
            status_choices=Status.choices,
            ordering_choices=[(name, ORDERING_LABELS.get(name, name)) for name in ORDERINGS],
            next_query=_list_query(kept, cursor=page.next_cursor) if page and page.next_cursor else None,
            previous_query=(
                _list_query(kept, cursor=page.previous_cursor) if page and page.previous_cursor else None
            ),
            first_query=_list_query(kept) if ui["cursor"] else None,
            legend=STATUS_LEGEND,
            import_url=f"/api/v1/connectors/{connector.pk}/devices/import/",
            value_aliases=value_aliases,
            value_alias=ui["value"],
            matching=matching,
            more_than_page=bool(page and (page.next_cursor or page.previous_cursor)),
            bulk_actions=BULK_ACTION_LABELS,
            export_query=_list_query(matching),
        ),
        status=400 if bad_request else 200,
    )


# The bulk actions as the Devices tab offers them.
BULK_ACTION_LABELS = [
    ("lock", "Lock"),
    ("unlock", "Unlock"),
    ("revoke", "Revoke credentials"),
    ("delete", "Delete"),
    ("tag_add", "Add tag"),
    ("tag_remove", "Remove tag"),
]


@login_required
@require_POST
def device_bulk(request, connector_id):
    """A bulk action on the Devices tab: the devices ticked (``device``: identities), changed in
    the request when there are at most ``BULK_IN_REQUEST_LIMIT``, or every device matching the
    tab's filters (``all=1`` and ``q``, ``status``, ``tag``) or a longer list, by a job.

    Asked for JSON (the page's script) it answers the job (202) or ``{"changed", "message"}``,
    and 400 with the reason; a plain form post goes back to the list with a message."""
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    connector = access.connector
    ui = _list_filters(request.POST)
    back = reverse("devices:device-list", kwargs={"connector_id": connector.pk}) + _list_query(
        {k: ui[k] for k in ("q", "status", "tag", "ordering", "value")}
    )
    wants_json = "application/json" in request.headers.get("Accept", "")

    def refused(message: str):
        if wants_json:
            return JsonResponse({"detail": message}, status=400)
        messages.error(request, message)
        return redirect(back)

    try:
        action = services.BulkAction.parse(
            request.POST.get("action", ""),
            tag_name=request.POST.get("tag_name", ""),
            tag_value=request.POST.get("tag_value", ""),
        )
    except ValidationError as exc:
        return refused(_problems(exc))
    everything = request.POST.get("all") == "1"
    identities = [i for i in request.POST.getlist("device") if i]
    if not everything and not identities:
        return refused("Select the devices to change first.")
    if everything or len(identities) > services.BULK_IN_REQUEST_LIMIT:
        try:
            job = services.devices_bulk_start(
                connector=connector, user=request.user, action=action,
                filters=_search_params(ui, connector) if everything else None,
                identities=None if everything else identities,
            )  # fmt: skip
        except ValidationError as exc:
            return refused(_problems(exc))
        if wants_json:
            return JsonResponse(JobSerializer(job).data, status=202)
        messages.info(request, "The change runs in the background; reload the list to see its progress.")
        return redirect(back)
    ids = services.device_ids_of(connector=connector, identities=identities)
    changed = services.devices_bulk_apply(connector=connector, action=action, device_ids=ids)
    message = f"{changed:,} device{'s' if changed != 1 else ''} {action.done}"
    if changed != len(identities):
        message += f" ({len(identities) - changed:,} of those selected needed no change)"
    messages.success(request, message + ".")
    if wants_json:
        return JsonResponse({"changed": changed, "message": message + "."})
    return redirect(back)


def _problems(exc: ValidationError) -> str:
    """A refused bulk request's reasons in a sentence each, named as the page names them."""
    names = {**FILTER_LABELS, "action": "Action", "tag": "Tag"}
    return " ".join(f"{names.get(key, key)}: {m}." for key, ms in exc.message_dict.items() for m in ms)


@login_required
@require_GET
def device_export(request, connector_id):
    """The devices matching the Devices tab's filters as the import's CSV, streamed as read (the
    same file as ``manage.py devices export``, for the devices shown)."""
    access = connector_access(user=request.user, connector_id=connector_id)
    connector = access.connector
    try:
        device_filter = DeviceFilter.from_params(_search_params(_list_filters(request.GET), connector))
    except ValidationError as exc:
        return JsonResponse(exc.message_dict, status=400)
    writer = csv_writer(LineEcho())
    rows = devices_csv_rows(connector=connector, device_filter=device_filter)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{connector.pk}-devices.csv"
    )
    return response


# How the filter parameters are called on the page, for their error messages.
FILTER_LABELS = {"q": "Search", "tag": "Tag", "status": "Status", "ordering": "Sort by", "cursor": "Page"}


def _us_to_datetime(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


def _certificate_context(connector, device, form: DeviceCertificateForm | None, errors) -> dict:
    """The device page's certificate section: the pinned one, and what people may do with it."""
    revoked = device.lifecycle == Lifecycle.REPROVISION
    return {
        "certificate": pki.certificate_summary(device.certificate),
        "certificate_revoked": revoked and bool(device.certificate_fingerprint),
        "certificate_form": form or DeviceCertificateForm(),
        "certificate_errors": errors or [],
        "pin_refusal": services.certificate_change_refusal(device),
        "clear_refusal": services.certificate_change_refusal(device, clearing=True),
        "csr_signing": pki.csr_signing_enabled(connector),
    }


def _device_page(request, access, device, *, state_errors=None, state_typed=None, tag_rows=None,
                 tag_errors=None, certificate_form=None, certificate_errors=None,
                 status=200):  # fmt: skip
    """The device page: status, credentials and certificate, tags, state with inline sets,
    charts, live events."""
    connector = access.connector
    resources = list(resource_list(connector=connector))
    rules = runtime.connector_rules(connector)
    state = device_state(device=device, rules=rules)
    state_errors, state_typed = state_errors or {}, state_typed or {}
    state_rows = []
    for resource in resources:
        entry = state.get(resource.alias, {})
        state_rows.append(
            {
                "resource": resource,
                "reported": entry.get("reported"),
                "set": entry.get("set"),
                "timestamp": _us_to_datetime(entry.get("timestamp")),
                "error": state_errors.get(resource.alias),
                "typed": state_typed.get(resource.alias),
            }
        )
    # ?since=&until= (a zoomed window) or ?range= (1h … 30d) charts that time; anything else
    # (a window that is none: bad dates, reversed…), the latest points.
    now_us = int(timezone.now().timestamp() * 1_000_000)
    window = zoom_window(request.GET.get("since"), request.GET.get("until"))
    if window is None and (request.GET.get("since") or request.GET.get("until")):
        messages.warning(request, "That zoom range is not a valid time range; here are the charts without.")
    chart_range = history_range(request.GET.get("range"), None)
    since_us = end_us = until_us = None
    if window is not None:
        chart_range = None
        since_us, until_us = window
        end_us = until_us
    elif chart_range is not None:
        end_us = now_us
        since_us = end_us - int(chart_range[2].total_seconds() * 1_000_000)
    zoom = None
    if since_us is not None:
        zoom = {
            "since": _us_to_datetime(since_us),
            "until": _us_to_datetime(end_us),
            "in_query": window_query(*zoom_in(since_us, end_us)),
            "out_query": window_query(*zoom_out(since_us, end_us, now_us=now_us)),
        }
    charts = []
    for resource in [r for r in resources if r.format in NUMERIC_FORMATS][:MAX_CHARTS]:
        history = chart_history(
            device=device, alias=resource.alias, resource_format=resource.format, since_us=since_us,
            until_us=until_us, max_points=CHART_POINTS,
        )  # fmt: skip
        chart = chart_of_history(history, start_us=since_us, end_us=end_us)
        charts.append({"resource": resource, "chart": chart})
    if tag_rows is None:
        tag_rows = [{"name": t.name, "value": t.value} for t in device.tags.order_by("name", "value")]
    identity_query = urlencode({"identity": device.identity})
    logs_path = reverse("devices:logs", kwargs={"connector_id": connector.pk})
    return render(
        request,
        "devices/device_detail.html",
        tab_context(
            access,
            "devices",
            device=device,
            status=device.status,
            online=device_is_online(device),
            state_rows=state_rows,
            charts=charts,
            chart_ranges=[LATEST_POINTS, *[(key, label) for key, label, _ in HISTORY_RANGES]],
            chart_range=chart_range[0] if chart_range else ("zoom" if window else LATEST_POINTS[0]),
            zoom=zoom,
            tag_rows=tag_rows,
            tag_errors=tag_errors or [],
            ws_path=f"/ws{logs_path}?{identity_query}",
            logs_link=f"{logs_path}?{identity_query}",
            legend=STATUS_LEGEND,
            event_types=[t.value for t in EventType],
            **_certificate_context(connector, device, certificate_form, certificate_errors),
        ),
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def device_detail(request, connector_id, identity):
    """The device page; its Set forms post here (``device_state_form``), so that a refused value
    is shown at the page's own URL, not at the form's."""
    if request.method == "POST":
        return device_state_form(request, connector_id, identity)
    access = connector_access(user=request.user, connector_id=connector_id)
    return _device_page(request, access, device_get(connector=access.connector, identity=identity))


def _device_for_change(request, connector_id, identity):
    access = connector_access(user=request.user, connector_id=connector_id, action="write")
    return access, device_get(connector=access.connector, identity=identity)


def _back_to(device):
    return redirect("devices:device-detail", connector_id=device.connector_id, identity=device.identity)


@login_required
@require_POST
def device_lock(request, connector_id, identity):
    """Lock (``locked=1``) or unlock (``locked=0``) a device."""
    _, device = _device_for_change(request, connector_id, identity)
    locked = request.POST.get("locked") == "1"
    services.device_update(device=device, locked=locked)
    messages.success(request, f"Device “{device.identity}” {'locked' if locked else 'unlocked'}.")
    return _back_to(device)


def _confirm_page(request, access, device, *, action: str):
    return render(request, "devices/device_confirm.html", tab_context(access, "devices", device=device,
                                                                      action=action))  # fmt: skip


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def device_revoke(request, connector_id, identity):
    """Revoke the device's credentials (status ``reprovision``), after a confirmation."""
    access, device = _device_for_change(request, connector_id, identity)
    if request.method != "POST":
        return _confirm_page(request, access, device, action="revoke")
    services.device_revoke(device=device)
    messages.success(request, f"Credentials of “{device.identity}” revoked; it may activate again.")
    return _back_to(device)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def device_delete(request, connector_id, identity):
    """Delete the device with its state and history, after a confirmation."""
    access, device = _device_for_change(request, connector_id, identity)
    if request.method != "POST":
        return _confirm_page(request, access, device, action="delete")
    services.device_delete(device=device)
    messages.success(request, f"Device “{identity}” deleted.")
    return redirect("devices:device-list", connector_id=connector_id)


@login_required
@require_POST
def device_certificate(request, connector_id, identity):
    """Pin a certificate (pasted or uploaded PEM) on the device, or replace its pinned one."""
    access, device = _device_for_change(request, connector_id, identity)
    form = DeviceCertificateForm(request.POST, request.FILES)
    if form.is_valid():
        replacing = bool(device.certificate_fingerprint)
        try:
            services.device_update(device=device, certificate=form.cleaned_data["certificate"])
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request, f"Certificate of “{device.identity}” {'replaced' if replacing else 'pinned'}."
            )
            return _back_to(device)
    device = device_get(connector=access.connector, identity=identity)
    return _device_page(request, access, device, certificate_form=form, status=400)


@login_required
@require_POST
def device_certificate_clear(request, connector_id, identity):
    """Clear a whitelisted device's pinned certificate (any valid one may then provision it)."""
    access, device = _device_for_change(request, connector_id, identity)
    try:
        services.device_update(device=device, certificate="")
    except ValidationError as exc:
        errors = certificate_messages(exc.error_dict.get("auth", []) if hasattr(exc, "error_dict") else [exc])
        device = device_get(connector=access.connector, identity=identity)
        return _device_page(request, access, device, certificate_errors=errors, status=400)
    messages.success(request, f"Pinned certificate of “{device.identity}” cleared.")
    return _back_to(device)


@login_required
@require_POST
def device_tags(request, connector_id, identity):
    """Replace the device's tags with the table's rows (edited, added, some marked for deletion).

    Also takes ``add`` as ``name=value`` lines, for a quick addition without the table."""
    access, device = _device_for_change(request, connector_id, identity)
    names, values = request.POST.getlist("tag_name"), request.POST.getlist("tag_value")
    deleted = set(request.POST.getlist("tag_delete"))
    rows, errors = [], []
    for index, (name, value) in enumerate(zip(names, values, strict=False)):
        name, value = name.strip(), value.strip()
        if not name and not value:
            continue  # an empty row for adding, left empty
        row = {"name": name, "value": value, "deleted": str(index) in deleted}
        rows.append(row)
        if not name and not row["deleted"]:
            errors.append(f"Row {index + 1}: a tag needs a name.")
    try:
        added = parse_tag_lines(request.POST.get("add", ""))
    except ValidationError as exc:
        errors.extend(exc.messages)
        added = []
    kept = [{"name": r["name"], "value": r["value"]} for r in rows if not r["deleted"]] + added
    if not errors:
        try:
            services.device_tags_replace(device=device, tags=kept)
        except ValidationError as exc:
            errors.extend(m for messages_ in exc.message_dict.values() for m in messages_)
    if errors:
        return _device_page(request, access, device, tag_rows=rows, tag_errors=errors, status=400)
    messages.success(request, "Tags saved.")
    return _back_to(device)


@login_required
@require_POST
def device_state_form(request, connector_id, identity):
    """Set one settable resource's cloud value (the device reads or long-polls it)."""
    access, device = _device_for_change(request, connector_id, identity)
    alias, value = request.POST.get("alias", ""), request.POST.get("value", "")
    rules = runtime.connector_rules(access.connector)
    try:
        services.device_state_set(device=device, values={alias: value}, rules=rules)
    except ValidationError as exc:
        problems = exc.message_dict if hasattr(exc, "error_dict") else {alias: exc.messages}
        message = " ".join(m for ms in problems.values() for m in ms)
        if alias not in rules:
            messages.error(request, f"No resource “{alias}” to set.")
            return _device_page(request, access, device, status=400)
        return _device_page(
            request, access, device, state_errors={alias: message}, state_typed={alias: value}, status=400
        )
    messages.success(request, f"{alias} set to “{value[:80]}”.")
    return _back_to(device)


@login_required
@require_GET
def logs_page(request, connector_id):
    """The live event stream (the page's script opens the websocket)."""
    access = connector_access(user=request.user, connector_id=connector_id)
    ws_path = reverse("devices:logs", kwargs={"connector_id": connector_id})
    return render(
        request,
        "devices/logs.html",
        tab_context(
            access,
            "logs",
            event_types=[t.value for t in EventType],
            ws_path="/ws" + ws_path,
            identity=request.GET.get("identity", "")[:128],
        ),
    )
