"""The MQTT device API under test: the real listener (``devices.mqtt.server``) on its own event
loop in a thread of the test process, on free ports, TLS with a certificate made for the session,
and real MQTT clients (paho) talking to it over TCP."""

import asyncio
import socket
import threading
import time
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings as django_settings

from devices.events import events_recent
from murano.localtls import server_certificate_ensure

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
    """A paho MQTT client as a device's firmware uses it: connect, publish, receive its sets."""

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
        self.client.loop_start()
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
        self.client.loop_stop()


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
