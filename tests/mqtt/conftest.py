"""The MQTT device API under test: the real listener (``devices.mqtt.server``) on its own event
loop in a thread of the test process, on free ports, TLS with a certificate made for the session,
and real MQTT clients (paho) talking to it over TCP."""

import asyncio
import contextlib
import select
import socket
import ssl
import threading
import time
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings as django_settings

from core.selfsigned import server_certificate_ensure
from devices.events import events_recent

# What people see of devices (the management API), shared with the HTTP device API's tests.
from tests.devices.conftest import device_info, device_state, history, owner_api  # noqa: F401


@pytest.fixture(scope="session")
def mqtt_tls_files(tmp_path_factory):
    """The server certificate for ``*.<DEVICE_API_DOMAIN>`` and the CA clients trust."""
    return server_certificate_ensure(
        tmp_path_factory.mktemp("mqtt-tls"), domain=django_settings.DEVICE_API_DOMAIN
    )


@pytest.fixture
def device_names_resolve(monkeypatch):
    """``<connector>.<DEVICE_API_DOMAIN>`` resolves to this machine, as DNS would point it at the
    MQTT listener (the names go on the wire as the TLS server name)."""
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + django_settings.DEVICE_API_DOMAIN):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def mqtt_server(
    transactional_db, settings, mqtt_tls_files, handler_threads_do_not_keep_connections, device_names_resolve
):
    """The MQTT listener: ``.tls`` and ``.plain`` ports, ``.ca`` (the CA file to trust)."""
    from devices.mqtt.server import MqttServer

    settings.MQTT_TLS_CERT = str(mqtt_tls_files["certificate"])
    settings.MQTT_TLS_KEY = str(mqtt_tls_files["key"])
    settings.DEVICE_API_CACHE_SECONDS = 0
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mqtt-test-loop", daemon=True)
    thread.start()
    server = MqttServer()

    async def start():
        return await server.listen_tls("127.0.0.1", 0), await server.listen_plain("127.0.0.1", 0)

    tls, plain = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    yield SimpleNamespace(
        tls=tls, plain=plain, ca=str(mqtt_tls_files["ca"]), server=server, loop=loop,
        refresh=lambda: asyncio.run_coroutine_threadsafe(_refresh(server), loop).result(30),
    )  # fmt: skip
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


async def _refresh(server):
    from devices.device_api.pool import run_sync

    await run_sync(server.contexts.refresh)


class Device:
    """A paho MQTT client as a device's firmware uses it: connect, publish, receive its sets.

    paho's own network loop (``loop_start``) waits with ``select()``, which fails on a socket
    numbered 1,024 or more: a test process that has opened many files makes every connection
    look lost. So its network loop runs here on ``poll()``, through paho's API for external
    event loops (``loop_read`` / ``loop_write`` / ``loop_misc``); one thread per device does
    all its socket work. It does not reconnect by itself: a connection the server closed stays
    closed, as tests expect."""

    def __init__(self, client_id: str = ""):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        self.messages: list[tuple[str, bytes]] = []
        self.connack: int | None = None
        self.disconnected = threading.Event()
        self.connected = threading.Event()
        self.lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        # With these set, paho queues what it sends for the network loop below instead of
        # writing from the caller's thread.
        self.client.on_socket_register_write = lambda client, userdata, sock: None
        self.client.on_socket_unregister_write = lambda client, userdata, sock: None
        self.stopping = threading.Event()
        self.driver: threading.Thread | None = None

    def _network_loop(self) -> None:
        client = self.client
        while not self.stopping.is_set():
            sock = client.socket()
            if sock is None:  # closed
                self.stopping.wait(0.01)
                continue
            if getattr(sock, "pending", lambda: 0)() > 0:  # TLS bytes already read and decrypted
                client.loop_read()
                continue
            poller = select.poll()
            try:
                poller.register(sock, select.POLLIN | (select.POLLOUT if client.want_write() else 0))
            except (OSError, ValueError):  # closed meanwhile
                continue
            for _, event in poller.poll(10):
                if event & (select.POLLIN | select.POLLERR | select.POLLHUP):
                    client.loop_read()
                if event & select.POLLOUT and client.socket() is not None:
                    client.loop_write()
            if client.socket() is not None:
                client.loop_misc()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = reason_code.value if hasattr(reason_code, "value") else int(reason_code)
        self.connected.set()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnected.set()

    def connect(self, port: int, *, host: str = "127.0.0.1", username=None, password=None, ca=None,
                certfile=None, keyfile=None, keepalive: int = 60) -> int:  # fmt: skip
        """Connect and wait for the CONNACK; its return code (paho's: 4 → 134, 5 → 135)."""
        if username is not None or password is not None:
            self.client.username_pw_set(username or "", password)
        if ca is not None:
            self.client.tls_set(ca_certs=ca, certfile=certfile, keyfile=keyfile)
        self.client.connect(host, port, keepalive=keepalive)
        self.driver = threading.Thread(target=self._network_loop, name="mqtt-test-device", daemon=True)
        self.driver.start()
        assert self.connected.wait(10) or self.disconnected.wait(0.1), "no CONNACK"
        return self.connack

    def publish(self, topic: str, payload, qos: int = 1, timeout: float = 10):
        info = self.client.publish(topic, payload, qos=qos)
        if qos:
            info.wait_for_publish(timeout)
        return info

    def wait_message(self, topic: str, timeout: float = 5) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for index, (got_topic, payload) in enumerate(self.messages):
                    if got_topic == topic:
                        del self.messages[index]
                        return payload
            time.sleep(0.01)
        raise AssertionError(f"no message on {topic} within {timeout}s (got {self.messages})")

    def close(self):
        self.client.disconnect()
        deadline = time.monotonic() + 1  # the network loop sends the DISCONNECT
        while self.client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stopping.set()
        if self.driver is not None:
            self.driver.join(5)


@pytest.fixture
def mqtt_device():
    """``mqtt_device(client_id="")`` → a paho ``Device``; all are disconnected at the end."""
    made = []

    def make(client_id: str = "") -> Device:
        device = Device(client_id)
        made.append(device)
        return device

    yield make
    for device in made:
        try:
            device.close()
        except Exception:
            pass


def activate_tokens(device_client, *identities: str) -> dict[str, str]:
    """Devices activated over HTTP (token mode): ``{identity: token}``."""
    from tests.devices.conftest import activate

    found = {}
    for identity in identities:
        response = activate(device_client, identity)
        assert response.status_code == 200
        found[identity] = response.text
    return found


def wait_for(condition, timeout: float = 5, interval: float = 0.02):
    """``condition()``'s first truthy result within ``timeout`` seconds (else its last result)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture
def mqtt_events(connector):
    """``mqtt_events(type=None)`` → the connector's recent events over MQTT (oldest first)."""

    def get(type: str | None = None) -> list[dict]:
        return [
            e for e in events_recent(connector.pk)
            if e["protocol"] == "mqtt" and (type is None or e["type"] == type)
        ]  # fmt: skip

    return get


# --- raw MQTT, for what a well-behaved client (paho) cannot send ----------------------------------

CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP = 2, 3, 4, 9, 13


def connect_bytes(*, username: str | None = None, password: str | None = None, client_id: str = "raw",
                  clean_session: bool = True, keepalive: int = 60, proto_name: str = "MQTT",
                  proto_level: int = 4) -> bytes:  # fmt: skip
    """A CONNECT packet, written by amqtt's classes."""
    from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader

    header = ConnectVariableHeader(proto_name=proto_name, proto_level=proto_level, keep_alive=keepalive)
    header.clean_session_flag = clean_session
    header.username_flag = username is not None
    header.password_flag = password is not None
    payload = ConnectPayload(client_id=client_id, username=username, password=password)
    return bytes(ConnectPacket(variable_header=header, payload=payload).to_bytes())


def publish_bytes(topic: str, payload: bytes, *, qos: int = 1, packet_id: int = 1) -> bytes:
    from amqtt.mqtt.publish import PublishPacket

    packet = PublishPacket.build(topic, payload, packet_id if qos else None, False, qos, False)
    return bytes(packet.to_bytes())


def remaining_length(length: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length."""
    out = bytearray()
    while True:
        length, byte = divmod(length, 128)
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


class RawClient:
    """A TCP (or TLS) connection speaking MQTT byte by byte: it sends what it is given, and reads
    the server's packets as ``(type, flags, body)``; ``None`` once the server closed."""

    def __init__(self, port: int, *, context: ssl.SSLContext | None = None, server_name: str | None = None,
                 timeout: float = 5):  # fmt: skip
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname=server_name)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def connect(self, **fields) -> int | None:
        """Send a CONNECT (``connect_bytes`` fields); the CONNACK's return code, None if closed."""
        try:
            self.send(connect_bytes(**fields))
        except OSError:  # closed already (e.g. a TLS 1.3 client certificate refused)
            return None
        packet = self.read_packet()
        if packet is None:
            return None
        kind, _, body = packet
        assert kind == CONNACK and len(body) == 2, packet
        return body[1]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, packet_id: int = 1) -> None:
        self.send(publish_bytes(topic, payload, qos=qos, packet_id=packet_id))

    def _fill(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            chunk = b""
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def read_packet(self, timeout: float = 5) -> tuple[int, int, bytes] | None:
        """The server's next packet; None when the server closed the connection (a socket timeout
        raises: the server neither answered nor closed)."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            if not self._fill(max(deadline - time.monotonic(), 0.001)):
                return None

    def _parse(self):
        if len(self.buffer) < 2:
            return None
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(self.buffer):
                return None
            byte = self.buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if len(self.buffer) < index + length:
            return None
        first, body = self.buffer[0], self.buffer[index : index + length]
        self.buffer = self.buffer[index + length :]
        return first >> 4, first & 0x0F, body

    def closed_by_server(self, timeout: float = 5) -> bool:
        """The server closes the connection within ``timeout`` (packets it sends first are read
        and dropped); False if it is still open then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.read_packet(deadline - time.monotonic()) is None:
                    return True
            except TimeoutError:
                return False
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def raw_client():
    """``raw_client(port, context=None, server_name=None)`` → a ``RawClient``; closed at the end."""
    made = []

    def make(port: int, **kwargs) -> RawClient:
        client = RawClient(port, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def events_of(connector, type: str | None = None) -> list[dict]:
    """Any connector's recent events over MQTT (oldest first), of one type if named."""
    return [
        e for e in events_recent(connector.pk)
        if e["protocol"] == "mqtt" and (type is None or e["type"] == type)
    ]  # fmt: skip


@pytest.fixture
def mqtt_server_context(mqtt_server):
    """A TLS client context that trusts the MQTT server's certificate (and checks its name)."""
    return ssl.create_default_context(cafile=mqtt_server.ca)
