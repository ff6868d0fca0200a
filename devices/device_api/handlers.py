"""The HTTP device API: one function per row of the contract, all synchronous.

``handle`` answers a ``DeviceRequest`` with a ``DeviceResponse``, or with a ``LongPollWait``
when the request is a long poll that must wait; the server adapter (``wsgi`` or ``asgi``) then
waits for a wake-up and calls ``long_poll_check`` / ``long_poll_expired``. Each row parses the
request, calls ``devices.auth`` and one service or selector, and formats the answer.
"""

import logging
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.http import http_date

from connectors import runtime
from connectors.values import ResourceRules
from devices import services, throttle
from devices.auth import device_activate_request, device_authenticate, device_authenticate_for_read
from devices.device_api import content
from devices.device_api.context import Context
from devices.device_api.protocol import (
    STREAMED_UPLOAD_PATH,
    BadRequest,
    DeviceRequest,
    DeviceResponse,
    encode_values,
    host_name,
    parse_aliases,
    parse_fields,
    parse_if_modified_since,
    parse_pairs,
    parse_request_timeout,
    parse_timestamp_seconds,
    parse_values,
    text,
)
from devices.errors import DeviceError
from devices.events import EventType, event_emit, now_us
from devices.models import Device
from devices.selectors import device_read, device_states_many, readable_value

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LongPollWait:
    """A long poll that found no change after its If-Modified-Since moment and now waits, on
    one alias or several (it answers when any of them changes). Slotted: thousands wait at once."""

    device_id: int
    connector_id: str
    identity: str
    aliases: tuple[str, ...]
    rules: tuple[ResourceRules | None, ...]  # one per alias; None: not a resource (never changes)
    since_us: int  # start of the If-Modified-Since moment (µs)
    since_end_us: int  # its end: If-Modified-Since may name a whole second
    deadline: float  # time.monotonic()
    ip: str
    connection_id: str
    # The readable values at the first check, one per alias, once known.
    waiting_on: tuple[str | None, ...] | None = None


def handle(request: DeviceRequest) -> DeviceResponse | LongPollWait:
    try:
        return _route(request)
    except BadRequest as exc:
        return text(exc.status, exc.message, exc.headers)
    except throttle.Throttled as exc:
        return text(exc.status, exc.message, [("Retry-After", str(exc.retry_after))])
    except DeviceError as exc:
        return text(exc.status, exc.message)


def _connection_id() -> str:
    # Correlates a request's events in Logs; not a secret. The random module (reseeded in every
    # forked worker) instead of uuid4: os.urandom is a system call, measurably slow on the
    # device API's hot path in virtual machines.
    return f"{random.getrandbits(64):016x}"


_CONTENT_PATHS = ("/provision/download", STREAMED_UPLOAD_PATH)


def _method(request: DeviceRequest, *allowed: str) -> None:
    if request.method not in allowed:
        raise BadRequest("method not allowed", 405, [("Allow", ", ".join(allowed))])


def _route(request: DeviceRequest):
    path = request.path
    if path == "/timestamp":
        _method(request, "GET", "HEAD")
        return text(200, str(int(time.time())))
    if path not in ("/provision/activate", "/onep:v1/stack/alias", "/onep:v1/stack/record", *_CONTENT_PATHS):
        return text(404, "not found")
    connector_id = runtime.connector_id_for_host(host_name(request.header("host")))
    if connector_id is None:
        return text(404, "unknown connector host")
    ctx = Context(request=request, connector_id=connector_id, connection_id=_connection_id())
    if path == "/provision/activate":
        _method(request, "POST")
        return _activate(ctx)
    if path in _CONTENT_PATHS:
        if path == "/provision/download":
            _method(request, "GET", "HEAD")
            return content.download(ctx)
        _method(request, "POST")
        return content.upload(ctx)
    if path == "/onep:v1/stack/record":
        _method(request, "POST")
        return _record(ctx)
    _method(request, "GET", "POST")
    if request.method == "POST":
        return _write(ctx)
    return _read(ctx)


def _activate(ctx: Context) -> DeviceResponse:
    fields = parse_fields(ctx.request.body)
    identity = fields.get("id")
    device, token = device_activate_request(
        connector_id=ctx.connector_id, identity=identity, password=fields.get("password"), ip=ctx.ip,
        insecure=ctx.insecure, connection_id=ctx.connection_id,
    )  # fmt: skip
    headers = [("X-Exosite-Identity", device.identity)] if not identity else []
    if token is None:
        return DeviceResponse(204, headers=headers)
    return DeviceResponse(200, token.encode(), headers=headers)


def _rules(device: Device) -> dict[str, ResourceRules]:
    return runtime.connector_rules(device.connector)


def _write(ctx: Context) -> DeviceResponse:
    values = parse_values(ctx.request.body)
    query_aliases = parse_aliases(ctx.request.query)
    if not values and not query_aliases:
        raise BadRequest("no alias=value pairs to write")
    device = device_authenticate(ctx.credentials())
    rules = _rules(device)
    if values:
        services.device_write(
            device=device, values=values, rules=rules, ip=ctx.ip, connection_id=ctx.connection_id
        )
    if not query_aliases:
        return DeviceResponse(204)
    return _read_response(ctx, device, query_aliases, rules)


def _read(ctx: Context):
    request = ctx.request
    aliases = parse_aliases(request.query)
    if not aliases:
        raise BadRequest("name at least one alias to read")
    timeout_header = request.header("request-timeout")
    if timeout_header is not None:
        timeout_ms = parse_request_timeout(timeout_header, settings.DEVICE_API_MAX_LONG_POLL_MS)
        since_us, since_end_us = parse_if_modified_since(request.header("if-modified-since"), now_us())
        device = device_authenticate(ctx.credentials())
        rules = _rules(device)
        wait = LongPollWait(
            device_id=device.pk, connector_id=device.connector_id, identity=device.identity,
            aliases=tuple(aliases), rules=tuple(rules.get(alias) for alias in aliases),
            since_us=since_us, since_end_us=since_end_us, deadline=time.monotonic() + timeout_ms / 1000,
            ip=ctx.ip, connection_id=ctx.connection_id,
        )  # fmt: skip
        # The adapter checks the value once it listens for changes, so none is missed.
        return wait
    device, states = device_authenticate_for_read(ctx.credentials(), aliases)
    return _read_response(ctx, device, aliases, _rules(device), states)


def _read_response(ctx: Context, device: Device, aliases: list[str], rules, states=None) -> DeviceResponse:
    found = device_read(device_id=device.pk, aliases=aliases, rules=rules, states=states)
    values = {alias: value for alias, (value, _) in found.items()}
    event_emit(
        connector_id=device.connector_id, type=EventType.READ, identity=device.identity,
        ip=ctx.ip, connection_id=ctx.connection_id, payload={"aliases": aliases},
    )  # fmt: skip
    if not values:
        return DeviceResponse(204)
    return DeviceResponse(200, encode_values(values), "application/x-www-form-urlencoded; charset=utf-8")


def long_poll_check(wait: LongPollWait) -> DeviceResponse | None:
    """Answer the long poll if a readable value of its aliases changed after If-Modified-Since."""
    return long_poll_check_many([wait])[0]


def long_poll_check_many(waits: list[LongPollWait], final: bool = False) -> list[DeviceResponse | None]:
    """``long_poll_check`` for many polls (ones that arrive or wake together), one query.

    ``final``: the polls' waits are over (their timeout, or a wake-up that may have been lost
    came too late): the ones with no change are answered ``304`` instead of None."""
    states = device_states_many(
        [(w.device_id, alias) for w in waits for alias, rule in zip(w.aliases, w.rules, strict=True) if rule]
    )
    answers = []
    for wait in waits:
        found = [
            readable_value(rule, states.get((wait.device_id, alias))) if rule is not None else (None, None)
            for alias, rule in zip(wait.aliases, wait.rules, strict=True)
        ]
        answer = _long_poll_answer(wait, found)
        answers.append(long_poll_expired(wait) if answer is None and final else answer)
    return answers


def _long_poll_answer(wait: LongPollWait, found: list[tuple]) -> DeviceResponse | None:
    """The ``200`` naming the aliases whose readable value changed, or None (``found``: each
    alias's readable value and its timestamp now)."""
    first = wait.waiting_on is None
    changed, latest = {}, 0
    for index, (value, timestamp) in enumerate(found):
        if value is None or timestamp is None:
            continue
        if first:
            # A change inside the second If-Modified-Since names may be the one the device
            # already has (it sent back the Last-Modified it was given), so only a later one
            # counts; otherwise a device doing so would get the same value again and again.
            hit = timestamp > wait.since_end_us
        else:
            # Waiting: only a different readable value is a change. A device acknowledging a
            # cloud set, or writing the same value again, moves the timestamp and nothing else.
            hit = value != wait.waiting_on[index] and timestamp > wait.since_us
        if hit:
            changed[wait.aliases[index]] = value
            latest = max(latest, timestamp)
    if first:
        wait.waiting_on = tuple(value for value, _ in found)
    if not changed:
        return None
    _long_poll_event(wait, "changed", list(changed))
    return DeviceResponse(
        200,
        encode_values(changed),
        "application/x-www-form-urlencoded; charset=utf-8",
        # The latest change it answers: sent back as If-Modified-Since, it asks for the next.
        headers=[("Last-Modified", http_date(latest / 1_000_000))],
    )


def long_poll_expired(wait: LongPollWait) -> DeviceResponse:
    _long_poll_event(wait, "timeout")
    return DeviceResponse(304)


def _long_poll_event(wait: LongPollWait, outcome: str, changed: list[str] | None = None) -> None:
    """A ``read`` event: the aliases polled, the outcome, and (``changed``) those answered."""
    payload = {"aliases": list(wait.aliases), "long_poll": outcome}
    if changed is not None:
        payload["changed"] = changed
    event_emit(
        connector_id=wait.connector_id, type=EventType.READ, identity=wait.identity, ip=wait.ip,
        connection_id=wait.connection_id, payload=payload,
    )  # fmt: skip


def _record(ctx: Context) -> DeviceResponse:
    series: list[tuple[str, list[tuple[int, str]]]] = []
    for key, value in parse_pairs(ctx.request.body):
        if key == "alias":
            if not value:
                raise BadRequest("alias= needs a name")
            series.append((value, []))
            continue
        if not series:
            raise BadRequest("a point comes before any alias=")
        if value is None:
            raise BadRequest(f"{key}: missing value")
        try:
            timestamp = parse_timestamp_seconds(key)
        except ValueError:
            raise BadRequest(f"{key[:40]!r} is not a unix timestamp") from None
        series[-1][1].append((timestamp, value))
    if not any(points for _, points in series):
        raise BadRequest("no points to record")
    device = device_authenticate(ctx.credentials())
    services.device_record(
        device=device, series=series, rules=_rules(device), ip=ctx.ip,
        connection_id=ctx.connection_id,
    )  # fmt: skip
    return DeviceResponse(204)
