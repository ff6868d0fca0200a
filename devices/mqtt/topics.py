"""What a device's PUBLISH asks for, read from its topic and payload (shared/docs/mqtt.md).

Framework-free, like ``device_api/protocol.py``: the server adapter turns each PUBLISH into one
of the requests below (or a ``TopicRefused`` / ``PayloadRefused``) before any service runs.

| topic | payload | request |
|---|---|---|
| ``$provision/<identity>`` | empty (token) or the password | ``Provision`` |
| ``$resource/<alias>`` | the value as text | ``Write`` of one value |
| ``$resource.batch`` | ``{alias: value}`` | ``Write`` of several values, all or nothing |
| ``$resource.batch`` | ``[{"timestamp": µs, "values": {alias: value}}]`` | ``Record`` |
"""

import json
import math
from dataclasses import dataclass

PROVISION_PREFIX = "$provision/"
RESOURCE_PREFIX = "$resource/"
BATCH_TOPIC = "$resource.batch"
# Subscriptions a device may make (they change nothing: its sets reach it without one).
SUBSCRIBABLE_PREFIX = RESOURCE_PREFIX
# Points in one record batch (as many as an HTTP record body of DEVICE_API_MAX_BODY would hold).
MAX_RECORD_POINTS = 10_000


class TopicRefused(Exception):
    """Not a topic of the device API: the connection is closed (``reason`` goes to Logs)."""

    def __init__(self, message: str, reason: str = "topic_not_allowed"):
        super().__init__(message)
        self.message = message
        self.reason = reason


class PayloadRefused(Exception):
    """A device API topic with a payload that cannot be read: a ``write_rejected`` event, and
    the connection stays open."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Provision:
    identity: str | None  # None: the connector generates one
    password: str | None  # None: token activation


@dataclass(frozen=True, slots=True)
class Write:
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class Record:
    # [(alias, [(timestamp µs, value), …]), …], as ``services.device_record`` takes them.
    series: list[tuple[str, list[tuple[int, str]]]]


def _text(payload: bytes, what: str) -> str:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadRefused(f"{what} is not UTF-8 text") from None
    if "\x00" in text:
        raise PayloadRefused(f"{what} contains a NUL character")
    return text


def _value_text(value, where: str) -> str:
    """A JSON value as the text a device would have written over HTTP."""
    if isinstance(value, str):
        if "\x00" in value:
            raise PayloadRefused(f"{where}: the value contains a NUL character")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadRefused(f"{where}: not a finite number")
        return repr(value)
    if value is None:
        raise PayloadRefused(f"{where}: null is not a value")
    # Objects and arrays are JSON resources' values: their JSON text.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _alias(alias, where: str) -> str:
    if not isinstance(alias, str) or not alias or len(alias) > 100 or "\x00" in alias:
        raise PayloadRefused(f"{where}: not an alias")
    return alias


def _values(obj, where: str) -> dict[str, str]:
    if not isinstance(obj, dict) or not obj:
        raise PayloadRefused(f"{where}: expected an object of {{alias: value}}")
    return {_alias(alias, where): _value_text(value, f"{where}.{alias}") for alias, value in obj.items()}


def _timestamp(raw, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 2**63:
        raise PayloadRefused(f"{where}.timestamp: expected a whole number of microseconds")
    return raw


def _batch(payload: bytes) -> Write | Record:
    try:
        document = json.loads(_text(payload, "the batch"))
    except ValueError:
        raise PayloadRefused("the batch is not JSON") from None
    if isinstance(document, dict):
        return Write(_values(document, "batch"))
    if not isinstance(document, list) or not document:
        raise PayloadRefused("the batch must be an object {alias: value} or an array of points")
    series: dict[str, list[tuple[int, str]]] = {}
    points = 0
    for index, entry in enumerate(document):
        where = f"batch[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"timestamp", "values"}:
            raise PayloadRefused(f'{where}: expected {{"timestamp": µs, "values": {{alias: value}}}}')
        timestamp = _timestamp(entry["timestamp"], where)
        for alias, value in _values(entry["values"], f"{where}.values").items():
            series.setdefault(alias, []).append((timestamp, value))
            points += 1
    if points > MAX_RECORD_POINTS:
        raise PayloadRefused(f"the batch has more than {MAX_RECORD_POINTS} points")
    return Record(list(series.items()))


def publish_request(topic: str, payload: bytes) -> Provision | Write | Record:
    """The request a PUBLISH makes. Raises ``TopicRefused`` or ``PayloadRefused``."""
    if topic.startswith(RESOURCE_PREFIX):
        alias = topic[len(RESOURCE_PREFIX) :]
        if not alias or "/" in alias or "+" in alias or "#" in alias:
            raise TopicRefused(f"{topic[:120]!r} names no resource")
        return Write({_alias(alias, "topic"): _text(payload, "the value")})
    if topic == BATCH_TOPIC:
        return _batch(payload)
    if topic.startswith(PROVISION_PREFIX):
        identity = topic[len(PROVISION_PREFIX) :]
        password = _text(payload, "the password") if payload else None
        return Provision(identity=identity or None, password=password)
    raise TopicRefused(f"{topic[:120]!r} is not a topic of the device API")


def subscription_allowed(topic_filter: str) -> bool:
    """``$resource/#`` and ``$resource/<alias>`` are granted (and change nothing); anything else
    gets failure (0x80)."""
    if topic_filter == SUBSCRIBABLE_PREFIX + "#":
        return True
    if not topic_filter.startswith(SUBSCRIBABLE_PREFIX):
        return False
    alias = topic_filter[len(SUBSCRIBABLE_PREFIX) :]
    return bool(alias) and not any(char in alias for char in "/+#")
