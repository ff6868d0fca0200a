"""The portal's pages: landing, claim, my devices, a device (values, setting them, history
chart, firmware, release), managed apps, and dismissing a firmware notice. Thin: the rules are
``claiming.services`` (through the same calls as the portal's JSON API, never through HTTP);
what a page shows is ``portal.presenters`` and ``portal.charts``."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.backends import request_address
from claiming import selectors, services
from devices.history_reads import chart_history
from firmware.selectors import device_firmware as firmware_of_device
from firmware.selectors import package_list
from firmware.services import FirmwareDisabled
from portal import charts
from portal.notices import notice_dismiss as dismiss
from portal.page_forms import ClaimForm, FirmwareForm, ValueForm
from portal.presenters import (
    device_cards,
    device_values,
    managed_apps,
    owner_rules,
    render_page,
    resources_of,
)
from portal.sessions import end_user_required, page_end_user, safe_next

FIRMWARE_OFF = "Firmware updates are not available for this product."
OTHER_PRODUCT = "This claim code is for another product: open it on that product's portal."


def _ip(request) -> str:
    return request_address(request) or ""


def _minutes(seconds: int) -> str:
    n = max(1, -(-int(seconds) // 60))
    return f"{n} minute{'s' if n != 1 else ''}"


@require_safe
def landing(request):
    """``/``: the device maker's landing page (slogans, the device, its specs)."""
    return render_page(request, "portal/landing.html", {"nav": "home"})


# ---- Claim -----------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def claim(request):
    """``/claim/?claim=CODE&product=ID``: claim the devices of a code. Visitors who are not
    logged in are sent to sign up or log in and come back here; a refused claim is said on this
    page (with the refusal's status), never on an error page."""
    connector = request.portal_connector
    user = page_end_user(request)
    data = request.POST if request.method == "POST" else request.GET
    code, product = (
        (data.get("claim_code") or data.get("claim") or "").strip(),
        (data.get("product") or "").strip(),
    )
    other_product = bool(product) and product != connector.pk
    context = {"nav": "claim", "other_product": other_product, "claim_code": code}
    if user is None:
        query = urlencode({k: v for k, v in (("claim", code), ("product", product)) if v})
        context["back"] = "/claim/" + (f"?{query}" if query else "")
        return render_page(request, "portal/claim.html", context)
    form = ClaimForm(
        request.POST if request.method == "POST" else None, initial={"claim_code": code, "product": product}
    )
    context["form"] = form
    status = 200
    if request.method == "POST":
        status = 400
        if other_product:
            form.add_error(None, OTHER_PRODUCT)
        elif form.is_valid():
            try:
                claimed = services.claim(
                    user=user, claim_code=form.cleaned_data["claim_code"], ip=_ip(request)
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            except services.ClaimRefused as exc:
                status = exc.status
                message = exc.message
                if exc.status == 429 and exc.retry_after:
                    message = f"Too many claim attempts; try again in {_minutes(exc.retry_after)}."
                form.add_error(None, message)
            else:
                messages.success(request, "Claimed: " + ", ".join(claimed))
                return HttpResponseRedirect("/devices/")
    return render_page(request, "portal/claim.html", context, status=status)


# ---- My devices ------------------------------------------------------------------------------


@end_user_required
@require_safe
def device_list(request):
    """``/devices/``: the user's devices (online, last seen, current values) and the apps."""
    cards = device_cards(page_end_user(request), request.portal_connector)
    apps = managed_apps(request.portal_connector)
    return render_page(request, "portal/devices.html", {"nav": "devices", "cards": cards, "apps": apps})


def _value_forms(rules, rows, resources, data=None, failed_alias: str | None = None) -> dict:
    """A form per settable resource (whether or not the device has a value for it yet)."""
    current = {row.alias: row.set for row in rows}
    forms = {}
    for alias, rule in sorted(rules.items()):
        if not rule.settable:
            continue
        resource = resources.get(alias)
        allowed = list(resource.allowed or []) if resource else []
        # Discrete allowed values make a <select>; numeric ranges ("0-100") a number field.
        discrete = [] if rule.ranges else allowed
        forms[alias] = ValueForm(
            data if alias == failed_alias else None, alias=alias, format=rule.format,
            choices=[str(a) for a in discrete], current=current.get(alias),
        )  # fmt: skip
    return forms


def _device_page(request, device, *, value_forms=None, firmware_form=None, status=200, errors=()):
    connector = request.portal_connector
    rules, resources = owner_rules(connector), resources_of(connector)
    rows = device_values(device, rules, resources)
    forms = _value_forms(rules, rows, resources)
    forms.update(value_forms or {})
    # History: the numeric values (a chosen one, else the first): what the device measures
    # before the settings owners change, and on/off values last.
    numeric = [
        alias
        for alias, rule in sorted(
            rules.items(), key=lambda item: (item[1].settable, item[1].format == "boolean", item[0])
        )
        if rule.format in charts.NUMERIC_FORMATS
    ]
    alias = (
        request.GET.get("alias") if request.GET.get("alias") in numeric else (numeric[0] if numeric else None)
    )
    chart = None
    if alias:
        range_key, _, length = charts.range_of(request.GET.get("range"))
        now = timezone.now()
        since_us = int((now - length).timestamp() * 1_000_000)
        history = chart_history(
            device=device, alias=alias, resource_format=rules[alias].format, since_us=since_us,
            until_us=None, max_points=charts.MAX_POINTS,
        )  # fmt: skip
        resource = resources.get(alias)
        chart = charts.history_chart(
            history=history,
            alias=alias,
            unit=resource.unit if resource else "",
            range_key=range_key,
            now=now,
        )
    firmware = None
    if connector.firmware_update_enabled:
        packages = package_list(connector=connector)
        state = firmware_of_device(device=device, history_limit=5)
        firmware = {
            "packages": packages,
            "installed": state["installed_version"],
            "latest": state["updates"][0] if state["updates"] else None,
            "form": firmware_form or FirmwareForm(choices=_package_choices(packages)),
        }
    context = {
        "nav": "devices",
        "device": device,
        "values": rows,
        "value_forms": list(forms.items()),
        "chart": chart,
        "chart_aliases": numeric,
        "ranges": charts.RANGES,
        "firmware": firmware,
        "page_errors": list(errors),
    }
    return render_page(request, "portal/device.html", context, status=status)


def _package_choices(packages) -> list[tuple[str, str]]:
    return [(p["id"], f"{p['version']} — {p['name']}" if p.get("name") else p["version"]) for p in packages]


def _owned(request, identity):
    return selectors.device_of_end_user(page_end_user(request), identity)


@end_user_required
@require_safe
def device_detail(request, identity):
    """``/devices/<identity>/``: one of the user's devices (anyone else's is a 404)."""
    return _device_page(request, _owned(request, identity))


@end_user_required
@require_POST
def device_state(request, identity):
    """Set one settable value (``alias``, ``value``): the device's long poll wakes."""
    device = _owned(request, identity)
    alias, value = request.POST.get("alias", ""), request.POST.get("value", "")
    try:
        services.owner_state_set(device=device, values={alias: value})
    except PermissionDenied as exc:
        return _device_page(request, device, status=403, errors=[str(exc) or "This value cannot be set."])
    except ValidationError as exc:
        connector = request.portal_connector
        rules, resources = owner_rules(connector), resources_of(connector)
        forms = _value_forms(rules, device_values(device, rules, resources), resources, request.POST, alias)
        if alias in forms:
            forms[alias].is_valid()
            forms[alias].add_service_errors(exc)
            return _device_page(request, device, value_forms=forms, status=400)
        return _device_page(request, device, status=400, errors=[m for m in exc.messages])
    messages.success(request, f"{alias} set to {value}.")
    return HttpResponseRedirect(f"/devices/{device.identity}/")


@end_user_required
@require_POST
def device_firmware(request, identity):
    """Update the device to the chosen firmware package."""
    device = _owned(request, identity)
    connector = request.portal_connector
    packages = package_list(connector=connector) if connector.firmware_update_enabled else []
    form = FirmwareForm(request.POST, choices=_package_choices(packages))
    if not connector.firmware_update_enabled:
        return _device_page(request, device, status=409, errors=[FIRMWARE_OFF])
    if not form.is_valid():
        return _device_page(request, device, firmware_form=form, status=400)
    package = next(p for p in packages if p["id"] == form.cleaned_data["package"])
    try:
        services.owner_firmware_update(
            user=page_end_user(request), message=package["config_otau"], devices=[device.identity]
        )
    except FirmwareDisabled:
        return _device_page(request, device, status=409, errors=[FIRMWARE_OFF])
    except ValidationError as exc:
        form.add_service_errors(exc)
        return _device_page(request, device, firmware_form=form, status=400)
    messages.success(request, f"Firmware {package['version']} is on its way to the device.")
    return HttpResponseRedirect(f"/devices/{device.identity}/#firmware")


@end_user_required
@require_http_methods(["GET", "HEAD", "POST"])
def device_release(request, identity):
    """``…/release/``: GET asks to confirm; POST gives the device up (it leaves the user's list)."""
    device = _owned(request, identity)
    if request.method == "POST":
        services.release(user=page_end_user(request), device=device, ip=_ip(request))
        messages.success(request, f"Released: {device.identity}")
        return HttpResponseRedirect("/devices/")
    return render_page(request, "portal/release.html", {"nav": "devices", "device": device})


# ---- Apps and notices ------------------------------------------------------------------------


@end_user_required
@require_safe
def apps(request):
    """``/apps/``: the connector's managed applications."""
    return render_page(
        request, "portal/apps.html", {"nav": "apps", "apps": managed_apps(request.portal_connector)}
    )


@end_user_required
@require_POST
def notice_dismiss(request, notice_id):
    """Dismiss a firmware notice, back to the page it was on."""
    dismiss(user=page_end_user(request), notice_id=notice_id)
    return HttpResponseRedirect(safe_next(request.POST.get("next"), "/devices/"))
