"""The HTTP device API: one function per row of the contract, all synchronous.

``handle`` answers a ``DeviceRequest`` with a ``DeviceResponse``, or with a ``LongPollWait``
when the request is a long poll that must wait; the server adapter (``wsgi`` or ``asgi``) then
waits for a wake-up and calls ``long_poll_check`` / ``long_poll_expired``.
"""

import base64
import binascii
import logging
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.http import http_date

from connectors import pki, runtime
from connectors.identity import IDENTITY_MAX_LENGTH, IdentityFormat
from connectors.models import AuthType, Connector
from connectors.values import ResourceRules
from devices import credentials, services, throttle
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
from devices.errors import DeviceError, ProvisionDenied
from devices.events import EventType, event_emit, now_us
from devices.models import Device, Lifecycle
from devices.selectors import device_for_token, device_read, device_states_many, readable_value

logger = logging.getLogger(__name__)


@dataclass
class Context:
    request: DeviceRequest
    connector_id: str
    connection_id: str

    @property
    def ip(self) -> str:
        return self.request.client_ip

    @property
    def insecure(self) -> bool:
        return self.request.scheme != "https"


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
        from devices.device_api import content  # it builds on this module's authentication

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


def _require_transport(ctx: Context, connector: Connector) -> None:
    if not services.transport_allowed(connector, insecure=ctx.insecure):
        raise BadRequest(services.INSECURE_TRANSPORT_MESSAGE, 403)


def _activate(ctx: Context) -> DeviceResponse:
    connector = Connector.objects.filter(pk=ctx.connector_id).first()
    if connector is None:
        return text(404, "unknown connector host")
    fields = parse_fields(ctx.request.body)
    identity = fields.get("id")
    password = fields.get("password")
    # On a password connector, activations denied too often are throttled like wrong passwords
    # (they are how one learns which identities exist and where they stand).
    guarded = connector.auth_type == AuthType.PASSWORD
    if guarded:
        try:
            throttle.password_attempt_check(connector_id=connector.pk, identity=identity, ip=ctx.ip)
        except throttle.Throttled as exc:
            event_emit(
                connector_id=connector.pk, type=EventType.PROVISION_DENIED, identity=identity or "",
                ip=ctx.ip, connection_id=ctx.connection_id,
                payload={"reason": exc.reason, "message": exc.message},
            )  # fmt: skip
            raise
    # The transport and a missing id are the service's to judge: denials with their events
    # (unless the connector generates identities).
    try:
        device, token = services.device_activate(
            connector=connector, identity=identity, password=password, ip=ctx.ip,
            connection_id=ctx.connection_id, insecure=ctx.insecure,
        )  # fmt: skip
    except ProvisionDenied:
        if guarded:
            throttle.password_failure_record(connector_id=connector.pk, identity=identity, ip=ctx.ip)
        raise
    headers = [("X-Exosite-Identity", device.identity)] if not identity else []
    if token is None:
        return DeviceResponse(204, headers=headers)
    return DeviceResponse(200, token.encode(), headers=headers)


def _auth_failed(ctx: Context, reason: str, identity: str = "", error: DeviceError | None = None):
    """An ``auth_failed`` event saying why, and the error to raise (``401`` unless given)."""
    event_emit(
        connector_id=ctx.connector_id, type=EventType.AUTH_FAILED, identity=identity, ip=ctx.ip,
        connection_id=ctx.connection_id, payload={"reason": reason},
    )  # fmt: skip
    return error or DeviceError("unauthorized", status=401)


def _basic_credentials(encoded: str) -> str | None:
    """The ``<identity>:<password>`` of a Basic ``Authorization`` header, or None.

    Tolerated: base64 without its ``=`` padding (some device HTTP stacks drop it; the text it
    encodes is the same)."""
    encoded = encoded.strip()
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if ":" in decoded else None


def _authenticate(ctx: Context, read_aliases: list[str] = ()) -> tuple[Device, dict | None]:
    """The device behind the request's credentials, checked for lock and transport, and the
    state rows of ``read_aliases`` when they came with it (else None: ``device_read`` loads)."""
    request = ctx.request
    states = None
    token = request.header("x-exosite-cik")
    authorization = request.header("authorization")
    device = None
    if token is not None:
        token = token.strip()
        if not credentials.token_is_well_formed(token):
            raise _auth_failed(ctx, "malformed_token")
        device, states = device_for_token(credentials.token_hash(token), read_aliases=read_aliases)
        if device is None or device.connector_id != ctx.connector_id:
            raise _auth_failed(ctx, "unknown_token")
    elif authorization and authorization[:6].lower() == "basic ":
        decoded = _basic_credentials(authorization[6:])
        if decoded is None:
            raise _auth_failed(ctx, "malformed_authorization")
        device, identity = _password_device(ctx, decoded)
        if device is None:
            raise _auth_failed(ctx, "bad_password", identity)
    elif request.client_certificate is not None:
        device = _certificate_device(ctx)
    else:
        raise _auth_failed(ctx, "no_credentials")
    if device.locked:
        event_emit(
            connector_id=ctx.connector_id, type=EventType.LOCKED_DENIED, identity=device.identity,
            ip=ctx.ip, connection_id=ctx.connection_id,
        )  # fmt: skip
        raise DeviceError("device is locked", status=403)
    _require_transport(ctx, device.connector)
    services.device_seen(device, ip=ctx.ip, insecure=ctx.insecure)
    return device, states if read_aliases else None


def _password_device(ctx: Context, credentials_text: str) -> tuple[Device | None, str]:
    """The device named by Basic ``<identity>:<password>`` if its password matches, and the
    identity the request named (for the Logs).

    Identities may contain colons (``mac:colon``, opaque ones), so every colon is a possible
    split; only identities that exist in the connector are tried, longest first. Throttled
    (``devices.throttle``) per identity and address before any hashing; an identity that does
    not exist costs a hash all the same, so that the time of a refusal does not tell.
    """
    splits = {}
    # No identity is longer than IDENTITY_MAX_LENGTH or contains a NUL (which the database
    # would refuse even in a query).
    head = credentials_text[: IDENTITY_MAX_LENGTH + 1].partition("\x00")[0]
    for index, char in enumerate(head):
        if char == ":" and index:
            splits[credentials_text[:index]] = credentials_text[index + 1 :]
    devices = (
        Device.objects.select_related("connector")
        .filter(connector_id=ctx.connector_id, identity__in=list(splits))
        .order_by()
    )
    candidates = sorted(devices, key=lambda d: -len(d.identity))
    named = candidates[0].identity if candidates else credentials_text.partition(":")[0]
    try:
        throttle.password_attempt_check(connector_id=ctx.connector_id, identity=named, ip=ctx.ip)
    except throttle.Throttled as exc:
        raise _auth_failed(ctx, exc.reason, named, exc) from None
    for device in candidates:
        if credentials.password_matches(
            device_id=device.pk, password=splits[device.identity], stored_hash=device.password_hash
        ):
            return device, device.identity
    if not candidates:
        credentials.password_check_dummy(credentials_text.partition(":")[2])
    throttle.password_failure_record(connector_id=ctx.connector_id, identity=named, ip=ctx.ip)
    return None, named


def _certificate_device(ctx: Context) -> Device:
    """The device named by the TLS client certificate a trusted proxy forwarded: identity = the
    subject's CN, in the connector's identity format. The certificate is checked here, whatever
    the proxy thought of it: validity dates, usable for client authentication, and with PKI on,
    a chain to the connector's CA. A provisioned device must present its pinned certificate; any
    other device provisions with this one (``services.device_certificate_provision``)."""

    def refuse(problem: pki.CertificateProblem, identity: str = "", status: int = 401) -> DeviceError:
        return services.certificate_refused(
            connector_id=ctx.connector_id, identity=identity, ip=ctx.ip, connection_id=ctx.connection_id,
            reason=problem.reason, message=f"client certificate {problem.message}", status=status,
        )  # fmt: skip

    try:
        chain = pki.client_chain_load(ctx.request.client_certificate)
    except pki.CertificateProblem as problem:
        raise refuse(problem, status=400) from None
    leaf = chain[0]
    identity = pki.common_name(leaf) or ""
    # Any connector's rules first (length, characters): only then may it reach the database.
    unfit = IdentityFormat().check(identity) if identity else "is missing (it must be the identity)"
    if unfit:
        raise refuse(
            pki.CertificateProblem("identity_format", f"CN: {unfit}"), identity[:IDENTITY_MAX_LENGTH]
        )
    device = (
        Device.objects.select_related("connector")
        .filter(connector_id=ctx.connector_id, identity=identity)
        .first()
    )
    connector = device.connector if device else Connector.objects.filter(pk=ctx.connector_id).first()
    if connector is None:
        raise DeviceError("unknown connector host", status=404)
    # The connector's format decides which identities may provision; a device provisioned under
    # an earlier format keeps working, as token and password devices do.
    provisioned = device is not None and device.lifecycle == Lifecycle.PROVISIONED
    unfit = None if provisioned else connector.identity_format.check(identity)
    if unfit:
        raise refuse(pki.CertificateProblem("identity_format", f"CN: {unfit}"), identity)
    try:
        pki.client_certificate_verify(
            chain, ca_certificate=connector.pki_ca_certificate if connector.pki_enabled else ""
        )
    except pki.CertificateProblem as problem:
        raise refuse(problem, identity) from None
    fingerprint = pki.fingerprint(leaf)
    if device is not None and device.lifecycle == Lifecycle.PROVISIONED:
        if device.auth_type != AuthType.CERTIFICATE:
            raise refuse(
                pki.CertificateProblem("auth_type_mismatch", "is not how this device authenticates"), identity
            )
        if device.certificate_fingerprint != fingerprint:
            raise refuse(
                pki.CertificateProblem("certificate_mismatch", "is not the device's pinned certificate"),
                identity,
            )
        return device
    return services.device_certificate_provision(
        connector=connector, identity=identity, certificate=pki.certificate_pem(leaf),
        fingerprint=fingerprint, ip=ctx.ip, connection_id=ctx.connection_id, insecure=ctx.insecure,
    )  # fmt: skip


def _rules(device: Device) -> dict[str, ResourceRules]:
    return runtime.connector_rules(device.connector)


def _write(ctx: Context) -> DeviceResponse:
    values = parse_values(ctx.request.body)
    query_aliases = parse_aliases(ctx.request.query)
    if not values and not query_aliases:
        raise BadRequest("no alias=value pairs to write")
    device, _ = _authenticate(ctx)
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
        device, _ = _authenticate(ctx)
        rules = _rules(device)
        wait = LongPollWait(
            device_id=device.pk, connector_id=device.connector_id, identity=device.identity,
            aliases=tuple(aliases), rules=tuple(rules.get(alias) for alias in aliases),
            since_us=since_us, since_end_us=since_end_us, deadline=time.monotonic() + timeout_ms / 1000,
            ip=ctx.ip, connection_id=ctx.connection_id,
        )  # fmt: skip
        # The adapter checks the value once it listens for changes, so none is missed.
        return wait
    device, states = _authenticate(ctx, read_aliases=aliases)
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
    device, _ = _authenticate(ctx)
    services.device_record(
        device=device, series=series, rules=_rules(device), ip=ctx.ip,
        connection_id=ctx.connection_id,
    )  # fmt: skip
    return DeviceResponse(204)
