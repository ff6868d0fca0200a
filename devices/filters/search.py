"""``DeviceFilter``: what a device list shows (filters and ordering), parsed once from a query
string or a form, and its matching devices, pages and count."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet

from connectors.identity import IDENTITY_MAX_LENGTH
from connectors.models import Connector
from devices.filters.counts import device_count
from devices.filters.pagination import DevicePage, TagWalk, device_page
from devices.filters.params import (
    DEFAULT_ORDERING,
    DEFAULT_PAGE_SIZE,
    FILTER_PARAMETERS,
    MAX_IP_LENGTH,
    MAX_Q_LENGTH,
    MAX_TAG_FILTERS,
    MAX_TAG_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    ORDERINGS,
    IpFilter,
    Order,
    check_text,
    param_error,
    param_text,
    param_values,
    parse_ip,
    parse_tag,
)
from devices.filters.sql import (
    identity_collated,
    identity_contains,
    in_identity_range,
    ip_matches,
    planner_estimate,
    tag_rows,
)
from devices.models import Device, DeviceTag, Status
from devices.selectors import status_q


@dataclass(frozen=True)
class DeviceFilter:
    """What a device list shows: the parsed, validated filters and ordering.

    Build one with :meth:`from_params` from a query string (or a form's data); ``queryset()``
    is then the matching devices of a connector, unordered (pages order them).
    """

    status: str | None = None
    identity: str | None = None
    q: str | None = None
    tags: tuple[tuple[str, str | None], ...] = ()
    ip: IpFilter | None = None
    ordering: str = DEFAULT_ORDERING

    @classmethod
    def from_params(cls, params: Mapping, *, accept: tuple[str, ...] = FILTER_PARAMETERS) -> DeviceFilter:
        """Parse ``status``, ``identity`` (prefix), ``q`` (substring), ``tag`` (``name`` or
        ``name:value``, repeatable: all must match), ``ip`` (address or network) and
        ``ordering``; only those named in ``accept`` are read. Raises ``ValidationError``
        naming the first bad parameter."""
        status = identity = q = ip = None
        tags: list[tuple[str, str | None]] = []
        ordering = DEFAULT_ORDERING
        if "status" in accept:
            status = param_text(params, "status", max_length=32)
            if status is not None and status not in Status.values:
                raise param_error("status", f"must be one of {', '.join(Status.values)}")
        if "identity" in accept:
            identity = param_text(params, "identity", max_length=IDENTITY_MAX_LENGTH)
        if "q" in accept:
            q = param_text(params, "q", max_length=MAX_Q_LENGTH)
        if "tag" in accept:
            raw_tags = param_values(params, "tag")
            if len(raw_tags) > MAX_TAG_FILTERS:
                raise param_error("tag", f"give at most {MAX_TAG_FILTERS} tag filters")
            for raw in raw_tags:
                check_text("tag", raw, MAX_TAG_NAME_LENGTH + 1 + MAX_TAG_VALUE_LENGTH)
                tags.append(parse_tag(raw))
        if "ip" in accept:
            raw_ip = param_text(params, "ip", max_length=MAX_IP_LENGTH)
            ip = parse_ip(raw_ip) if raw_ip is not None else None
        if "ordering" in accept:
            ordering = param_text(params, "ordering", max_length=32) or DEFAULT_ORDERING
            if ordering not in ORDERINGS:
                raise param_error("ordering", f"must be one of {', '.join(ORDERINGS)}")
        return cls(status=status, identity=identity, q=q, tags=tuple(dict.fromkeys(tags)), ip=ip,
                   ordering=ordering)  # fmt: skip

    def queryset(self, connector: Connector, *, base: QuerySet | None = None) -> QuerySet:
        """The connector's devices that match, unordered."""
        devices = (base if base is not None else Device.objects.all()).filter(connector=connector)
        devices = in_identity_range(devices.alias(identity_key=identity_collated(devices)), self.identity)
        devices = self._device_conditions(devices)
        for name, value in self.tags:
            devices = devices.filter(Exists(tag_rows(connector, name, value).filter(device=OuterRef("pk"))))
        return devices

    def _device_conditions(self, devices: QuerySet) -> QuerySet:
        """``devices`` filtered by the conditions on the device's own columns, but its identity
        prefix: ``status``, ``q`` and ``ip``."""
        vendor = connections[devices.db].vendor
        if self.q:
            devices = devices.filter(identity_contains(self.q, vendor))
        if self.status:
            devices = devices.filter(status_q(self.status))
        if self.ip is not None:
            devices = devices.filter(ip_matches(self.ip, vendor, devices.db))
        return devices

    def _tag_walk(self, connector: Connector, base: QuerySet | None) -> TagWalk | None:
        """How to find pages in identity order from a tag's own index (``tag_search_identity``,
        where a tag's devices are already in identity order): the narrowest ``name:value`` tag
        leads; the other tags and the device conditions are checked on each device it yields,
        so a page reads about ``limit`` index entries times how rare the other conditions are
        among the leading tag's devices. None when no tag has a value (a bare name may have
        several values per device), and with ``q`` or ``ip``: those usually match few devices,
        which the walk would look for through all of the tag's."""
        valued = [(name, value) for name, value in self.tags if value is not None]
        if not valued or self.order.key != "identity" or self.q or self.ip is not None:
            return None
        lead = valued[0]
        if len(valued) > 1 and connections[DeviceTag.objects.db].vendor == "postgresql":
            lead = min(valued, key=lambda tag: planner_estimate(tag_rows(connector, *tag)))
        tags = tag_rows(connector, *lead)
        tags = in_identity_range(tags.alias(identity_key=identity_collated(tags)), self.identity)
        for name, value in self.tags:
            if (name, value) != lead:
                other = tag_rows(connector, name, value).filter(device=OuterRef("device"))
                tags = tags.filter(Exists(other))
        if base is not None or self.status:
            devices = (base if base is not None else Device.objects.all()).filter(connector=connector)
            tags = tags.filter(Exists(self._device_conditions(devices).filter(pk=OuterRef("device"))))
        return TagWalk(tags)

    @property
    def order(self) -> Order:
        return ORDERINGS[self.ordering]

    def page(self, connector: Connector, *, cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE,
             base: QuerySet | None = None) -> DevicePage:  # fmt: skip
        """A page of the matching devices in this filter's ordering (see :func:`device_page`)."""
        devices = self.queryset(connector, base=base)
        walk = self._tag_walk(connector, base)
        match_first = walk is None and (
            self._rare_substring(devices) or self._narrow_tags(connector, devices, limit)
        )
        return device_page(
            devices, ordering=self.ordering, cursor=cursor, limit=limit, match_first=match_first, walk=walk
        )

    def _rare_substring(self, devices: QuerySet) -> bool:
        """Whether ``q`` is long enough for the trigram index to find its matches (three
        characters): then a page is cheaper found from every match (usually a few hundred or
        thousand) than by testing devices along the ordering (PostgreSQL)."""
        return bool(self.q) and len(self.q) >= 3 and connections[devices.db].vendor == "postgresql"

    def _narrow_tags(self, connector: Connector, devices: QuerySet, limit: int) -> bool:
        """Whether a page is cheaper found from the tags than by walking the ordering's index:
        the narrowest tag has fewer devices than the walk would test (the planner's estimates,
        which the extended statistics of migration 0002 keep close for tags)."""
        if not self.tags or connections[devices.db].vendor != "postgresql":
            return False
        narrowest = min(planner_estimate(tag_rows(connector, *tag)) for tag in self.tags)
        fleet = planner_estimate(Device.objects.filter(connector=connector))
        walked = min(fleet, limit * fleet / max(planner_estimate(devices), 1))
        return narrowest < walked

    def count(self, connector: Connector, *, first_page: DevicePage | None = None) -> tuple[int, bool]:
        """How many devices match (see :func:`device_count`); free when finding the first page
        told already."""
        if first_page is not None and first_page.total is not None:
            return first_page.total, False
        walk = first_page.walk if first_page is not None else self._tag_walk(connector, None)
        if walk is not None:  # one leading tag row per matching device, without the devices
            return device_count(walk.tags)
        return device_count(self.queryset(connector))


def device_list_query(connector: Connector, params: Mapping, **kwargs) -> tuple[DeviceFilter, QuerySet]:
    """The parsed filter and the matching devices of ``connector`` for a query string."""
    device_filter = DeviceFilter.from_params(params, **kwargs)
    return device_filter, device_filter.queryset(connector)
