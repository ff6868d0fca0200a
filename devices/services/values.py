"""What devices write and people set: values, recorded points, cloud sets.

A device write is the device API's hottest path: the state upsert is one hand-written
statement (``_upsert_sql``), and on PostgreSQL one statement with the history points too.
"""

from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from connectors.values import ResourceRules
from devices import hooks
from devices.errors import DuplicateTimestamps, ValueRejected
from devices.events import EventType, device_sets_announce, event_emit, now_us
from devices.models import Device, DeviceState, ValuePoint
from devices.services.whitelist import device_row_lock


def _check_values(values: dict[str, str], rules: dict[str, ResourceRules]) -> None:
    for alias, value in values.items():
        rule = rules.get(alias)
        if rule is not None:
            problem = rule.check(value)
            if problem:
                raise ValueRejected(problem, reason="invalid_value")


_STATE_TABLE = DeviceState._meta.db_table


def _upsert_sql(device_id: int, rows: list[tuple[str, str, bool]], timestamp: int,
                only_if_newer: bool) -> tuple[str, list]:  # fmt: skip
    """One INSERT … ON CONFLICT statement for device-reported values.

    ``rows`` are (alias, value, keeps_pending_set). ``reported`` takes the value. ``set`` takes
    it too, unless the alias keeps a pending cloud set (a settable, synced resource whose set
    differs from reported). One statement, so concurrent cloud sets and device writes cannot
    lose each other's updates.
    """
    t = _STATE_TABLE
    params: list = []
    for alias, value, _ in rows:
        params += [device_id, alias, value, value, timestamp]
    pending_aliases = [alias for alias, _, keeps in rows if keeps]
    if pending_aliases:
        params += pending_aliases
        in_list = ", ".join(["%s"] * len(pending_aliases))
        set_expr = (
            f'CASE WHEN excluded.alias IN ({in_list}) AND {t}."set" IS NOT NULL AND '
            f'({t}.reported IS NULL OR {t}."set" <> {t}.reported) THEN {t}."set" ELSE excluded."set" END'
        )
    else:
        set_expr = 'excluded."set"'
    newer = f" WHERE excluded.timestamp > {t}.timestamp" if only_if_newer else ""
    values_sql = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f'INSERT INTO {t} (device_id, alias, reported, "set", timestamp) VALUES {values_sql} '
        f"ON CONFLICT (device_id, alias) DO UPDATE SET reported = excluded.reported, "
        f'"set" = {set_expr}, timestamp = excluded.timestamp{newer}'
    )
    return sql, params


def _upsert_reported(device_id: int, rows: list[tuple[str, str, bool]], timestamp: int,
                     *, only_if_newer: bool = False) -> None:  # fmt: skip
    if rows:
        sql, params = _upsert_sql(device_id, rows, timestamp, only_if_newer)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


_HISTORY_TABLE = ValuePoint._meta.db_table


def _store_write(device_id: int, rows: list[tuple[str, str, bool]], timestamp: int) -> None:
    """Store a device write: state upsert and history points, all or nothing.

    On PostgreSQL both go in one statement (a data-modifying CTE), which is atomic by itself and
    saves the BEGIN/COMMIT round trips on the device API's hottest path.
    """
    if connection.vendor == "postgresql":
        upsert, params = _upsert_sql(device_id, rows, timestamp, only_if_newer=False)
        history = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        for alias, value, _ in rows:
            params += [device_id, alias, timestamp, value]
        sql = (
            f"WITH upsert AS ({upsert}) INSERT INTO {_HISTORY_TABLE} "
            f"(device_id, alias, timestamp, value) VALUES {history}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    with transaction.atomic():
        _upsert_reported(device_id, rows, timestamp)
        ValuePoint.objects.bulk_create(
            [ValuePoint(device_id=device_id, alias=a, timestamp=timestamp, value=v) for a, v, _ in rows]
        )


def device_write(
    *, device: Device, values: dict[str, str], rules: dict[str, ResourceRules], ip: str = "",
    connection_id: str = "", protocol: str = "http",
) -> None:  # fmt: skip
    """A device writes values. Defined aliases are validated (all or nothing) and stored;
    undefined ones are only reported in the ``data_in`` event."""
    connector_id = device.connector_id
    try:
        _check_values(values, rules)
    except ValueRejected as exc:
        event_emit(
            connector_id=connector_id, type=EventType.WRITE_REJECTED, identity=device.identity,
            ip=ip, protocol=protocol, connection_id=connection_id,
            payload={"reason": exc.message, "values": _preview(values)},
        )  # fmt: skip
        raise
    timestamp = now_us()
    rows = [
        (alias, value, rules[alias].pushes_cloud_values) for alias, value in values.items() if alias in rules
    ]
    if rows:
        _store_write(device.pk, rows, timestamp)
    event_emit(
        connector_id=connector_id, type=EventType.DATA_IN, identity=device.identity, ip=ip,
        protocol=protocol, connection_id=connection_id,
        payload=[{"timestamp": timestamp, "values": _preview(values)}],
        wake_device_id=device.pk if rows else None,
    )  # fmt: skip
    for alias in hooks.value_written.keys & values.keys():
        if alias in rules:  # a defined resource (firmware's otau_in, claiming's pdaas_*)
            hooks.value_written.send(alias, device=device, value=values[alias])


def _preview(values: dict[str, str], limit: int = 1024) -> dict[str, str]:
    # Events are for people watching Logs: long values are cut, not the stored ones.
    return {k: (v if len(v) <= limit else v[:limit] + "…") for k, v in values.items()}


def device_record(
    *, device: Device, series: list[tuple[str, list[tuple[int, str]]]],
    rules: dict[str, ResourceRules], ip: str = "", connection_id: str = "", protocol: str = "http",
) -> None:  # fmt: skip
    """A device records timestamped points (``/onep:v1/stack/record``).

    Every point of a defined alias lands in history; ``reported`` moves only to a point newer
    than the current one. Timestamps repeated within one alias are refused (409).
    """
    merged: dict[str, list[tuple[int, str]]] = {}
    for alias, points in series:
        merged.setdefault(alias, []).extend(points)
    duplicates = {}
    for alias, points in merged.items():
        seen, dup = set(), []
        for ts, _ in points:
            if ts in seen and ts not in dup:
                dup.append(ts)
            seen.add(ts)
        if dup:
            duplicates[alias] = dup
    if duplicates:
        body = "&".join(
            f"{quote(alias, safe='')}=" + ",".join(_format_ts(ts) for ts in stamps)
            for alias, stamps in duplicates.items()
        )
        event_emit(
            connector_id=device.connector_id, type=EventType.WRITE_REJECTED,
            identity=device.identity, ip=ip, protocol=protocol, connection_id=connection_id,
            payload={"reason": f"duplicate timestamps: {body}"},
        )  # fmt: skip
        raise DuplicateTimestamps(body, reason="duplicate_timestamps")
    for alias, points in merged.items():
        rule = rules.get(alias)
        if rule is None:
            continue
        for _, value in points:
            problem = rule.check(value)
            if problem:
                event_emit(
                    connector_id=device.connector_id, type=EventType.WRITE_REJECTED,
                    identity=device.identity, ip=ip, protocol=protocol,
                    connection_id=connection_id, payload={"reason": problem},
                )  # fmt: skip
                raise ValueRejected(problem, reason="invalid_value")
    stored = {a: p for a, p in merged.items() if a in rules and p}
    if stored:
        with transaction.atomic():
            ValuePoint.objects.bulk_create(
                [
                    ValuePoint(device_id=device.pk, alias=alias, timestamp=ts, value=value)
                    for alias, points in stored.items()
                    for ts, value in points
                ],
                batch_size=500,
            )
            for alias, points in stored.items():
                ts, value = max(points, key=lambda p: p[0])
                _upsert_reported(
                    device.pk, [(alias, value, rules[alias].pushes_cloud_values)], ts,
                    only_if_newer=True,
                )  # fmt: skip
    payload = [
        {"timestamp": ts, "values": {alias: value[:1024]}}
        for alias, points in merged.items()
        for ts, value in points[:100]
    ]
    event_emit(
        connector_id=device.connector_id, type=EventType.RECORD, identity=device.identity, ip=ip,
        protocol=protocol, connection_id=connection_id, payload=payload,
        wake_device_id=device.pk if stored else None,
    )  # fmt: skip


def _format_ts(ts_us: int) -> str:
    seconds, micros = divmod(ts_us, 1_000_000)
    return str(seconds) if not micros else f"{seconds}.{micros:06d}".rstrip("0")


@transaction.atomic
def device_state_set(*, device: Device, values: dict, rules: dict[str, ResourceRules]) -> None:
    """Cloud values for a device (management API, portal). Validated as device writes are.

    Only ``set`` changes for settable, synced resources (the device is expected to acknowledge by
    writing); with ``sync`` off, ``reported`` follows at once. Long polls are woken, and an MQTT
    connection of the device gets the values.
    """
    from connectors.values import cloud_value_to_text

    device_row_lock(device)
    if not isinstance(values, dict) or not values:
        raise ValidationError({"detail": "send an object of {alias: value}"})
    texts = {}
    for alias, raw in values.items():
        rule = rules.get(alias)
        if rule is None:
            raise ValidationError({alias: "no such resource"})
        if not rule.settable:
            raise ValidationError({alias: "this resource cannot be set from the cloud"})
        try:
            text = cloud_value_to_text(raw)
        except ValueError as exc:
            raise ValidationError({alias: str(exc)}) from None
        problem = rule.check(text)
        if problem:
            raise ValidationError({alias: problem})
        texts[alias] = text
    timestamp = now_us()
    for alias, text in texts.items():
        if rules[alias].sync:
            DeviceState.objects.update_or_create(
                device=device, alias=alias, defaults={"set": text, "timestamp": timestamp}
            )
        else:
            DeviceState.objects.update_or_create(
                device=device, alias=alias,
                defaults={"set": text, "reported": text, "timestamp": timestamp},
            )  # fmt: skip
            ValuePoint.objects.create(device=device, alias=alias, timestamp=timestamp, value=text)
    transaction.on_commit(lambda: device_sets_announce(device.pk, list(texts)))
