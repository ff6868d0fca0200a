"""Reads about connectors, always through the one scoping function and the one access check."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.http.request import split_domain_port

from accounts.models import Business, Membership, User
from accounts.selectors import (
    READ,
    WRITE,
    businesses_for_user,
    role_can_administer,
    role_can_write,
    role_in_business,
    role_require,
)
from connectors import hooks
from connectors.models import Connector, Resource


def connectors_for_user(user: User):
    """The connectors ``user`` may see: their businesses' (all of them for a superuser).

    Every view, API view and consumer goes through this; someone else's connector is simply
    not there (404), so its existence does not leak.
    """
    if not user.is_authenticated:
        return Connector.objects.none()
    if user.is_superuser:
        return Connector.objects.all()
    return Connector.objects.filter(business__memberships__user=user)


@dataclass(frozen=True)
class ConnectorAccess:
    """A connector the user may see, with their role in its business."""

    connector: Connector
    role: str | None

    @property
    def can_write(self) -> bool:
        return role_can_write(self.role)

    @property
    def can_admin(self) -> bool:
        return role_can_administer(self.role)


def connector_access(*, user: User, connector_id: str, action: str = READ) -> ConnectorAccess:
    """The connector named ``connector_id`` if ``user`` may see it (else ``Http404``: someone
    else's connector looks exactly like one that does not exist) and may do ``action`` on it
    (``read``, ``write`` or ``admin``; else ``PermissionDenied``), with their role.

    The one access check for a connector: every API view, page, websocket consumer and the
    firmware and content routes go through it."""
    connector = connectors_for_user(user).select_related("business").filter(pk=connector_id).first()
    if connector is None:
        raise Http404("No such connector.")
    role = role_in_business(user=user, business_id=connector.business_id)
    role_require(role, action)
    return ConnectorAccess(connector, role)


def business_for_new_connector(*, user: User, business_id: int | None) -> Business:
    """The business a new connector of ``user``'s goes to.

    Named (``business_id``): one the user may see (else "no such business", whether it exists or
    not) and may write to (else ``PermissionDenied``). Not named: the user's business when they
    belong to exactly one; never a guess between several, nor one a superuser merely sees.
    """
    if business_id is not None:
        business = businesses_for_user(user).filter(pk=business_id).first()
        if business is None:
            raise ValidationError({"business": "No such business."})
    else:
        business = business_default_for_new_connector(user=user)
        if business is None:
            several = Membership.objects.filter(user=user).exists()
            problem = "You belong to several businesses; say" if several else "Say"
            raise ValidationError({"business": f"{problem} which business owns the connector."})
    role_require(role_in_business(user=user, business_id=business.pk), WRITE)
    return business


def business_default_for_new_connector(*, user: User) -> Business | None:
    """The business a new connector goes to when the user names none: theirs when they belong
    to exactly one business, else None (the UI then offers a choice; the API asks for one)."""
    memberships = list(Membership.objects.filter(user=user).select_related("business")[:2])
    return memberships[0].business if len(memberships) == 1 else None


def connector_hostnames(connector: Connector) -> list[str]:
    return [h.hostname for h in connector.hostname_set.all()]


def resource_list(*, connector: Connector):
    return Resource.objects.filter(connector=connector).order_by("alias")


def resource_get(*, connector: Connector, alias: str) -> Resource:
    """The connector's resource ``alias``; ``Http404`` when it has none."""
    resource = Resource.objects.filter(connector=connector, alias=alias).first()
    if resource is None:
        raise Http404("No such resource.")
    return resource


def resources_by_alias(*, connector: Connector, aliases: list[str]) -> dict[str, Resource]:
    """The connector's resources named in ``aliases``, by alias. An alias holding a NUL names
    nothing (PostgreSQL cannot even look it up), so it is not looked up."""
    named = [alias for alias in aliases if "\x00" not in alias]
    return {r.alias: r for r in Resource.objects.filter(connector=connector, alias__in=named)}


def portal_url(connector: Connector, request=None) -> str:
    """``http(s)://<portal_subdomain>.<PORTAL_DOMAIN>[:port]/``, the scheme and port as the
    platform is reached (``url_as_reached``)."""
    return url_as_reached(connector.portal_host, request) + "/"


def device_api_url(connector: Connector, request=None) -> str:
    """The App Link as a working URL: ``http(s)://<connector id>.<DEVICE_API_DOMAIN>[:port]``,
    without a trailing slash (devices append ``/onep:v1/...``). The device API is served by the
    same servers as the pages, so its scheme and port are the platform's as reached
    (``url_as_reached``): ``http://…:8000`` under ``make run``, ``https://…:8443`` under
    ``make run-tls``, plain ``https://`` behind a production proxy."""
    return url_as_reached(connector.device_host, request)


def url_as_reached(host: str, request=None) -> str:
    """``scheme://host[:port]`` with the scheme and port the platform is reached on: the
    request's (its scheme as a trusted proxy says; the port of its Host header, which a proxy
    passes on, not the port the app server listens on), else ``MURANO_URL``'s; the port left
    out when it is the scheme's default."""
    if request is not None:
        scheme, port = request.scheme, split_domain_port(request.get_host())[1]
    else:
        parts = urlsplit(settings.MURANO_URL or "http://127.0.0.1:8000")
        scheme, port = parts.scheme or "http", str(parts.port or "")
    default = {"http": "80", "https": "443"}.get(scheme)
    suffix = f":{port}" if port and port != default else ""
    return f"{scheme}://{host}{suffix}"


@dataclass(frozen=True)
class DeviceActivity:
    """A connector's devices at a glance: how many, how many have each status (the Devices
    tab's statuses, in its order, those with no device left out) and when one was last seen."""

    total: int = 0
    by_status: tuple[tuple[str, int], ...] = ()
    last_seen: datetime | None = None


def devices_activity(connector_ids: list[str]) -> dict[str, DeviceActivity]:
    """The ``DeviceActivity`` of each connector of ``connector_ids`` (an empty one for those
    without devices), in a constant number of queries however many connectors are named. The
    devices app counts (``hooks.devices_activity``): it owns what a status is."""
    found: dict[str, DeviceActivity] = {}
    if connector_ids:
        for answer in hooks.devices_activity.send(connector_ids=list(connector_ids)):
            found.update(answer)
    return {connector_id: found.get(connector_id, DeviceActivity()) for connector_id in connector_ids}


@dataclass(frozen=True)
class ConnectorSummary:
    """One row of the connector list."""

    connector: Connector
    activity: DeviceActivity
    app_link: str

    @property
    def app_link_refuses_plain_http(self) -> bool:
        """The App Link is plain HTTP but the connector is not in developer mode: devices are
        refused there (they need HTTPS, e.g. ``make run-tls`` or the production proxy)."""
        return self.app_link.startswith("http:") and not self.connector.devmode


def connector_summaries(*, user: User, request=None) -> list[ConnectorSummary]:
    """The connectors ``user`` may see, by name, with their devices' activity and App Link:
    three queries whatever the number of connectors (connectors, devices, nothing per row)."""
    connectors = list(connectors_for_user(user).select_related("business").order_by("name", "id"))
    activity = devices_activity([connector.pk for connector in connectors])
    return [
        ConnectorSummary(connector, activity[connector.pk], device_api_url(connector, request))
        for connector in connectors
    ]


@dataclass(frozen=True)
class ConnectorContents:
    """What deleting a connector removes with it, counted."""

    devices: int
    resources: int
    content_items: int


def connector_contents(connector: Connector) -> ConnectorContents:
    return ConnectorContents(
        devices=devices_activity([connector.pk])[connector.pk].total,
        resources=connector.resources.count(),
        content_items=connector.content_items.count(),
    )
