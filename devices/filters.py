"""Device search: the filters, orderings and pages of a connector's device list.

One implementation for every place that lists devices — the management API
(``GET /api/v1/connectors/<id>/devices/``), the Murano Device2 list and the web UI — so a
filter means the same thing everywhere and bad input is refused the same way.

Built for 1,000,000 devices in one connector (the indexes are in migration
``0002_device_search_indexes``):

- ``identity`` (prefix) is a range on the identity compared byte by byte (``COLLATE "C"`` on
  PostgreSQL, SQLite's own binary order), so it and the default ordering use one index whatever
  the database's collation; ``q`` (substring, case-insensitive) is an ``ILIKE`` that a pg_trgm
  GIN index answers;
- ``tag`` is an ``EXISTS`` on the ``DeviceTag(connector, name, value, device)`` index. A page
  of a narrow tag (a few thousand devices) is found by computing every match and sorting them;
  a broad one by walking the ordering's index and testing each device (:meth:`DeviceFilter.page`
  picks from the planner's estimates);
- ``ip`` is an exact address or a network (``10.0.0.0/8``), an index range on PostgreSQL's
  ``inet``;
- pages are keyset pages (a cursor names the last row seen), never ``OFFSET`` scans; devices
  never seen sort as older than any seen device (last for ``-last_seen``, first for
  ``last_seen``);
- the first page may carry a count, exact up to :data:`EXACT_COUNT_LIMIT` matches and found
  within :data:`COUNT_TIME_BUDGET_MS`, otherwise the planner's estimate (flagged as such).

Every parse error is a ``ValidationError({"<parameter>": ["..."]})``: the API answers it as a
``400`` naming the parameter, a form shows it next to the field.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, transaction
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Collate

from connectors.identity import IDENTITY_MAX_LENGTH
from connectors.models import Connector
from devices.models import Device, DeviceTag, Status
from devices.selectors import status_q

# Matches counted exactly before the first page says "about N" instead.
EXACT_COUNT_LIMIT = 10_000
# Time the exact count may take on PostgreSQL before the estimate is used instead (ms).
COUNT_TIME_BUDGET_MS = 15
# Planner cost of the capped count past which it is not even tried: on the 1,000,000-device
# bench fleet (bench/fleet.py, default planner settings), counts costed above this took longer
# than the time budget, and those below it a few ms.
COUNT_COST_LIMIT = 15_000
# Most matches a page is found from by computing them all (:func:`_ids_matching_first`).
MATCH_FIRST_LIMIT = 20_000
# At most this many ``tag`` parameters (each one is a join).
MAX_TAG_FILTERS = 10
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Longest values accepted; anything longer cannot match and is refused as a mistake.
MAX_Q_LENGTH = IDENTITY_MAX_LENGTH
MAX_TAG_NAME_LENGTH = DeviceTag._meta.get_field("name").max_length
MAX_TAG_VALUE_LENGTH = DeviceTag._meta.get_field("value").max_length
MAX_IP_LENGTH = 64
MAX_CURSOR_LENGTH = 1024
_MAX_ID = 2**63 - 1

# Parameters that filter; the rest of a query string (``limit``, ``cursor``…) is not ours.
FILTER_PARAMETERS = ("status", "identity", "q", "tag", "ip", "ordering")


@dataclass(frozen=True)
class _Order:
    """A list ordering: the sort key, its direction, and whether the key may be NULL."""

    name: str
    key: str  # "identity", "created_at" or "last_seen"
    descending: bool
    nullable: bool = False

    @property
    def by_id_too(self) -> bool:
        # Identities are unique in a connector; the other keys need the id to break ties.
        return self.key != "identity"

    def reversed(self) -> _Order:
        return _Order(self.name, self.key, not self.descending, self.nullable)


ORDERINGS: dict[str, _Order] = {
    "identity": _Order("identity", "identity", descending=False),
    "-identity": _Order("-identity", "identity", descending=True),
    "created_at": _Order("created_at", "created_at", descending=False),
    "-created_at": _Order("-created_at", "created_at", descending=True),
    "last_seen": _Order("last_seen", "last_seen", descending=False, nullable=True),
    "-last_seen": _Order("-last_seen", "last_seen", descending=True, nullable=True),
}
DEFAULT_ORDERING = "identity"

IpFilter = ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network


def _error(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


def _values(params, name: str) -> list[str]:
    """Every value of ``name`` in a QueryDict or a plain mapping (of strings or lists)."""
    if hasattr(params, "getlist"):
        return params.getlist(name)
    value = params.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _text(params, name: str, *, max_length: int) -> str | None:
    """One text parameter; absent or empty is ``None``."""
    values = _values(params, name)
    if len(values) > 1:
        raise _error(name, "give this parameter once")
    if not values or values[0] == "":
        return None
    value = values[0]
    _check_text(name, value, max_length)
    return value


def _check_text(name: str, value: str, max_length: int) -> None:
    if "\x00" in value:
        raise _error(name, "must not contain NUL characters")
    if len(value) > max_length:
        raise _error(name, f"must be at most {max_length} characters")


def parse_int(params, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer parameter within ``[minimum, maximum]``; absent or empty is ``default``."""
    raw = _text(params, name, max_length=20)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _error(name, "must be an integer") from None
    if not minimum <= value <= maximum:
        raise _error(name, f"must be between {minimum} and {maximum}")
    return value


def parse_limit(params, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    return parse_int(params, "limit", default=default, minimum=1, maximum=maximum)


def parse_cursor(params) -> str | None:
    """The ``cursor`` parameter (checked when the page is read)."""
    return _text(params, "cursor", max_length=MAX_CURSOR_LENGTH)


def _parse_tag(raw: str) -> tuple[str, str | None]:
    # "name" or "name:value"; the value may hold ":" itself, so split on the first one only.
    name, colon, value = raw.partition(":")
    if not name.strip():
        raise _error("tag", "give a tag as name or name:value, with a non-empty name")
    if len(name) > MAX_TAG_NAME_LENGTH:
        raise _error("tag", f"tag names are at most {MAX_TAG_NAME_LENGTH} characters")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise _error("tag", f"tag values are at most {MAX_TAG_VALUE_LENGTH} characters")
    return name, (value if colon else None)


def _parse_ip(raw: str) -> IpFilter:
    try:
        if "/" in raw:
            return ipaddress.ip_network(raw, strict=False)
        return ipaddress.ip_address(raw)
    except ValueError:
        raise _error("ip", "give an IP address (10.0.0.7) or a network (10.0.0.0/8)") from None


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
            status = _text(params, "status", max_length=32)
            if status is not None and status not in Status.values:
                raise _error("status", f"must be one of {', '.join(Status.values)}")
        if "identity" in accept:
            identity = _text(params, "identity", max_length=IDENTITY_MAX_LENGTH)
        if "q" in accept:
            q = _text(params, "q", max_length=MAX_Q_LENGTH)
        if "tag" in accept:
            raw_tags = _values(params, "tag")
            if len(raw_tags) > MAX_TAG_FILTERS:
                raise _error("tag", f"give at most {MAX_TAG_FILTERS} tag filters")
            for raw in raw_tags:
                _check_text("tag", raw, MAX_TAG_NAME_LENGTH + 1 + MAX_TAG_VALUE_LENGTH)
                tags.append(_parse_tag(raw))
        if "ip" in accept:
            raw_ip = _text(params, "ip", max_length=MAX_IP_LENGTH)
            ip = _parse_ip(raw_ip) if raw_ip is not None else None
        if "ordering" in accept:
            ordering = _text(params, "ordering", max_length=32) or DEFAULT_ORDERING
            if ordering not in ORDERINGS:
                raise _error("ordering", f"must be one of {', '.join(ORDERINGS)}")
        return cls(status=status, identity=identity, q=q, tags=tuple(dict.fromkeys(tags)), ip=ip,
                   ordering=ordering)  # fmt: skip

    def queryset(self, connector: Connector, *, base: QuerySet | None = None) -> QuerySet:
        """The connector's devices that match, unordered."""
        devices = (base if base is not None else Device.objects.all()).filter(connector=connector)
        devices = _in_identity_range(devices.alias(identity_key=_identity_key(devices)), self.identity)
        devices = self._device_conditions(devices)
        for name, value in self.tags:
            devices = devices.filter(Exists(_tag_rows(connector, name, value).filter(device=OuterRef("pk"))))
        return devices

    def _device_conditions(self, devices: QuerySet) -> QuerySet:
        """``devices`` filtered by the conditions on the device's own columns, but its identity
        prefix: ``status``, ``q`` and ``ip``."""
        vendor = connections[devices.db].vendor
        if self.q:
            devices = devices.filter(_identity_contains(self.q, vendor))
        if self.status:
            devices = devices.filter(status_q(self.status))
        if self.ip is not None:
            devices = devices.filter(_ip_matches(self.ip, vendor, devices.db))
        return devices

    def _tag_walk(self, connector: Connector, base: QuerySet | None) -> _TagWalk | None:
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
            lead = min(valued, key=lambda tag: _planner_estimate(_tag_rows(connector, *tag)))
        tags = _tag_rows(connector, *lead)
        tags = _in_identity_range(tags.alias(identity_key=_identity_key(tags)), self.identity)
        for name, value in self.tags:
            if (name, value) != lead:
                other = _tag_rows(connector, name, value).filter(device=OuterRef("device"))
                tags = tags.filter(Exists(other))
        if base is not None or self.status:
            devices = (base if base is not None else Device.objects.all()).filter(connector=connector)
            tags = tags.filter(Exists(self._device_conditions(devices).filter(pk=OuterRef("device"))))
        return _TagWalk(tags)

    @property
    def order(self) -> _Order:
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
        narrowest = min(_planner_estimate(_tag_rows(connector, *tag)) for tag in self.tags)
        fleet = _planner_estimate(Device.objects.filter(connector=connector))
        walked = min(fleet, limit * fleet / max(_planner_estimate(devices), 1))
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


# --- the SQL of each filter ------------------------------------------------------------------


def _identity_key(rows: QuerySet):
    """The identity (of a device, or of a tag's device) compared byte by byte. PostgreSQL's
    database collation (often a locale) would keep ``LIKE 'x%'`` and the ordering off a plain
    index; "C" makes prefix search a range on the indexes ``device_identity_c`` and
    ``tag_search_identity``. SQLite compares text bytewise already."""
    if connections[rows.db].vendor == "postgresql":
        return Collate(F("identity"), "C")
    return F("identity")


def _in_identity_range(rows: QuerySet, prefix: str | None) -> QuerySet:
    """``rows`` (with the ``identity_key`` alias) whose identity starts with ``prefix``: a range."""
    if not prefix:
        return rows
    rows = rows.filter(identity_key__gte=prefix)
    upper = _prefix_upper_bound(prefix)
    return rows.filter(identity_key__lt=upper) if upper is not None else rows


def _tag_rows(connector: Connector, name: str, value: str | None) -> QuerySet:
    """The connector's tags ``name`` (with this ``value``, unless None)."""
    tags = DeviceTag.objects.filter(connector=connector, name=name)
    return tags.filter(value=value) if value is not None else tags


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (in code point
    order, which is UTF-8 byte order), or None when there is none."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters: skip past them
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _BooleanSql(Func):
    """``<lhs> <operator> <param>`` as a filter condition."""

    output_field = BooleanField()

    def __init__(self, lhs, operator: str, rhs):
        super().__init__(lhs, rhs, template="%(expressions)s", arg_joiner=f" {operator} ")


def _identity_contains(q: str, vendor: str):
    if vendor == "postgresql":
        # ILIKE, unlike Django's UPPER(...) LIKE UPPER(...), is what the trigram index serves.
        return _BooleanSql(F("identity"), "ILIKE", Value(f"%{_like_escape(q)}%"))
    # SQLite's LIKE ignores ASCII case already; Django escapes the pattern.
    return Q(identity__icontains=q)


def _ip_matches(ip: IpFilter, vendor: str, db: str):
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return Q(last_ip=str(ip))
    if vendor == "postgresql":
        # inet <<= cidr: PostgreSQL turns it into a range on the (connector, last_ip) index.
        return _BooleanSql(F("last_ip"), "<<=", Value(str(ip)))
    _register_sqlite_functions(db)
    return Func(F("last_ip"), Value(str(ip)), function="murano_ip_in_network", output_field=BooleanField())


def _ip_in_network(address: str | None, network: str) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _register_sqlite_functions(db: str) -> None:
    # SQLite has no network type; the embedded database tests addresses in Python.
    connection = connections[db]
    connection.ensure_connection()
    connection.connection.create_function("murano_ip_in_network", 2, _ip_in_network, deterministic=True)


# --- pages -----------------------------------------------------------------------------------


@dataclass
class DevicePage:
    """One page of devices, with the cursors of the pages after and before it (None at an end)."""

    devices: list[Device]
    next_cursor: str | None
    previous_cursor: str | None
    # How many devices match in all, when finding the page told exactly (a first page holding
    # every match, or one found by computing every match); None otherwise.
    total: int | None = None
    # The tag walk the page was read from, if any: counting its rows is cheaper (see count()).
    walk: _TagWalk | None = None


@dataclass(frozen=True)
class _Position:
    """Where a page starts: after (``forward``) or before the row with this key and id."""

    forward: bool
    value: str | datetime | None
    id: int


def _encode(order: _Order, forward: bool, device: Device) -> str:
    value = getattr(device, order.key)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"o": order.name, "d": "n" if forward else "p", "v": value, "i": device.pk})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, order: _Order) -> _Position:
    bad = _error("cursor", "is not a cursor of this list (use the next or previous link of a page)")
    if len(cursor) > MAX_CURSOR_LENGTH or "\x00" in cursor:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("d") not in ("n", "p"):
        raise bad
    if data.get("o") != order.name:
        raise _error("cursor", "belongs to another ordering; start again without a cursor")
    pk, value = data.get("i"), data.get("v")
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk <= _MAX_ID:
        raise bad
    if order.key == "identity":
        if not isinstance(value, str) or "\x00" in value or len(value) > IDENTITY_MAX_LENGTH:
            raise bad
    elif value is None:
        if not order.nullable:
            raise bad
    else:
        try:
            value = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            raise bad
    return _Position(forward=data["d"] == "n", value=value, id=pk)


def _key(order: _Order) -> str:
    return "identity_key" if order.key == "identity" else order.key


def _sorted(devices: QuerySet, order: _Order, *, only_id: bool = False) -> QuerySet:
    direction = "-" if order.descending else ""
    if only_id:
        return devices.order_by(f"{direction}id")
    keys = [f"{direction}{_key(order)}"]
    if order.by_id_too:
        keys.append(f"{direction}id")
    return devices.order_by(*keys)


def _after(devices: QuerySet, order: _Order, position: _Position | None, count: int,
           match_first: bool = False, walk: _TagWalk | None = None,
           ) -> tuple[list[Device], int | None]:  # fmt: skip
    """Up to ``count`` devices following ``position`` (exclusive) in ``order``.

    A nullable key is read as two runs, so each is one index range: devices with a value,
    and devices without (NULL sorts below every value, ordered by id among themselves).
    Keyset conditions are written as ``key >= v AND (key > v OR id > i)`` so the first part
    bounds the index scan. ``match_first``: see :func:`_ids_matching_first`; ``walk``: the
    ids come from a tag's index (:class:`_TagWalk`). Also returns how
    many devices follow ``position`` in all, when that was found on the way (else None).
    """
    key = _key(order)
    vendor = connections[devices.db].vendor
    gt, ge = ("lt", "lte") if order.descending else ("gt", "gte")
    runs = [None]
    if order.nullable:
        runs = [False, True] if order.descending else [True, False]  # is NULL?
    start = 0
    if position is not None and order.nullable:
        start = runs.index(position.value is None)
    found: list[Device] = []
    following: int | None = 0
    for index in range(start, len(runs)):
        is_null = runs[index]
        run = devices
        if is_null is not None:
            run = run.filter(**{f"{key}__isnull": is_null})
        if index == start and position is not None:
            if is_null:
                run = run.filter(**{f"id__{gt}": position.id})
            elif order.by_id_too:
                run = run.filter(Q(**{f"{key}__{ge}": position.value}))
                run = run.filter(Q(**{f"{key}__{gt}": position.value}) | Q(**{f"id__{gt}": position.id}))
            else:
                run = run.filter(**{f"{key}__{gt}": position.value})
        # Ids first, then their rows: the id query can often be answered from indexes alone
        # (e.g. tag filters walking the identity index), and only one page of rows is read.
        first = None
        if walk is not None:
            ids = walk.ids(order, position, count - len(found))
            following = None
        elif match_first and vendor == "postgresql":
            first = _ids_matching_first(run, order, is_null=bool(is_null), count=count - len(found))
        if first is not None:
            ids, matches = first
            following = following + matches if following is not None else None
        elif walk is None:
            ids = _sorted(run, order, only_id=bool(is_null)).values("pk")[: count - len(found)]
            following = None
        rows = devices.model._default_manager.using(devices.db).filter(pk__in=ids)
        rows = rows.alias(identity_key=_identity_key(rows))
        found += list(_sorted(rows, order, only_id=bool(is_null)))
        if len(found) >= count:
            if index + 1 < len(runs):
                following = None  # the runs not read hold more
            break
    return found, following


@dataclass(frozen=True)
class _TagWalk:
    """Pages in identity order read from a tag's index: ``tags`` are the leading tag's rows
    (with the ``identity_key`` alias) that pass every other condition of the filter."""

    tags: QuerySet

    def ids(self, order: _Order, position: _Position | None, count: int) -> list[int]:
        tags = self.tags
        if position is not None:
            after = "identity_key__lt" if order.descending else "identity_key__gt"
            tags = tags.filter(**{after: position.value})
        direction = "-" if order.descending else ""
        return list(tags.order_by(f"{direction}identity_key").values_list("device_id", flat=True)[:count])


def _ids_matching_first(
    devices: QuerySet, order: _Order, *, is_null: bool, count: int
) -> tuple[list[int], int] | None:
    """The first ``count`` ids in ``order``, found by computing every match and sorting them
    (PostgreSQL). For a narrow tag filter this reads the few matching devices through the
    tag index, and for a substring ``q`` through the trigram index; walking the ordering's
    index instead would test tens of thousands of devices before a page is full, which the
    planner, expecting matches evenly spread (and 1% of the rows to contain any substring),
    tends to prefer. The MATERIALIZED CTE keeps it from doing so. Returns the ids and the
    number of matches — or None when there are more than :data:`MATCH_FIRST_LIMIT`: matches
    that common fill a page soon enough by walking the ordering's index."""
    matches = devices.order_by().values_list("pk", order.key)[: MATCH_FIRST_LIMIT + 1]
    sql, params = matches.query.get_compiler(using=devices.db).as_sql()
    direction = " DESC" if order.descending else ""
    if is_null:
        sort = f"id{direction}"
    elif order.key == "identity":
        sort = f'sort_key COLLATE "C"{direction}'
    else:
        sort = f"sort_key{direction}, id{direction}"
    with transaction.atomic(using=devices.db), connections[devices.db].cursor() as cursor:
        # The matches are reached from the tag index, a few thousand rows by primary key. With
        # the default random_page_cost (a spinning disk) the planner may read the whole table
        # instead once they are some thousands, ten times slower with the table in memory.
        cursor.execute("SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)")
        previous = cursor.fetchone()[0]
        cursor.execute(
            f"WITH matches (id, sort_key) AS MATERIALIZED ({sql}) "
            f"SELECT id, count(*) OVER () FROM matches ORDER BY {sort} LIMIT %s",
            [*params, count],
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [previous])
    total = rows[0][1] if rows else 0
    if total > MATCH_FIRST_LIMIT:
        return None
    return [row[0] for row in rows], total


def device_page(devices: QuerySet, *, ordering: str = DEFAULT_ORDERING, cursor: str | None = None,
                limit: int = DEFAULT_PAGE_SIZE, match_first: bool = False,
                walk: _TagWalk | None = None) -> DevicePage:  # fmt: skip
    """A page of ``devices`` (from :meth:`DeviceFilter.queryset`) in ``ordering``, starting
    at ``cursor`` (a ``next_cursor``/``previous_cursor`` of an earlier page) or at the start.
    ``match_first``: find every match before sorting; ``walk``: read the ids from a tag's index
    (:meth:`DeviceFilter.page` decides both)."""
    order = ORDERINGS[ordering]
    position = _decode(cursor, order) if cursor else None
    if position is None or position.forward:
        rows, following = _after(devices, order, position, limit + 1, match_first, walk)
        more, rows = len(rows) > limit, rows[:limit]
        if position is None and not more:
            following = len(rows)
        next_cursor = _encode(order, True, rows[-1]) if more else None
        previous_cursor = _encode(order, False, rows[0]) if position is not None and rows else None
    else:
        rows, following = _after(devices, order.reversed(), position, limit + 1, match_first, walk)
        more, rows = len(rows) > limit, rows[:limit][::-1]
        previous_cursor = _encode(order, False, rows[0]) if more else None
        next_cursor = _encode(order, True, rows[-1]) if rows else None
    total = following if position is None else None
    return DevicePage(
        devices=rows, next_cursor=next_cursor, previous_cursor=previous_cursor, total=total, walk=walk
    )


def device_tags(devices: list[Device]) -> dict[int, list[dict]]:
    """``{device id: [{"name", "value"}, ...]}`` for a page of devices, in one query (cheaper
    than a prefetch, which builds a model instance and a manager per tag and per device)."""
    tags: dict[int, list[dict]] = {device.pk: [] for device in devices}
    rows = (
        DeviceTag.objects.filter(device_id__in=list(tags))
        .order_by("device_id", "name", "value")
        .values_list("device_id", "name", "value")
    )
    for device_id, name, value in rows:
        tags[device_id].append({"name": name, "value": value})
    return tags


def device_offset_page(devices: QuerySet, *, offset: int, limit: int) -> tuple[list[Device], bool]:
    """Murano-style ``offset``/``limit`` page in identity order, and whether more follow."""
    rows = list(_sorted(devices, ORDERINGS[DEFAULT_ORDERING])[offset : offset + limit + 1])
    return rows[:limit], len(rows) > limit


# --- counts ----------------------------------------------------------------------------------


def device_count(devices: QuerySet) -> tuple[int, bool]:
    """How many devices match: ``(count, is_estimate)``. ``devices`` may also be rows that stand
    one for one for the matching devices (a :class:`_TagWalk`'s tags).

    Exact when there are at most :data:`EXACT_COUNT_LIMIT` matches and PostgreSQL counts them
    within :data:`COUNT_TIME_BUDGET_MS`; otherwise the planner's estimate (``is_estimate``), so
    a first page never scans a million rows to say "1,000,000". When the estimate is already
    far past the limit, or the planner costs the count above :data:`COUNT_COST_LIMIT`, counting
    is not even tried. SQLite (the embedded database, for small
    fleets) always counts exactly.
    """
    connection = connections[devices.db]
    unordered = devices.order_by()
    if connection.vendor != "postgresql":
        return unordered.count(), False
    capped = unordered.values("pk")[: EXACT_COUNT_LIMIT + 1]
    plan = json.loads(capped.explain(format="json"))[0]["Plan"]
    # The capped query's plan is a Limit over the whole match: its input is the estimate.
    estimate = int((plan["Plans"][0] if plan["Node Type"] == "Limit" else plan)["Plan Rows"])
    if estimate > 2 * EXACT_COUNT_LIMIT or plan["Total Cost"] > COUNT_COST_LIMIT:
        return estimate, True
    exact = None
    try:
        with transaction.atomic(using=devices.db), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(COUNT_TIME_BUDGET_MS)])
            exact = capped.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled: over budget
            raise
    if exact is None:
        return estimate, True
    if exact > EXACT_COUNT_LIMIT:
        return max(estimate, exact), True
    return exact, False


def _planner_estimate(rows: QuerySet) -> int:
    plan = json.loads(rows.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
