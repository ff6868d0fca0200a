"""The MQTT listener: device connections over MQTT 3.1.1 (shared/docs/mqtt.md), one asyncio loop.

The wire format is amqtt's: its MQTT 3.1.1 packet classes read and write every packet. The
connection loop around them is ours, small and per device, because the contract needs what a
general broker does not do: a CONNACK code chosen by our authentication, a PUBACK only once the
value is stored, Murano's ``$``-topics, no routing between clients (a device receives only its
own cloud sets), and thousands of idle connections per process.

Each connection is one task reading its packets in order. Database work (authentication,
writes, the cloud sets to send) runs in the device API's thread pool (``handlers.py``), never on
the loop. TLS is ours too (``tls.py``): the server name chooses the connector, and a connector
with a CA verifies client certificates in the handshake. Cloud sets reach a connected device
through its ``device_set`` channel in Redis (the operator's or the embedded one), so a set made
by any process (Daphne, a Celery worker) reaches the device within milliseconds.
"""

import asyncio
import functools
import logging
import random
import ssl
import time
from asyncio import sslproto
from contextlib import suppress
from pathlib import Path

from amqtt.adapters import BufferReader, StreamReaderAdapter
from amqtt.errors import AMQTTError, MQTTError
from amqtt.mqtt import packet_class
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.connect import ConnectPacket
from amqtt.mqtt.packet import (
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PUBACK,
    PUBLISH,
    SUBSCRIBE,
    UNSUBSCRIBE,
    MQTTFixedHeader,
)
from amqtt.mqtt.pingresp import PingRespPacket
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.suback import SubackPacket
from amqtt.mqtt.unsuback import UnsubackPacket
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from core import realtime
from devices.device_api.pool import run_sync
from devices.device_api.wakes import Waiter, WakeHub
from devices.errors import DeviceError, ValueRejected
from devices.events import device_set_group
from devices.mqtt import handlers, topics
from devices.mqtt.handlers import ConnectRefused, Peer, Session
from devices.mqtt.tls import TLS_READ_BUFFER, Contexts, handshake_objects, server_certificate

logger = logging.getLogger(__name__)

SUBACK_FAILURE = 0x80
# How often connected devices are seen again (seconds), so they stay online while connected.
_PRESENCE_INTERVAL = 60.0


def _max_packet() -> int:
    # A batch may carry several 64 KB values, as an HTTP write body may.
    return settings.DEVICE_API_MAX_BODY


class ConnectionClosed(Exception):
    """This connection ends; ``reason`` goes to its ``disconnect`` event."""

    def __init__(self, reason: str, **detail):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class SetWaiter(Waiter):
    """A connected device's registration for its cloud sets: the aliases set since it last
    looked (none: look at every pending set, e.g. after Redis came back)."""

    __slots__ = ("aliases",)

    def __init__(self, device_id: int):
        super().__init__(device_id)
        self.aliases: set[str] = set()


class SetHub(WakeHub):
    """The ``device_set`` channels of this process's connected devices (``device_sets_announce``)."""

    waiter_class = SetWaiter

    def __init__(self):
        super().__init__(group=device_set_group)

    def message(self, device_id: int, data: bytes) -> None:
        try:
            aliases = realtime.group_message_decode(data).get("aliases") or []
        except Exception:  # an unreadable message still says "look"
            aliases = []
        for waiter in self.waiters.get(device_id, ()):
            waiter.aliases.update(a for a in aliases if isinstance(a, str))
            waiter.event.set()


class PendingSets:
    """The cloud sets to send, looked up for many devices at once: connections that ask in the
    same turn of the event loop (many connecting together, or one push waking several) share
    one trip to the thread pool and one query."""

    def __init__(self):
        self.pending: list[tuple[int, object, list[str] | None, asyncio.Future]] = []

    async def lookup(self, device_id: int, connector, aliases: list[str] | None) -> dict[str, str]:
        answer = asyncio.get_running_loop().create_future()
        self.pending.append((device_id, connector, aliases, answer))
        if len(self.pending) == 1:
            asyncio.get_running_loop().call_soon(self._run)
        return await answer

    def _run(self) -> None:
        batch, self.pending = self.pending, []
        connectors = {device_id: connector for device_id, connector, _, _ in batch}
        aliases: dict[int, list[str] | None] = {}
        for device_id, _, wanted, _ in batch:
            if device_id in aliases and (aliases[device_id] is None or wanted is None):
                aliases[device_id] = None  # asked twice, once for everything
            elif device_id in aliases:
                aliases[device_id] = [*aliases[device_id], *wanted]
            else:
                aliases[device_id] = wanted
        done = asyncio.ensure_future(run_sync(handlers.pending_sets, connectors, aliases))

        def answer(future: asyncio.Future) -> None:
            error = None if future.cancelled() else future.exception()
            for device_id, _, _, waiting in batch:
                if waiting.done():
                    continue
                if future.cancelled() or error is not None:
                    waiting.set_exception(error or asyncio.CancelledError())
                else:
                    waiting.set_result(future.result().get(device_id, {}))

        done.add_done_callback(answer)


class Writes:
    """Devices' writes, handed to the thread pool together: the writes that arrive in the same
    turn of the event loop go in one trip and one transaction (up to ``BATCH`` each,
    ``handlers.publish_many``), each with its own outcome. A trip and a commit per write cost
    more than the write itself. Each connection waits for its own write (committed) before it
    acknowledges it and reads its next packet, so a device's writes stay in order."""

    BATCH = 32

    def __init__(self):
        self.pending: list[tuple[tuple, asyncio.Future]] = []

    async def store(self, *args) -> None:
        """``handlers.publish(*args)`` in the pool; raises what it raised."""
        answer = asyncio.get_running_loop().create_future()
        self.pending.append((args, answer))
        if len(self.pending) == 1:
            asyncio.get_running_loop().call_soon(self._run)
        await answer

    def _run(self) -> None:
        pending, self.pending = self.pending, []
        for start in range(0, len(pending), self.BATCH):
            batch = pending[start : start + self.BATCH]
            done = asyncio.ensure_future(run_sync(handlers.publish_many, [args for args, _ in batch]))
            done.add_done_callback(functools.partial(self._answer, batch))

    @staticmethod
    def _answer(batch, done: asyncio.Future) -> None:
        failure = asyncio.CancelledError() if done.cancelled() else done.exception()
        outcomes = None if failure is not None else done.result()
        for index, (_, answer) in enumerate(batch):
            if answer.done():
                continue
            error = failure if failure is not None else outcomes[index]
            if error is None:
                answer.set_result(None)
            else:
                answer.set_exception(error)


class Connection:
    """One device connection: its CONNECT, then its packets in order until it ends."""

    __slots__ = (
        "server", "reader", "writer", "adapter", "peer", "session", "client_id", "next_packet_id",
        "deliveries", "connected_at", "closed", "keepalive", "end_reason",
    )  # fmt: skip

    def __init__(self, server: "MqttServer", reader, writer, peer: Peer):
        self.server, self.reader, self.writer = server, reader, writer
        self.adapter = StreamReaderAdapter(reader)
        self.peer = peer
        self.session: Session | None = None
        self.client_id = ""
        self.next_packet_id = 0
        self.deliveries: asyncio.Task | None = None
        self.connected_at = 0.0
        self.closed = False
        self.keepalive = 0
        self.end_reason = ""  # set by whoever ends the connection from outside (a newer one)

    # --- reading and writing packets ------------------------------------------------------------
    async def _read_packet(self, timeout: float | None):
        """The next packet, decoded by amqtt's classes; None at the end of the stream."""
        async with asyncio.timeout(timeout):
            try:
                header = await MQTTFixedHeader.from_stream(self.adapter)
            except (AMQTTError, MQTTError) as error:  # a remaining length over 4 bytes
                raise ConnectionClosed("malformed_packet", detail=str(error)[:200]) from None
            if header is None:
                return None
            if header.remaining_length > _max_packet():
                raise ConnectionClosed("packet_too_large", size=header.remaining_length)
            body = await self.reader.readexactly(header.remaining_length)
        if header.packet_type == PUBLISH and (header.flags >> 1) & 0x03 == 3:
            raise ConnectionClosed("malformed_packet", detail="QoS 3")
        try:
            return await packet_class(header).from_stream(BufferReader(body), fixed_header=header)
        except Exception as error:  # amqtt's codec raises many kinds on garbage
            raise ConnectionClosed("malformed_packet", detail=str(error)[:200]) from None

    def _send(self, packet) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(packet.to_bytes())

    def send_publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """A message to the device (a cloud set, its token). QoS 1: no retransmission here;
        a set it never acknowledged is sent again when it reconnects (it is still pending)."""
        packet_id = None
        if qos:
            self.next_packet_id = self.next_packet_id % 65535 + 1
            packet_id = self.next_packet_id
        self._send(PublishPacket.build(topic, payload, packet_id, False, qos, False))

    # --- the connection's life ------------------------------------------------------------------
    async def run(self) -> None:
        reason, detail = "connection_lost", {}
        try:
            await self._connect()
            await self._serve()
        except ConnectionClosed as closed:
            reason, detail = closed.reason, closed.detail
        except TimeoutError:
            reason = "keepalive_timeout" if self.session else "connect_timeout"
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            reason = "connection_lost"
        except asyncio.CancelledError:
            reason = "server_shutdown"
            raise
        except Exception:
            # A fault of ours: this connection ends, the others go on.
            logger.exception("MQTT connection from %s failed", self.peer.ip)
            reason = "server_error"
        finally:
            await self._end(self.end_reason or reason, detail)

    async def _connect(self) -> None:
        packet = await self._read_packet(settings.MQTT_CONNECT_TIMEOUT)
        if packet is None:
            raise ConnectionClosed("connection_lost")
        if not isinstance(packet, ConnectPacket):
            raise ConnectionClosed("protocol_error", detail="the first packet must be CONNECT")
        if packet.proto_name != "MQTT" or packet.proto_level != 4:
            self._send(ConnackPacket.build(0, handlers.REFUSED_PROTOCOL))
            raise ConnectionClosed("protocol_error", detail="MQTT 3.1.1 only")
        if packet.client_id_is_random and not packet.clean_session_flag:
            self._send(ConnackPacket.build(0, handlers.REFUSED_CLIENT_ID))
            raise ConnectionClosed("protocol_error", detail="an empty client id needs a clean session")
        self.client_id = packet.client_id or ""
        try:
            self.session = await run_sync(handlers.connect, self.peer, packet.username, packet.password)
        except ConnectRefused as refused:
            self._send(ConnackPacket.build(0, refused.code))
            raise ConnectionClosed("refused", code=refused.code, detail=refused.message) from None
        # No session is kept between connections: what a device missed is in the database.
        self._send(ConnackPacket.build(0, handlers.ACCEPTED))
        self.keepalive = packet.keep_alive
        if self.session.device is not None:
            await self._device_connected()

    async def _device_connected(self) -> None:
        """The connection is the device's now: Logs, presence, and its cloud sets."""
        device = self.session.device
        self.connected_at = time.monotonic()
        self.server.register(self)
        payload = {"client_id": self.client_id[:200], "keepalive": self.keepalive, "auth": self.session.auth}
        await run_sync(handlers.presence, self.peer, device, True, payload)
        self.deliveries = asyncio.ensure_future(self._deliver_sets(device.pk))

    async def _serve(self) -> None:
        # MQTT-3.1.2-24: one and a half keep-alive periods without a packet end the connection.
        timeout = self.keepalive * 1.5 if self.keepalive else None
        while True:
            packet = await self._read_packet(timeout)
            if packet is None:
                raise ConnectionClosed("connection_lost")
            kind = packet.fixed_header.packet_type
            if kind == PUBLISH:
                await self._publish(packet)
            elif kind == PINGREQ:
                self._send(PingRespPacket())
            elif kind == SUBSCRIBE:
                codes = [
                    min(qos, 1) if topics.subscription_allowed(topic) else SUBACK_FAILURE
                    for topic, qos in packet.payload.topics
                ]
                self._send(SubackPacket.build(packet.variable_header.packet_id, codes))
            elif kind == UNSUBSCRIBE:
                self._send(UnsubackPacket.build(packet.variable_header.packet_id))
            elif kind == PUBACK:
                pass  # a set delivered (nothing is retransmitted: see send_publish)
            elif kind == DISCONNECT:
                raise ConnectionClosed("client_disconnect")
            elif kind == CONNECT:
                raise ConnectionClosed("protocol_error", detail="a second CONNECT")
            else:
                raise ConnectionClosed("protocol_error", detail=f"packet type {kind} is not supported")

    async def _publish(self, packet: PublishPacket) -> None:
        qos = packet.qos or 0
        if qos == 2:
            raise ConnectionClosed("qos_not_supported", detail="QoS 2 is not supported (use 0 or 1)")
        topic = packet.topic_name or ""
        try:
            request = topics.publish_request(topic, packet.data or b"")
        except topics.TopicRefused as refused:
            raise ConnectionClosed(refused.reason, topic=topic[:120]) from None
        except topics.PayloadRefused as refused:
            if self.session.device is None:
                raise ConnectionClosed("not_authenticated", topic=topic[:120]) from None
            await run_sync(handlers.payload_rejected, self.peer, self.session, refused.message)
            self._puback(packet, qos)
            return
        if isinstance(request, topics.Provision):
            await self._provision(request, packet, qos)
            return
        if self.session.device is None:
            raise ConnectionClosed("not_authenticated", topic=topic[:120])
        try:
            await self.server.writes.store(self.peer, self.session, request)
        except handlers.SessionEnded as ended:
            raise ConnectionClosed(ended.reason or "not_allowed", detail=ended.message) from None
        except (ValueRejected, DeviceError):
            pass  # a rejected write: its write_rejected event is in Logs; the connection stays
        self._puback(packet, qos)

    def _puback(self, packet: PublishPacket, qos: int) -> None:
        if qos == 1:
            self._send(PubackPacket.build(packet.packet_id))

    async def _provision(self, request: topics.Provision, packet: PublishPacket, qos: int) -> None:
        try:
            device, token = await run_sync(handlers.provision, self.peer, self.session, request)
        except DeviceError as denied:
            # The provision_denied event says why; the connection ends.
            raise ConnectionClosed("provision_denied", detail=denied.message) from None
        self._puback(packet, qos)
        if token is not None:
            self.send_publish(f"{topics.PROVISION_PREFIX}{device.identity}", token.encode(), qos=1)
        if self.session.device is None or self.session.device.pk != device.pk:
            if self.session.device is not None:
                self.server.unregister(self)
                if self.deliveries is not None:
                    self.deliveries.cancel()
            self.session = Session(connector_id=device.connector_id, device=device, auth="activation")
            await self._device_connected()

    async def _deliver_sets(self, device_id: int) -> None:
        """Send the device its pending cloud sets now, then each new one as it is made."""
        hub = self.server.sets
        waiter = await hub.add(device_id)
        try:
            aliases = None  # first, every pending set
            while not self.closed:
                try:
                    found = await self.server.pending.lookup(
                        device_id, self.session.device.connector, aliases
                    )
                except Exception as error:  # the database is away: try again on the next wake
                    logger.warning("MQTT: reading cloud sets for device %s failed: %s", device_id, error)
                    found = {}
                for alias, value in found.items():
                    self.send_publish(f"{topics.RESOURCE_PREFIX}{alias}", value.encode(), qos=1)
                await waiter.event.wait()
                waiter.event.clear()
                aliases, waiter.aliases = (sorted(waiter.aliases) or None), set()
        finally:
            hub.remove(waiter)

    async def _end(self, reason: str, detail: dict) -> None:
        self.closed = True
        if self.deliveries is not None:
            self.deliveries.cancel()
        self.server.unregister(self)
        with suppress(Exception):
            self.writer.close()
        session = self.session
        if session is not None and session.device is not None and self.connected_at:
            payload = {
                "reason": reason,
                "duration_s": round(time.monotonic() - self.connected_at, 3),
                **detail,
            }
            with suppress(Exception):
                await asyncio.shield(run_sync(handlers.presence, self.peer, session.device, False, payload))
        elif reason not in ("refused", "connection_lost", "client_disconnect"):
            logger.info("MQTT connection from %s closed: %s %s", self.peer.ip, reason, detail or "")


class MqttServer:
    """This process's MQTT listeners and connections."""

    def __init__(self):
        self.connections: dict[int, Connection] = {}  # device id → its (newest) connection
        self.open: set[asyncio.Task] = set()
        self.sets = SetHub()
        self.pending = PendingSets()
        self.writes = Writes()
        self.contexts: Contexts | None = None
        self.listeners: list[asyncio.Server] = []
        self.tasks: list[asyncio.Task] = []

    async def listen_tls(self, host: str, port: int) -> int:
        """Listen for TLS connections; the port bound (``port`` 0: any free one)."""
        sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        if self.contexts is None:
            self.contexts = Contexts(*await run_sync(server_certificate))
            await run_sync(self.contexts.refresh)
            self.tasks.append(asyncio.ensure_future(self._refresh_contexts()))
        return await self._listen(self._tls_client, host, port)

    @staticmethod
    def ca_file() -> str:
        """The CA of the self-signed server certificate (``make run``)."""
        return str(Path(settings.VAR_DIR) / "tls" / "server-ca.pem")

    async def listen_plain(self, host: str, port: int) -> int:
        """Listen for plain TCP connections (developer-mode connectors); the port bound."""
        return await self._listen(self._plain_client, host, port)

    async def _listen(self, client, host: str, port: int) -> int:
        listener = await asyncio.start_server(
            client, host, port, backlog=1024, reuse_port=settings.MQTT_REUSE_PORT or None
        )
        self.listeners.append(listener)
        if not any(t.get_name() == "mqtt-presence" for t in self.tasks):
            self.tasks.append(asyncio.create_task(self._presence(), name="mqtt-presence"))
        return listener.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for listener in self.listeners:
            listener.close()
        for task in self.tasks:
            task.cancel()
        for task in list(self.open):
            task.cancel()
        if self.open:
            await asyncio.wait(list(self.open), timeout=10)
        # The ended connections' unsubscribes go out before the connection to Redis closes.
        with suppress(Exception):
            async with self.sets.sending:
                pass
            if self.sets.batch is not None:
                await asyncio.wait_for(asyncio.shield(self.sets.batch), 2)
            async with self.sets.sending:
                pass
        if self.sets.retry is not None:
            self.sets.retry.cancel()
        with suppress(Exception):
            await self.sets.wakes.close()

    # --- connections ----------------------------------------------------------------------------
    def register(self, connection: Connection) -> None:
        """The device's newest connection wins: an older one in this process is closed."""
        device_id = connection.session.device.pk
        older = self.connections.get(device_id)
        self.connections[device_id] = connection
        if older is not None and older is not connection:
            older.end_reason = "replaced"
            older.closed = True
            with suppress(Exception):
                older.writer.close()

    def unregister(self, connection: Connection) -> None:
        session = connection.session
        if session is not None and session.device is not None:
            if self.connections.get(session.device.pk) is connection:
                del self.connections[session.device.pk]

    def _track(self) -> bool:
        task = asyncio.current_task()
        if len(self.open) >= settings.MQTT_MAX_CONNECTIONS:
            return False
        self.open.add(task)
        task.add_done_callback(self.open.discard)
        return True

    @staticmethod
    def _connection_id() -> str:
        return f"{random.getrandbits(64):016x}"

    async def _plain_client(self, reader, writer) -> None:
        if not self._track():
            writer.close()
            return
        ip = (writer.get_extra_info("peername") or ("",))[0]
        await Connection(
            self, reader, writer, Peer(ip=ip, connection_id=self._connection_id(), insecure=True)
        ).run()

    async def _tls_client(self, reader, writer) -> None:
        if not self._track():
            writer.close()
            return
        ip = (writer.get_extra_info("peername") or ("",))[0]
        peer = Peer(ip=ip, connection_id=self._connection_id(), insecure=False)
        made = handshake_objects()
        try:
            await writer.start_tls(
                self.contexts.listening, ssl_handshake_timeout=settings.MQTT_CONNECT_TIMEOUT
            )
        except (ssl.SSLError, OSError, TimeoutError) as error:
            await self._handshake_failed(peer, made[0] if made else None, error)
            writer.close()
            return
        sslobj = writer.get_extra_info("ssl_object")
        peer.sni_connector_id = getattr(sslobj, "murano_connector", None)
        server_name = getattr(sslobj, "murano_server_name", None)
        if peer.sni_connector_id is None and server_name:
            # A name the snapshot does not know: a connector created a moment ago, an extra
            # host name, or no connector at all (refused if it is under the device domain).
            peer.sni_connector_id = await run_sync(handlers.connector_for_server_name, server_name)
            if peer.sni_connector_id is None and self.contexts.under_device_domain(server_name):
                logger.info("MQTT TLS from %s: %r names no connector", ip, server_name)
                writer.close()
                return
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        if der:
            certificate = x509.load_der_x509_certificate(der)
            peer.certificate = certificate.public_bytes(serialization.Encoding.PEM).decode()
        await Connection(self, reader, writer, peer).run()

    async def _handshake_failed(self, peer: Peer, sslobj, error: BaseException) -> None:
        """A refused client certificate is an ``auth_failed`` event of the connector its server
        name chose; anything else (a scanner, a client giving up) is only logged here."""
        connector_id = getattr(sslobj, "murano_connector", None)
        if isinstance(error, ssl.SSLCertVerificationError) and connector_id:
            await run_sync(
                handlers.certificate_untrusted, peer, connector_id, error.verify_message or str(error)
            )
        else:
            logger.info("MQTT TLS handshake from %s failed: %s", peer.ip, error)

    # --- background -----------------------------------------------------------------------------
    async def _refresh_contexts(self) -> None:
        """Connectors' names and CAs, re-read while the server runs (sooner when a name was not
        known: a connector created a moment ago)."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            due = time.monotonic() - last >= max(settings.DEVICE_API_CACHE_SECONDS, 1)
            if due or self.contexts.missed:
                last = time.monotonic()
                try:
                    await run_sync(self.contexts.refresh)
                except Exception as error:
                    logger.warning("MQTT: reading the connectors' TLS settings failed: %s", error)

    async def _presence(self) -> None:
        interval = min(_PRESENCE_INTERVAL, settings.DEVICE_ONLINE_WINDOW / 2)
        while True:
            await asyncio.sleep(interval)
            sessions = [(c.peer, c.session.device) for c in self.connections.values()]
            if sessions:
                try:
                    await run_sync(handlers.connections_seen, sessions)
                except Exception as error:
                    logger.warning("MQTT: recording connected devices as seen failed: %s", error)
