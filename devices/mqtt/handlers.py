"""The MQTT device API's requests, synchronous and database-bound: run in the device API's thread
pool (``device_api/pool.run_sync``) by the server (``server.py``), never on its event loop.

Each function is one row of shared/docs/mqtt.md and calls the same authentication
(``devices.auth``) and services as the HTTP device API: no device rule lives here.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from connectors import runtime
from connectors.models import Connector
from core import realtime
from devices import services
from devices.auth import (
    DeviceCredentials,
    device_activate_request,
    device_authenticate,
    device_may_talk,
    token_connector,
)
from devices.errors import DeviceError
from devices.events import EventType, event_emit
from devices.models import Device
from devices.mqtt.topics import Provision, Record, Write
from devices.selectors import pending_sets_many

# CONNACK return codes (MQTT 3.1.1, 3.2.2.3).
ACCEPTED = 0
REFUSED_PROTOCOL = 1
REFUSED_CLIENT_ID = 2
REFUSED_CREDENTIALS = 4
REFUSED_NOT_AUTHORIZED = 5

PROTOCOL = "mqtt"


class ConnectRefused(Exception):
    """The CONNACK refusal code a CONNECT gets (the Logs event, if any, is already emitted)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SessionEnded(DeviceError):
    """A connected device may no longer talk (deleted, locked, its transport turned off): its
    connection ends (``reason`` goes to the ``disconnect`` event)."""


@dataclass(slots=True)
class Peer:
    """Where a connection comes from and what its transport proved."""

    ip: str
    connection_id: str
    insecure: bool  # the plain TCP listener
    sni_connector_id: str | None = None  # the connector the TLS server name chose
    certificate: str | None = None  # the client certificate (PEM) verified in the handshake


@dataclass(slots=True)
class Session:
    """What a connection is allowed to do: a device's, or (``device`` None) only activate in
    ``connector_id`` (None: no connector can be told, activation is refused)."""

    connector_id: str | None
    device: Device | None = None
    checked_at: float = 0.0  # time.monotonic() of the last "may it still talk" check
    auth: str = ""  # token, password, certificate, or "" (activation only)


def _refusal_code(error: DeviceError) -> int:
    # 401: the credential itself is not accepted. Anything else (locked, expired, wrong transport,
    # not allowed, too many attempts) is a denial.
    return REFUSED_CREDENTIALS if error.status == 401 else REFUSED_NOT_AUTHORIZED


def connect(peer: Peer, username: str | None, password: str | None) -> Session:
    """A CONNECT's session, or ``ConnectRefused`` (an ``auth_failed`` / ``locked_denied`` /
    certificate event in Logs, as over HTTP).

    | username | password | meaning |
    | empty | token | token |
    | identity | password | password |
    | empty | empty | the client certificate if any, else activation only |
    """
    username, password = username or "", password or ""
    connector_id = peer.sni_connector_id
    credentials = {}
    if not username and password:
        credentials["token"] = password
        if connector_id is None:
            connector_id = token_connector(password)
        auth = "token"
    elif username:
        credentials["basic"] = f"{username}:{password}"
        auth = "password"
    elif peer.certificate is not None:
        credentials["client_certificate"] = peer.certificate
        auth = "certificate"
    else:
        return Session(connector_id=connector_id or settings.DEVICE_DEFAULT_CONNECTOR or None)
    connector_id = connector_id or settings.DEVICE_DEFAULT_CONNECTOR
    if not connector_id:
        raise ConnectRefused(
            REFUSED_CREDENTIALS, "no connector: connect by TLS with the connector's host name"
        )
    try:
        device = device_authenticate(
            DeviceCredentials(
                connector_id=connector_id, ip=peer.ip, insecure=peer.insecure,
                connection_id=peer.connection_id, protocol=PROTOCOL, **credentials,
            )
        )  # fmt: skip
    except DeviceError as error:
        raise ConnectRefused(_refusal_code(error), error.message) from None
    device.connector  # noqa: B018 (loaded here: the event loop must not query it)
    return Session(connector_id=device.connector_id, device=device, checked_at=time.monotonic(), auth=auth)


def provision(peer: Peer, session: Session, request: Provision) -> tuple[Device, str | None]:
    """``$provision/<identity>``: activation, as ``POST /provision/activate``. The device and
    its new token (None on a password connector). Raises ``DeviceError`` (the
    ``provision_denied`` event is emitted)."""
    if session.connector_id is None:
        raise DeviceError("no connector: connect by TLS with its host name", status=404)
    device, token = device_activate_request(
        connector_id=session.connector_id, identity=request.identity, password=request.password,
        ip=peer.ip, insecure=peer.insecure, connection_id=peer.connection_id, protocol=PROTOCOL,
    )  # fmt: skip
    device.connector  # noqa: B018 (loaded here: the event loop must not query it)
    return device, token


def session_recheck(peer: Peer, session: Session) -> None:
    """A connected device may still talk: not deleted, not locked, its transport still allowed
    (the rule ``services.talk_refusal``, re-read at most every ``DEVICE_API_CACHE_SECONDS``).
    Refreshes the session's device (its connector's settings too). Raises ``SessionEnded``."""
    if time.monotonic() - session.checked_at < settings.DEVICE_API_CACHE_SECONDS:
        return
    device = Device.objects.select_related("connector").filter(pk=session.device.pk).first()
    if device is None:
        raise SessionEnded("the device was deleted", status=401, reason="deleted")
    try:
        device_may_talk(
            device, DeviceCredentials(
                connector_id=device.connector_id, ip=peer.ip, insecure=peer.insecure,
                connection_id=peer.connection_id, protocol=PROTOCOL,
            ),
        )  # fmt: skip
    except DeviceError as refused:
        raise SessionEnded(refused.message, status=refused.status, reason=refused.reason) from None
    session.device, session.checked_at = device, time.monotonic()


def publish(peer: Peer, session: Session, request: Write | Record) -> None:
    """``$resource/<alias>`` and ``$resource.batch``: a write or a record through the same
    services as HTTP. Raises ``DeviceError`` (``ValueRejected``, ``DuplicateTimestamps``: the
    ``write_rejected`` event is emitted; the connection stays open)."""
    session_recheck(peer, session)
    device = session.device
    rules = runtime.connector_rules(device.connector)
    if isinstance(request, Write):
        services.device_write(
            device=device, values=request.values, rules=rules, ip=peer.ip,
            connection_id=peer.connection_id, protocol=PROTOCOL,
        )  # fmt: skip
    else:
        services.device_record(
            device=device, series=request.series, rules=rules, ip=peer.ip,
            connection_id=peer.connection_id, protocol=PROTOCOL,
        )  # fmt: skip


def publish_many(requests: list[tuple[Peer, Session, Write | Record]]) -> list[Exception | None]:
    """``publish`` for several devices' writes in one trip to the pool and one transaction (one
    commit for all: a commit per write cost PostgreSQL more than the write), each one's outcome
    (None, or the ``DeviceError`` it raised), in order. Their events and wakes go out once the
    transaction committed. A refused write stores nothing before it is refused, so it spoils
    nothing for the others; anything else (the database failing) raises for the whole batch,
    which then stored nothing."""
    outcomes: list[Exception | None] = []
    with realtime.pushes_held(), transaction.atomic():
        for peer, session, request in requests:
            try:
                publish(peer, session, request)
            except DeviceError as error:
                outcomes.append(error)
            else:
                outcomes.append(None)
    return outcomes


def payload_rejected(peer: Peer, session: Session, message: str) -> None:
    """A publish whose payload cannot be read: a ``write_rejected`` event, as a bad write over
    HTTP would be."""
    device = session.device
    event_emit(
        connector_id=device.connector_id, type=EventType.WRITE_REJECTED, identity=device.identity,
        ip=peer.ip, protocol=PROTOCOL, connection_id=peer.connection_id, payload={"reason": message},
    )  # fmt: skip


def certificate_untrusted(peer: Peer, connector_id: str, message: str) -> None:
    """A client certificate the connector's CA does not vouch for, refused in the TLS handshake:
    an ``auth_failed`` event (the device's identity is not known: the handshake never finished)."""
    event_emit(
        connector_id=connector_id, type=EventType.AUTH_FAILED, ip=peer.ip, protocol=PROTOCOL,
        connection_id=peer.connection_id, payload={"reason": "certificate_untrusted", "message": message},
    )  # fmt: skip


def presence(peer: Peer, device: Device, connected: bool, payload: dict) -> None:
    """A ``connect`` / ``disconnect`` event, and the device seen now."""
    event_emit(
        connector_id=device.connector_id, type=EventType.CONNECT if connected else EventType.DISCONNECT,
        identity=device.identity, ip=peer.ip, protocol=PROTOCOL, connection_id=peer.connection_id,
        payload=payload,
    )  # fmt: skip
    services.device_seen(device, ip=peer.ip, insecure=peer.insecure)


def connections_seen(sessions: list[tuple[Peer, Device]]) -> None:
    """Connected devices are online: each is seen again (``DEVICE_ONLINE_WINDOW`` apart at most)."""
    for peer, device in sessions:
        services.device_seen(device, ip=peer.ip, insecure=peer.insecure)


def pending_sets(
    devices: dict[int, Connector], aliases: dict[int, list[str] | None]
) -> dict[int, dict[str, str]]:
    """The cloud sets to send, per device: ``aliases[device]`` None → every pending set (a set
    the device has not reported back yet), else the current set values of those aliases (just
    set). Settable resources whose sets are pushed (``sync`` on: with it off, set and reported
    stay equal and nothing is pushed, shared/docs/device-api.md), one query for all the devices."""
    rows = pending_sets_many(list(devices), {d: a for d, a in aliases.items() if a is not None})
    found: dict[int, dict[str, str]] = {}
    for device_id, alias, value in rows:
        rule = runtime.connector_rules(devices[device_id]).get(alias)
        if rule is not None and rule.pushes_cloud_values:
            found.setdefault(device_id, {})[alias] = value
    return found


def connector_for_server_name(server_name: str) -> str | None:
    """The connector a TLS server name chooses (as ``Host`` does over HTTP), or None: a name
    that is no connector's leaves the choice to the credentials, as no name does."""
    return runtime.connector_named(server_name)
