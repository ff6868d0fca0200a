"""What the portal's pages show: the context every page gets (branding, who is logged in, their
firmware notices) and small read-only views of devices for the templates.

Pages render through ``render_page`` so that the base template (``portal/base.html``) always has
``branding``, ``asset_urls``, ``theme_css_url``, ``portal_connector``, ``end_user`` and
``notices``. The Portal tab's live preview renders ``portal/landing.html`` from ``preview_context``
instead (no request, no user)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from claiming import selectors
from claiming.models import EndUser
from claiming.services import PLATFORM_ALIASES
from connectors.models import Connector, Resource
from connectors.runtime import connector_rules
from devices.models import Device
from devices.selectors import device_is_online, device_state
from portal.branding import asset_urls, branding_of, theme_css_url
from portal.notices import notices_for
from portal.security import portal_csp
from portal.sessions import page_end_user

# The device list shows at most this many devices (as the JSON API's list).
MAX_DEVICES_LISTED = 1000


def owner_rules(connector: Connector) -> dict:
    """The connector's value rules by alias, without the platform's own resources (firmware
    updates, shown as versions in the device page's Firmware section; device-side claiming):
    the values owners read and set."""
    rules = connector_rules(connector)
    return {alias: rule for alias, rule in rules.items() if alias not in PLATFORM_ALIASES}


def branding_context(connector: Connector) -> dict:
    """The branding part of a page's context (also what a preview needs)."""
    return {
        "branding": branding_of(connector),
        "asset_urls": asset_urls(connector),
        "theme_css_url": theme_css_url(connector),
        "portal_connector": connector,
    }


def preview_context(connector: Connector) -> dict:
    """The context of a page rendered without a request (the Portal tab's preview)."""
    return {**branding_context(connector), "end_user": None, "notices": [], "preview": True}


def page_context(request: HttpRequest) -> dict:
    """The context every portal page gets."""
    user = page_end_user(request)
    return {
        **branding_context(request.portal_connector),
        "end_user": user,
        "notices": notices_for(user) if user is not None else [],
        "preview": False,
    }


def render_page(
    request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200
) -> HttpResponse:
    """A portal page: ``template`` with the page context and ``context``, under the portal's
    Content-Security-Policy."""
    return portal_csp(render(request, template, {**page_context(request), **(context or {})}, status=status))


# ---- Devices ---------------------------------------------------------------------------------


@dataclass
class ValueRow:
    """One value of a device as its pages show it."""

    alias: str
    reported: str | None
    set: str | None
    timestamp: datetime | None
    unit: str
    format: str
    settable: bool

    @property
    def current(self) -> str | None:
        """What the device has (its report), else what was set for it."""
        return self.reported if self.reported is not None else self.set


@dataclass
class DeviceCard:
    device: Device
    online: bool
    values: list[ValueRow]

    @property
    def identity(self) -> str:
        return self.device.identity


def resources_of(connector: Connector) -> dict[str, Resource]:
    """The connector's resources by alias (units, allowed values), in one query."""
    return {r.alias: r for r in Resource.objects.filter(connector=connector).order_by("alias")}


def _when(timestamp_us: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp_us / 1_000_000, tz=UTC) if timestamp_us else None


def device_values(device: Device, rules: dict, resources: dict[str, Resource]) -> list[ValueRow]:
    """The device's values (``devices.selectors.device_state``, as the JSON API), with units;
    ``device.states`` prefetched when there are many devices."""
    rows = []
    for alias, state in device_state(device=device, rules=rules).items():
        if alias not in rules:
            continue
        rule, resource = rules[alias], resources.get(alias)
        rows.append(
            ValueRow(
                alias=alias,
                reported=state["reported"],
                set=state["set"],
                timestamp=_when(state["timestamp"]),
                unit=resource.unit if resource else "",
                format=rule.format,
                settable=rule.settable,
            )  # fmt: skip
        )
    return rows


def device_cards(user: EndUser, connector: Connector) -> list[DeviceCard]:
    """The user's devices with their values: a fixed number of queries however many there are."""
    devices = list(selectors.devices_of_end_user(user).prefetch_related("states")[:MAX_DEVICES_LISTED])
    rules, resources = owner_rules(connector), resources_of(connector)
    return [
        DeviceCard(device=d, online=device_is_online(d), values=device_values(d, rules, resources))
        for d in devices
    ]


def managed_apps(connector: Connector) -> list[dict]:
    """The connector's managed applications (id, name, description, url, logo)."""
    return [app for app in (connector.managed_apps or []) if isinstance(app, dict)]
