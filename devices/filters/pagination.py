"""Keyset pages of a device list: a cursor names the last row seen, so page 10,000 costs what
page 1 does (never an ``OFFSET`` scan). Also a page's tags in one query, and Murano's
``offset``/``limit`` pages."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connections, transaction
from django.db.models import Q, QuerySet

from connectors.identity import IDENTITY_MAX_LENGTH
from devices.filters.params import (
    DEFAULT_ORDERING,
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LENGTH,
    ORDERINGS,
    Order,
    param_error,
)
from devices.filters.sql import identity_collated
from devices.models import Device, DeviceTag

# Most matches a page is found from by computing them all (:func:`_ids_matching_first`).
MATCH_FIRST_LIMIT = 20_000
_MAX_ID = 2**63 - 1


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
    walk: TagWalk | None = None


@dataclass(frozen=True)
class _Position:
    """Where a page starts: after (``forward``) or before the row with this key and id."""

    forward: bool
    value: str | datetime | None
    id: int


def _encode(order: Order, forward: bool, device: Device) -> str:
    value = getattr(device, order.key)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"o": order.name, "d": "n" if forward else "p", "v": value, "i": device.pk})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, order: Order) -> _Position:
    bad = param_error("cursor", "is not a cursor of this list (use the next or previous link of a page)")
    if len(cursor) > MAX_CURSOR_LENGTH or "\x00" in cursor:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("d") not in ("n", "p"):
        raise bad
    if data.get("o") != order.name:
        raise param_error("cursor", "belongs to another ordering; start again without a cursor")
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


def _key(order: Order) -> str:
    return "identity_key" if order.key == "identity" else order.key


def _sorted(devices: QuerySet, order: Order, *, only_id: bool = False) -> QuerySet:
    direction = "-" if order.descending else ""
    if only_id:
        return devices.order_by(f"{direction}id")
    keys = [f"{direction}{_key(order)}"]
    if order.by_id_too:
        keys.append(f"{direction}id")
    return devices.order_by(*keys)


def _after(devices: QuerySet, order: Order, position: _Position | None, count: int,
           match_first: bool = False, walk: TagWalk | None = None,
           ) -> tuple[list[Device], int | None]:  # fmt: skip
    """Up to ``count`` devices following ``position`` (exclusive) in ``order``.

    A nullable key is read as two runs, so each is one index range: devices with a value,
    and devices without (NULL sorts below every value, ordered by id among themselves).
    Keyset conditions are written as ``key >= v AND (key > v OR id > i)`` so the first part
    bounds the index scan. ``match_first``: see :func:`_ids_matching_first`; ``walk``: the
    ids come from a tag's index (:class:`TagWalk`). Also returns how
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
        rows = rows.alias(identity_key=identity_collated(rows))
        found += list(_sorted(rows, order, only_id=bool(is_null)))
        if len(found) >= count:
            if index + 1 < len(runs):
                following = None  # the runs not read hold more
            break
    return found, following


@dataclass(frozen=True)
class TagWalk:
    """Pages in identity order read from a tag's index: ``tags`` are the leading tag's rows
    (with the ``identity_key`` alias) that pass every other condition of the filter."""

    tags: QuerySet

    def ids(self, order: Order, position: _Position | None, count: int) -> list[int]:
        tags = self.tags
        if position is not None:
            after = "identity_key__lt" if order.descending else "identity_key__gt"
            tags = tags.filter(**{after: position.value})
        direction = "-" if order.descending else ""
        return list(tags.order_by(f"{direction}identity_key").values_list("device_id", flat=True)[:count])


def _ids_matching_first(
    devices: QuerySet, order: Order, *, is_null: bool, count: int
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
                walk: TagWalk | None = None) -> DevicePage:  # fmt: skip
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
