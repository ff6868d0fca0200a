"""Reads about devices: state as devices and people see it, history, lookups."""

import functools
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, FloatField, Max, Min, Q, Sum
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.models import Connector
from connectors.services import SettingsWarning
from connectors.values import ResourceRules
from devices import rollups
from devices.models import Device, DeviceState, DeviceTag, Lifecycle, Status, ValuePoint


def device_get(*, connector: Connector, identity: str) -> Device:
    device = Device.objects.filter(connector=connector, identity=identity).first()
    if device is None:
        raise Http404("No such device.")
    return device


def readable_value(rule: ResourceRules, state: DeviceState | None) -> tuple[str | None, int | None]:
    """What a device read returns for one alias: ``set`` for settable resources, else
    ``reported``; the resource's initial value when nothing was written yet."""
    if state is None:
        return rule.initial, None
    value = state.set if rule.settable else state.reported
    if value is None:
        value = state.reported if state.reported is not None else rule.initial
    return value, state.timestamp


class _StateRow(NamedTuple):
    alias: str
    reported: str | None
    set: str | None
    timestamp: int


def device_read(
    *, device_id: int, aliases: list[str], rules: dict[str, ResourceRules],
    states: dict[str, "_StateRow"] | None = None,
) -> dict[str, tuple[str, int | None]]:  # fmt: skip
    """``{alias: (value, timestamp µs)}`` for the defined aliases that have a value.

    ``states``: the rows of these aliases when already loaded (``device_for_token`` does so
    with the authentication, saving a round trip on every device read)."""
    defined = [a for a in aliases if a in rules]
    if not defined:
        return {}
    if states is None:
        found = device_states_many([(device_id, alias) for alias in defined])
        states = {alias: row for (_, alias), row in found.items()}
    result = {}
    for alias in defined:
        value, timestamp = readable_value(rules[alias], states.get(alias))
        if value is not None:
            result[alias] = (value, timestamp)
    return result


def device_states_many(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], _StateRow]:
    """The state rows of many ``(device id, alias)`` pairs, in one query per 500 devices (the
    checks of long polls that arrive together). Hand-written for the device API (the ORM's
    query compilation would cost more than the query); rows carry what readable_value() uses."""
    if not pairs:
        return {}
    table = connection.ops.quote_name(DeviceState._meta.db_table)
    wanted = set(pairs)
    device_ids = sorted({device_id for device_id, _ in wanted})
    aliases = sorted({alias for _, alias in wanted})
    found = {}
    with connection.cursor() as cursor:
        for start in range(0, len(device_ids), 500):
            chunk = device_ids[start : start + 500]
            cursor.execute(
                f'SELECT device_id, alias, reported, "set", timestamp FROM {table} '
                f"WHERE device_id IN ({', '.join(['%s'] * len(chunk))}) "
                f"AND alias IN ({', '.join(['%s'] * len(aliases))})",
                [*chunk, *aliases],
            )
            for device_id, *row in cursor.fetchall():
                if (device_id, row[0]) in wanted:
                    found[(device_id, row[0])] = _StateRow(*row)
    return found


def device_state(*, device: Device, rules: dict[str, ResourceRules]) -> dict[str, dict]:
    """``{alias: {"reported", "set", "timestamp"}}`` for every defined resource with a value."""
    states = {s.alias: s for s in device.states.all()}
    result = {}
    for alias, rule in sorted(rules.items()):
        state = states.get(alias)
        if state is not None:
            result[alias] = {"reported": state.reported, "set": state.set, "timestamp": state.timestamp}
        elif rule.initial is not None:
            result[alias] = {"reported": None, "set": rule.initial, "timestamp": None}
    return result


def _history_points(*, device: Device, alias: str | None, since_us: int | None, until_us: int | None):
    points = ValuePoint.objects.filter(device=device)
    if alias:
        points = points.filter(alias=alias)
    if since_us is not None:
        points = points.filter(timestamp__gte=since_us)
    if until_us is not None:
        points = points.filter(timestamp__lte=until_us)
    return points


def device_history(
    *, device: Device, alias: str | None, since_us: int | None, until_us: int | None, limit: int
):
    points = _history_points(device=device, alias=alias, since_us=since_us, until_us=until_us)
    return points.order_by("-timestamp", "-id")[:limit]


def device_history_buckets(
    *, device: Device, alias: str, numeric: bool, every_us: int, since_us: int | None,
    until_us: int | None, limit: int,
) -> list[dict]:  # fmt: skip
    """One alias's points grouped into buckets of ``every_us`` (aligned on multiples of it since
    the epoch), newest first, computed in the database: ``{"t" (bucket start µs), "count",
    "min", "max", "avg", "last"}``. ``numeric``: min, max and avg of the values that are numbers
    (``last`` None); else ``last``, the bucket's latest value (min, max, avg None).

    On PostgreSQL the roll-ups answer the whole five-minute blocks of the range they cover
    (``devices.rollups``); raw points answer the rest, and everything on SQLite."""
    span = rollups.rolled_span(since_us=since_us, until_us=until_us, every_us=every_us)
    if span is None:
        partials = _raw_partials(device=device, alias=alias, numeric=numeric, every_us=every_us,
                                 since_us=since_us, until_us=until_us, limit=limit)  # fmt: skip
    else:
        start, end = span
        partials = rollups.rollup_partials(device_id=device.pk, alias=alias, numeric=numeric,
                                           every_us=every_us, start=start, end=end, limit=limit)  # fmt: skip
        edges = [(end, until_us)] + ([(since_us, start - 1)] if since_us is not None else [])
        for low, high in edges:
            found = _raw_partials(device=device, alias=alias, numeric=numeric, every_us=every_us,
                                  since_us=low, until_us=high, limit=limit)  # fmt: skip
            for t, partial in found.items():
                if t in partials:
                    partials[t].add(partial)
                else:
                    partials[t] = partial
    newest = sorted(partials.items(), reverse=True)[:limit]
    if numeric:
        return [
            {"t": t, "count": p.count, "min": p.low, "max": p.high, "avg": p.total / p.count, "last": None}
            for t, p in newest
        ]
    return [
        {"t": t, "count": p.count, "min": None, "max": None, "avg": None, "last": p.last_value}
        for t, p in newest
    ]


def _raw_partials(
    *, device: Device, alias: str, numeric: bool, every_us: int, since_us: int | None,
    until_us: int | None, limit: int,
) -> dict[int, rollups.Partial]:  # fmt: skip
    """The buckets' shares of the raw points in the range, the newest ``limit``."""
    points = _history_points(device=device, alias=alias, since_us=since_us, until_us=until_us)
    start = ExpressionWrapper(F("timestamp") - F("timestamp") % every_us, output_field=BigIntegerField())
    if numeric:
        number = Cast("value", FloatField())
        rows = (
            points.filter(value__regex=rollups.NUMBER_PATTERN)
            .annotate(t=start).values("t")
            .annotate(count=Count("id"), total=Sum(number), low=Min(number), high=Max(number))
            .order_by("-t")[:limit]
        )  # fmt: skip
        return {
            row["t"]: rollups.Partial(row["count"], row["total"], row["low"], row["high"], None, None)
            for row in rows
        }
    rows = list(
        points.annotate(t=start)
        .values("t")
        .annotate(count=Count("id"), latest=Max("timestamp"))
        .order_by("-t")[:limit]
    )
    # The point at each bucket's latest timestamp (of two points at one timestamp, the later one).
    latest = {
        timestamp: (pk, value)
        for timestamp, pk, value in points.filter(timestamp__in=[row["latest"] for row in rows])
        .order_by("timestamp", "id")
        .values_list("timestamp", "id", "value")
    }
    return {
        row["t"]: rollups.Partial(
            row["count"],
            None,
            None,
            None,
            (row["latest"], latest[row["latest"]][0]),
            latest[row["latest"]][1],
        )
        for row in rows
    }


def device_history_rows(*, device: Device, alias: str | None, since_us: int | None, until_us: int | None):
    """Every recorded ``(timestamp µs, alias, value)`` of a device in the range, oldest first,
    read from the database a chunk at a time (an export of millions of points never holds them
    all)."""
    points = _history_points(device=device, alias=alias, since_us=since_us, until_us=until_us)
    return (
        points.order_by("timestamp", "id")
        .values_list("timestamp", "alias", "value")
        .iterator(chunk_size=2000)
    )


def pending_sets_many(device_ids: list[int], just_set: dict[int, list[str]]) -> list[tuple[int, str, str]]:
    """``(device id, alias, set value)`` of cloud sets to send to connected devices (MQTT): for a
    device in ``just_set``, the values of those aliases (just set from the cloud); for the
    others, every set the device has not reported back yet (``set`` differs from ``reported``).
    One query per 500 devices."""
    table = connection.ops.quote_name(DeviceState._meta.db_table)
    found = []
    with connection.cursor() as cursor:
        for start in range(0, len(device_ids), 500):
            chunk = device_ids[start : start + 500]
            cursor.execute(
                f'SELECT device_id, alias, reported, "set" FROM {table} '
                f'WHERE device_id IN ({", ".join(["%s"] * len(chunk))}) AND "set" IS NOT NULL',
                chunk,
            )
            for device_id, alias, reported, value in cursor.fetchall():
                aliases = just_set.get(device_id)
                if (alias in aliases) if aliases is not None else value != reported:
                    found.append((device_id, alias, value))
    return sorted(found)


def device_is_online(device: Device) -> bool:
    if device.last_seen is None:
        return False
    return (timezone.now() - device.last_seen).total_seconds() <= settings.DEVICE_ONLINE_WINDOW


def datetime_to_us(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * 1_000_000)


def status_q(status: str) -> Q:
    """A filter matching devices whose displayed ``Device.status`` is ``status``."""
    expired = Q(lifecycle=Lifecycle.WHITELISTED, activation_deadline__lt=timezone.now())
    unlocked = Q(locked=False)
    return {
        Status.LOCKED: Q(locked=True),
        Status.EXPIRED: unlocked & expired,
        Status.DEVMODE: unlocked & Q(lifecycle=Lifecycle.PROVISIONED, devmode=True),
        Status.PROVISIONED: unlocked & Q(lifecycle=Lifecycle.PROVISIONED, devmode=False),
        Status.WHITELISTED: unlocked & Q(lifecycle=Lifecycle.WHITELISTED) & ~expired,
        Status.REPROVISION: unlocked & Q(lifecycle=Lifecycle.REPROVISION),
    }[status]


# What the device API needs of a device and its connector on every authenticated request.
_AUTH_DEVICE_FIELDS = ("id", "connector_id", "identity", "lifecycle", "auth_type", "locked", "devmode",
                       "last_ip", "last_seen")  # fmt: skip
_AUTH_CONNECTOR_FIELDS = ("id", "devmode", "transports", "updated_at")


@functools.cache
def _auth_sql(vendor: str, state_aliases: int) -> str:
    # Built once per database vendor and number of aliases (it is the same text every time).
    qn = connection.ops.quote_name
    device_meta, connector_meta = Device._meta, Connector._meta
    columns = [f"d.{qn(device_meta.get_field(f).column)}" for f in _AUTH_DEVICE_FIELDS]
    columns += [f"c.{qn(connector_meta.get_field(f).column)}" for f in _AUTH_CONNECTOR_FIELDS]
    sql = (
        f"FROM {qn(device_meta.db_table)} d "
        f"JOIN {qn(connector_meta.db_table)} c ON c.{qn('id')} = d.{qn('connector_id')} "
    )
    if state_aliases:
        columns += [f"s.{qn(c)}" for c in ("alias", "reported", "set", "timestamp")]
        placeholders = ", ".join(["%s"] * state_aliases)
        sql += (
            f"LEFT JOIN {qn(DeviceState._meta.db_table)} s ON s.{qn('device_id')} = d.{qn('id')} "
            f"AND s.{qn('alias')} IN ({placeholders}) "
        )
    return f"SELECT {', '.join(columns)} {sql}WHERE d.{qn('token_hash')} = %s"


@functools.cache
def _auth_device_attnames() -> list[str]:
    return [Device._meta.get_field(f).attname for f in _AUTH_DEVICE_FIELDS]


def _aware(value):
    # SQLite hands datetimes back naive (or as text); they are stored in UTC.
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def device_for_token(
    token_hash: str, *, read_aliases: list[str] = ()
) -> tuple[Device | None, dict[str, _StateRow]]:
    """The device holding this token, with the connector fields the device API needs, and the
    state rows of ``read_aliases`` (for ``device_read(states=...)``).

    One hand-written query: the ORM's query compilation cost more than the query itself on the
    device API's hottest path. Fields not loaded are deferred (loaded on access), so the
    instance stays safe to use with services.
    """
    aliases = list(dict.fromkeys(read_aliases))
    with connection.cursor() as cursor:
        cursor.execute(_auth_sql(connection.vendor, len(aliases)), [*aliases, token_hash])
        rows = cursor.fetchall()
    if not rows:
        return None, {}
    row = rows[0]
    n = len(_AUTH_DEVICE_FIELDS)
    (pk, connector_id, identity, lifecycle, auth_type, locked, devmode, last_ip, last_seen) = row[:n]
    device = Device.from_db(
        connection.alias,
        _auth_device_attnames(),
        [pk, connector_id, identity, lifecycle, auth_type, bool(locked), bool(devmode),
         str(last_ip) if last_ip is not None else None, _aware(last_seen)],
    )  # fmt: skip
    m = n + len(_AUTH_CONNECTOR_FIELDS)
    c_id, c_devmode, c_transports, c_updated_at = row[n:m]
    transports = Connector._meta.get_field("transports").from_db_value(c_transports, None, connection)
    values = [c_id, bool(c_devmode), transports, _aware(c_updated_at)]
    device.connector = Connector.from_db(connection.alias, list(_AUTH_CONNECTOR_FIELDS), values)
    states = {r[m]: _StateRow(*r[m:]) for r in rows if r[m] is not None} if aliases else {}
    return device, states


def connector_find(connector_id: str) -> Connector | None:
    """The connector a device request names (by its host), or None when it is gone."""
    return Connector.objects.filter(pk=connector_id).first()


def device_find(*, connector_id: str, identity: str) -> Device | None:
    """The connector's device of this identity, with its connector, or None."""
    devices = Device.objects.select_related("connector")
    return devices.filter(connector_id=connector_id, identity=identity).first()


def devices_find(*, connector_id: str, identities: list[str]) -> list[Device]:
    """The connector's devices of these identities, with their connector, in no order (the
    candidates of a Basic ``<identity>:<password>`` whose identity may contain colons)."""
    return list(
        Device.objects.select_related("connector")
        .filter(connector_id=connector_id, identity__in=identities)
        .order_by()
    )


def identity_format_warnings(*, connector: Connector) -> list[SettingsWarning]:
    """After the connector's identity format changed: a warning counting its devices whose
    identities no longer fit (``connectors.hooks.identity_format_changed``)."""
    # Counted by the database (one pass over the connector's identities, none read out).
    unfit = (
        Device.objects.filter(connector=connector)
        .exclude(identity__regex=connector.identity_format.regex())
        .count()
    )
    if not unfit:
        return []
    devices = "1 device has an identity" if unfit == 1 else f"{unfit:,} devices have identities"
    return [
        SettingsWarning(
            code="identity_format_mismatch",
            field="identity_format",
            message=(
                f"{devices} that do not fit the new identity format. Devices already provisioned keep "
                "working; the others cannot activate with an identity that does not fit."
            ),
            count=unfit,
        )
    ]


def device_tag_names(*, connector: Connector, limit: int) -> list[str]:
    """The distinct tag names of a connector's devices, in order (at most ``limit``).

    A loose index scan (one index probe per name) over the ``(connector, name, value)`` index:
    a plain ``DISTINCT`` would read every tag of every device.
    """
    table = connection.ops.quote_name(DeviceTag._meta.db_table)
    sql = f"""
        WITH RECURSIVE names(name) AS (
            SELECT MIN(name) FROM {table} WHERE connector_id = %s
            UNION ALL
            SELECT (SELECT MIN(t.name) FROM {table} t WHERE t.connector_id = %s AND t.name > names.name)
            FROM names WHERE names.name IS NOT NULL
        )
        SELECT name FROM names WHERE name IS NOT NULL LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [connector.pk, connector.pk, limit])
        return [row[0] for row in cursor.fetchall()]


def devices_in_chunks(devices, size: int):
    """``(id, identity)`` of ``devices`` (a queryset) in identity order, a chunk of at most
    ``size`` at a time (keyset: a fleet of millions is never held in memory, and a chunk costs
    one index range). On SQLite a chunk holds at most 900, its limit on one statement's
    parameters, for callers that pass the ids on."""
    if connection.vendor == "sqlite":
        size = min(size, 900)
    last = None
    while True:
        rows = devices.order_by("identity")
        if last is not None:
            rows = rows.filter(identity__gt=last)
        chunk = list(rows.values_list("id", "identity")[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1][1]


def devices_current_values(devices, *, alias: str) -> dict[int, dict]:
    """Each device's current value of ``alias`` for a list of devices (the Devices tab's value
    column): ``{device id: {"text", "pending"}}`` — what it reported, else what the cloud set
    and it has not reported yet (``pending``). One query for the list."""
    states = DeviceState.objects.filter(device_id__in=[d.pk for d in devices], alias=alias)
    values = {}
    for device_id, reported, set_value in states.values_list("device_id", "reported", "set"):
        if reported is not None:
            values[device_id] = {"text": reported, "pending": False}
        elif set_value is not None:
            values[device_id] = {"text": set_value, "pending": True}
    return values
