#!/usr/bin/env python
"""The MQTT device API's figures (shared/docs/mqtt.md, "Figures to reach"), on PostgreSQL + Redis.

    .venv/bin/python bench/mqtt.py [--duration 20] [--window 10] [--clients 1]
                                   [--idle 10000] [--tls 2000] [--sets 500] [--keep]

What it does, in order:

1. recreates the PostgreSQL database ``--database-url`` (default
   ``postgres://postgres@127.0.0.1:5432/bench_mqtt``) and migrates it; Redis is db 11
   (``--redis-url``), under a channel prefix of this run's own;
2. creates an account, a developer-mode connector with ``temp`` (a number) and ``setpoint``
   (a settable number) through the services, and its token devices in bulk (known tokens,
   hashed as the platform stores them): 100 for the throughput, ``--idle`` plain and ``--tls``
   TLS ones for the idle connections (the cloud sets use ``--set-devices`` of the plain ones);
3. starts ONE ``manage.py runmqtt`` (plain TCP and TLS on free ports, its own
   ``MURANO_VAR_DIR``: its self-signed server certificate and ``server-ca.pem`` are there), and
   measures its RSS and CPU time from ``/proc``;
4. measures, with a raw asyncio MQTT 3.1.1 client (hand-encoded packets: it is only a client):
   a. idle connections: ``--idle`` devices connect by token over plain TCP (``--concurrency``
      at a time, keepalive 300 s) — time until every CONNACK 0, the server's RSS before and
      after, all held ``--hold`` s; then ``--tls`` more over TLS (SNI
      ``<connector>.<DEVICE_API_DOMAIN>``, the server's CA trusted) on top of them: KB per TLS
      connection. All are then closed;
   b. throughput: 100 devices connect over plain TCP, each publishes ``$resource/temp`` at
      QoS 1 with ``--window`` messages in flight, for ``--warmup`` + ``--duration`` s, from
      ``--clients`` load-generator processes; PUBACKs/s in the measured window, PUBACK
      latency, the server's (and PostgreSQL's) CPU per publish; then every history point in
      the database is counted against the PUBACKs received (no loss);
   c. cloud-set latency: ``--set-devices`` devices connected, ``--sets`` cloud sets made one
      at a time by THIS process (``device_state_set`` with ``REDIS_URL``: the wake goes
      through Redis, as from a web worker), each timed from before the call to the receipt of
      ``$resource/setpoint`` on that device's connection;
5. prints a table, writes it to ``bench/results/mqtt-<date>.txt``, stops the server and drops
   the database (``--keep`` keeps it and the server's log).

The load generator, PostgreSQL and Redis run on the same cores as the server: figures are a
floor for what the server does with the load coming from elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: device_api.py, fleet.py

import fleet  # noqa: E402  (re-executes with the venv's Python if psycopg is missing)
from device_api import (  # noqa: E402
    DOMAIN,
    CpuMeter,
    Processes,
    _cpu_model,
    background_busy,
    free_port,
    raise_nofile,
    rss_mb,
    server_env,
    wait_quiet,
)
from fleet import log, proc_cpu_s  # noqa: E402

ROOT = fleet.ROOT
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_mqtt"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
THROUGHPUT_DEVICES = 100

TARGETS = {
    "publishes_per_s": (">=", 3000),
    "idle_rss_mb": ("<", 500),
    "idle_accept_s": ("<", 20),
    "set_p99_ms": ("<", 50),
}


# --- a minimal MQTT 3.1.1 client ---------------------------------------------------------------


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str, token: str, keepalive: int) -> bytes:
    """CONNECT by token: an empty user name, the token as the password, a clean session."""
    flags = 0x80 | 0x40 | 0x02
    body = _string("MQTT") + bytes([4, flags]) + keepalive.to_bytes(2, "big")
    body += _string(client_id) + _string("") + _string(token)
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1."""
    body = _string(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + _remaining_length(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


DISCONNECT = b"\xe0\x00"
TEMP_TOPIC = b"$resource/temp"
SET_TOPIC = "$resource/setpoint"


class MqttClient(asyncio.Protocol):
    """One device's connection: CONNACK into ``connack``, each PUBACK to ``on_puback(id, t)``,
    each PUBLISH from the server (acknowledged at QoS 1) to ``on_publish(topic, payload, t)``."""

    def __init__(self, on_puback=None, on_publish=None):
        self.on_puback, self.on_publish = on_puback, on_publish
        self.transport = None
        self.buffer = bytearray()
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future = loop.create_future()
        self.lost: asyncio.Future = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("closed before CONNACK"))
        if not self.lost.done():
            self.lost.set_result(exc)

    def data_received(self, data: bytes):
        now = time.monotonic()
        buf = self.buffer
        buf += data
        start = 0
        while True:
            if len(buf) - start < 2:
                break
            length, multiplier, index = 0, 1, start + 1
            while True:
                if index >= len(buf):
                    length = -1
                    break
                byte = buf[index]
                length += (byte & 0x7F) * multiplier
                multiplier <<= 7
                index += 1
                if not byte & 0x80:
                    break
            if length < 0 or len(buf) < index + length:
                break
            kind, body = buf[start] >> 4, bytes(buf[index : index + length])
            qos = (buf[start] >> 1) & 0x03
            start = index + length
            if kind == 4:  # PUBACK
                if self.on_puback is not None:
                    self.on_puback(int.from_bytes(body[:2], "big"), now)
            elif kind == 2:  # CONNACK
                if not self.connack.done():
                    self.connack.set_result(body[1])
            elif kind == 3:  # PUBLISH
                topic_length = int.from_bytes(body[:2], "big")
                topic = body[2 : 2 + topic_length].decode()
                rest = body[2 + topic_length :]
                if qos:
                    self.transport.write(puback_packet(int.from_bytes(rest[:2], "big")))
                    rest = rest[2:]
                if self.on_publish is not None:
                    self.on_publish(topic, rest, now)
        del buf[:start]

    def close(self, disconnect: bool = True) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if disconnect:
                self.transport.write(DISCONNECT)
            self.transport.close()


async def mqtt_connect(port: int, client_id: str, token: str, *, keepalive: int = 300,
                       tls: ssl.SSLContext | None = None, server_hostname: str | None = None,
                       timeout: float = 60, **callbacks) -> MqttClient:  # fmt: skip
    """A connected device (CONNACK 0), or an exception saying why not."""
    loop = asyncio.get_running_loop()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: MqttClient(**callbacks), "127.0.0.1", port, ssl=tls, server_hostname=server_hostname
        ),
        timeout,
    )
    client.transport.write(connect_packet(client_id, token, keepalive))
    code = await asyncio.wait_for(client.connack, timeout)
    if code != 0:
        client.close(disconnect=False)
        raise ConnectionError(f"CONNACK {code}")
    return client


async def connect_many(port: int, devices: list[tuple[str, str]], concurrency: int,
                       **options) -> tuple[list[MqttClient], list[str], float]:  # fmt: skip
    """Connect ``devices`` (identity, token), ``concurrency`` at a time: the clients, the errors
    and the seconds until the last CONNACK."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(identity: str, token: str):
        async with gate:
            try:
                return await mqtt_connect(port, identity, token, **options)
            except (OSError, ConnectionError, TimeoutError, ssl.SSLError) as error:
                errors.append(f"{identity}: {type(error).__name__} {error}")
                return None

    started = time.monotonic()
    clients = await asyncio.gather(*(one(identity, token) for identity, token in devices))
    return [c for c in clients if c is not None], errors, time.monotonic() - started


# --- the throughput load generator (child processes) ------------------------------------------


def throughput_worker(port, devices, window, warmup, duration, go, start_at, results) -> None:
    """One load-generator process: its share of the 100 devices, each publishing with ``window``
    messages in flight from ``start_at`` (monotonic) for ``warmup`` + ``duration`` s."""
    try:
        results.put(asyncio.run(_throughput(port, devices, window, warmup, duration, go, start_at, results)))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results.put({"error": f"{type(error).__name__}: {error}"})


async def _throughput(port, devices, window, warmup, duration, go, start_at, results) -> dict:
    stats = {"sent": 0, "acks_total": 0, "acks_window": 0, "lost_connections": 0, "stray_acks": 0}
    latencies: list[float] = []
    state = {"measure_from": 0.0, "measure_to": float("inf")}
    publishers = []

    class Publisher:
        def __init__(self, index: int):
            self.index, self.next_id, self.in_flight, self.client = index, 0, {}, None

        def send(self, now: float) -> None:
            self.next_id = self.next_id % 65535 + 1
            self.in_flight[self.next_id] = now
            stats["sent"] += 1
            payload = f"{stats['sent'] % 1000 / 10:.1f}".encode()
            self.client.transport.write(publish_packet(TEMP_TOPIC, payload, self.next_id))

        def acked(self, packet_id: int, now: float) -> None:
            sent = self.in_flight.pop(packet_id, None)
            if sent is None:
                stats["stray_acks"] += 1
                return
            stats["acks_total"] += 1
            if state["measure_from"] <= now < state["measure_to"]:
                stats["acks_window"] += 1
                latencies.append(now - sent)
            if now < state["measure_to"] and not self.client.transport.is_closing():
                self.send(now)

    for index in range(len(devices)):
        publishers.append(Publisher(index))
    clients, errors, _ = await connect_many(
        port, devices, 50, on_puback=None, keepalive=0
    )  # the callbacks are set below, per publisher
    if errors:
        return {"error": f"{len(errors)} devices could not connect, e.g. {errors[:3]}"}
    for publisher, client in zip(publishers, clients, strict=True):
        publisher.client = client
        client.on_puback = publisher.acked
    results.put({"ready": len(clients)})
    while not go.is_set():
        await asyncio.sleep(0.005)
    start = start_at.value
    state["measure_from"], state["measure_to"] = start + warmup, start + warmup + duration
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    now = time.monotonic()
    for publisher in publishers:
        for _ in range(window):
            publisher.send(now)
    await asyncio.sleep(max(0.0, state["measure_to"] - time.monotonic()))
    # Drain: every publish sent gets its PUBACK (or the bench says how many did not).
    deadline = time.monotonic() + 30
    while any(p.in_flight for p in publishers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stats["unacked"] = sum(len(p.in_flight) for p in publishers)
    stats["lost_connections"] = sum(1 for c in clients if c.lost.done())
    for client in clients:
        client.close()
    await asyncio.sleep(0.2)
    stats["latencies"] = latencies
    stats["cpu_s"] = sum(os.times()[:2])
    return stats


def throughput(args, port: int, devices: list[tuple[str, str]], server_pid: int) -> dict:
    """Phase b, from ``--clients`` processes; the parent only watches the clock and the CPU."""
    context = multiprocessing.get_context("fork")
    go, start_at, results = context.Event(), context.Value("d", 0.0), context.Queue()
    shares = [devices[i :: args.clients] for i in range(args.clients)]
    workers = [
        context.Process(
            target=throughput_worker,
            args=(port, share, args.window, args.warmup, args.duration, go, start_at, results),
            daemon=True,
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            message = results.get(timeout=120)
            if "error" in message:
                raise RuntimeError(f"load generator: {message['error']}")
        meter = CpuMeter({"mqtt": server_pid, "load generator": os.getpgrp()})
        start = time.monotonic() + 0.3
        start_at.value = start
        go.set()
        time.sleep(max(0.0, start + args.warmup - time.monotonic()))
        server0, backends0 = proc_cpu_s(server_pid), backends_cpu_s(args.database_url)
        meter.start()
        time.sleep(max(0.0, start + args.warmup + args.duration - time.monotonic()))
        cpu = meter.stop()
        server_cpu = proc_cpu_s(server_pid) - server0
        backends1 = backends_cpu_s(args.database_url)
        backends_cpu = sum(v - backends0.get(pid, 0.0) for pid, v in backends1.items())
        reports = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    failed = [r["error"] for r in reports if "error" in r]
    if failed:
        raise RuntimeError(f"load generator: {failed}")
    latencies = sorted(x for r in reports for x in r["latencies"])
    acks_window = sum(r["acks_window"] for r in reports)
    rate = acks_window / args.duration
    load_cpu = cpu["cpu_s"].get("load generator", 0.0)
    return {
        "devices": len(devices),
        "window": args.window,
        "clients": args.clients,
        "duration_s": args.duration,
        "publishes_per_s": round(rate, 1),
        "sent": sum(r["sent"] for r in reports),
        "acks_total": sum(r["acks_total"] for r in reports),
        "acks_window": acks_window,
        "unacked": sum(r["unacked"] for r in reports),
        "stray_acks": sum(r["stray_acks"] for r in reports),
        "lost_connections": sum(r["lost_connections"] for r in reports),
        "puback_p50_ms": round(1000 * percentile(latencies, 50), 2),
        "puback_p99_ms": round(1000 * percentile(latencies, 99), 2),
        "puback_max_ms": round(1000 * latencies[-1], 2) if latencies else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_busy_cores": round(server_cpu / args.duration, 2),
        "server_cpu_ms_per_publish": round(1000 * server_cpu / acks_window, 3) if acks_window else None,
        # The bench database's backends only (other PostgreSQL clients on the machine excluded).
        "postgres_cpu_ms_per_publish": round(1000 * backends_cpu / acks_window, 3) if acks_window else None,
        "redis_cpu_ms_per_publish": round(1000 * cpu["cpu_s"].get("redis", 0) / acks_window, 3)
        if acks_window
        else None,
        "load_cpu_ms_per_publish": round(1000 * load_cpu / acks_window, 3) if acks_window else None,
        "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
        "cpu_s": cpu["cpu_s"],
    }


# --- measurements -----------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """``values`` sorted; nearest-rank percentile."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), round(pct / 100 * len(values) + 0.5)))
    return values[rank - 1]


def backends_cpu_s(database_url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend on the bench's database (the server's)."""
    admin_url, name = fleet.split_url(database_url)
    with fleet.psycopg.connect(admin_url, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]
    return {pid: proc_cpu_s(pid) for pid in pids}


def threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def wait_server_quiet(pid: int, limit: float = 60, threshold: float = 0.05) -> float:
    """Wait until the server uses under ``threshold`` of a core over 0.5 s (its connect /
    disconnect events written); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = proc_cpu_s(pid)
        time.sleep(0.5)
        if (proc_cpu_s(pid) - before) / 0.5 < threshold:
            break
    return time.monotonic() - started


async def close_all(clients: list[MqttClient]) -> None:
    for client in clients:
        client.close()
    await asyncio.sleep(0.5)


async def idle_phase(args, plain_port: int, tls_port: int, plain: list, tls: list, server_pid: int,
                     tls_context: ssl.SSLContext, server_hostname: str) -> dict:  # fmt: skip
    """Phase a: ``plain`` devices held over plain TCP, then ``tls`` more over TLS on top."""
    out: dict = {}
    clients: list[MqttClient] = []
    try:
        for kind, devices, port, options in (
            ("plain", plain, plain_port, {}),
            ("tls", tls, tls_port, {"tls": tls_context, "server_hostname": server_hostname}),
        ):
            if not devices:
                continue
            rss_before, cpu_before = rss_mb(server_pid), proc_cpu_s(server_pid)
            log(f"idle {kind}: connecting {len(devices):,} devices, {args.concurrency} at a time")
            got, errors, seconds = await connect_many(
                port, devices, args.concurrency, keepalive=args.keepalive, **options
            )
            clients += got
            log(f"  {len(got):,} CONNACK 0 in {seconds:.1f} s, {len(errors)} errors"
                + (f" (e.g. {errors[:2]})" if errors else ""))  # fmt: skip
            settle = await asyncio.to_thread(wait_server_quiet, server_pid)
            cpu = proc_cpu_s(server_pid) - cpu_before
            await asyncio.sleep(args.hold)
            dropped = sum(1 for c in got if c.lost.done())
            rss_after = rss_mb(server_pid)
            out[kind] = {
                "devices": len(devices),
                "connected": len(got),
                "errors": len(errors),
                "error_examples": errors[:5],
                "accepted_s": round(seconds, 2),
                "connects_per_s": round(len(got) / seconds, 1) if seconds else None,
                "settled_s": round(settle, 1),
                "held_s": args.hold,
                "dropped_while_held": dropped,
                "server_rss_before_mb": round(rss_before, 1),
                "server_rss_after_mb": round(rss_after, 1),
                "kb_per_connection": round(1024 * (rss_after - rss_before) / len(got), 1) if got else None,
                "server_cpu_ms_per_connect": round(1000 * cpu / len(got), 2) if got else None,
                "server_threads": threads_of(server_pid),
                "server_fds": len(os.listdir(f"/proc/{server_pid}/fd")),
            }
            log(f"  server RSS {rss_before:.0f} -> {rss_after:.0f} MB "
                f"({out[kind]['kb_per_connection']} KB each), {dropped} dropped while held "
                f"{args.hold:g} s, {out[kind]['server_cpu_ms_per_connect']} ms CPU per connect")  # fmt: skip
    finally:
        log(f"closing {len(clients):,} idle connections")
        await close_all(clients)
    return out


async def set_phase(args, plain_port: int, devices: list[tuple[str, str, int]], server_pid: int) -> dict:
    """Phase c: cloud sets made here, one at a time, until each reaches its device."""
    from devices.models import Device

    waiting: dict[tuple[str, bytes], asyncio.Future] = {}
    clients: dict[str, MqttClient] = {}

    def receiver(identity: str):
        def on_publish(topic: str, payload: bytes, now: float) -> None:
            future = waiting.pop((identity, payload), None)
            if topic == SET_TOPIC and future is not None and not future.done():
                future.set_result(now)

        return on_publish

    log(f"cloud sets: connecting {len(devices):,} devices")
    gate = asyncio.Semaphore(args.concurrency)
    errors: list[str] = []

    async def one(identity: str, token: str):
        async with gate:
            try:
                clients[identity] = await mqtt_connect(
                    plain_port, identity, token, on_publish=receiver(identity)
                )
            except (OSError, ConnectionError, TimeoutError) as error:
                errors.append(f"{identity}: {error}")

    await asyncio.gather(*(one(identity, token) for identity, token, _ in devices))
    if errors:
        raise RuntimeError(f"{len(errors)} set devices could not connect, e.g. {errors[:3]}")
    await asyncio.to_thread(wait_server_quiet, server_pid)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cloud-set")
    loaded = await asyncio.get_running_loop().run_in_executor(
        pool,
        lambda: {
            d.pk: d
            for d in Device.objects.select_related("connector").filter(pk__in=[pk for _, _, pk in devices])
        },  # fmt: skip
    )
    latencies, calls, timeouts = [], [], 0
    loop = asyncio.get_running_loop()
    total = args.set_warmup + args.sets
    for n in range(total):
        identity, _, pk = devices[n % len(devices)]
        value = str(100_000 + n)
        future = loop.create_future()
        waiting[(identity, value.encode())] = future
        started = time.monotonic()
        await loop.run_in_executor(pool, cloud_set, loaded[pk], value)
        called = time.monotonic()
        try:
            received = await asyncio.wait_for(future, 5)
        except TimeoutError:
            timeouts += 1
            waiting.pop((identity, value.encode()), None)
            continue
        if n >= args.set_warmup:
            latencies.append(received - started)
            calls.append(called - started)
    await loop.run_in_executor(pool, _close_db)
    pool.shutdown()
    await close_all(list(clients.values()))
    latencies.sort()
    calls.sort()
    return {
        "connected": len(clients),
        "samples": len(latencies),
        "timeouts": timeouts,
        "p50_ms": round(1000 * percentile(latencies, 50), 2),
        "p95_ms": round(1000 * percentile(latencies, 95), 2),
        "p99_ms": round(1000 * percentile(latencies, 99), 2),
        "max_ms": round(1000 * latencies[-1], 2) if latencies else None,
        "set_call_p50_ms": round(1000 * percentile(calls, 50), 2),
        "set_call_p99_ms": round(1000 * percentile(calls, 99), 2),
    }


def cloud_set(device, value: str) -> None:
    """What the management API does for ``PATCH …/state/``: ``device_state_set`` in a
    transaction; its ``device_set`` announcement goes out through Redis on commit."""
    from django.db import transaction

    from connectors import runtime
    from devices.services import device_state_set

    with transaction.atomic():
        rules = runtime.connector_rules(device.connector)
        device_state_set(device=device, values={"setpoint": value}, rules=rules)


def _close_db() -> None:
    from django.db import connections

    connections.close_all()


# --- set-up -----------------------------------------------------------------------------------


def token_of(seed: str, name: str) -> str:
    return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()


def create_world(counts: dict[str, int], seed: str) -> tuple[str, dict[str, list[tuple[str, str, int]]]]:
    """An account, a devmode connector (``temp``, settable ``setpoint``) and its token devices:
    ``{prefix: count}`` → ``(connector id, {prefix: [(identity, token, pk)]})``."""
    from django.utils import timezone

    from accounts.services import account_create
    from connectors.services import connector_create, resource_create
    from devices import credentials
    from devices.models import Device, Lifecycle

    membership = account_create(email="mqtt-bench@example.com", password=secrets.token_urlsafe(16),
                                business_name="MQTT bench", role="admin")  # fmt: skip
    connector = connector_create(business=membership.business, name="MQTT bench", settings={"devmode": True})
    resource_create(connector=connector, alias="temp", format="number")
    resource_create(connector=connector, alias="setpoint", format="number", settable=True)
    now = timezone.now()
    devices = {}
    for prefix, count in counts.items():
        rows = [(f"{prefix}{i:05d}", token_of(seed, f"{prefix}{i:05d}")) for i in range(count)]
        Device.objects.bulk_create(
            [
                Device(
                    connector=connector, identity=identity, lifecycle=Lifecycle.PROVISIONED,
                    auth_type="token", provisioned_at=now, devmode=True,
                    token_hash=credentials.token_hash(token),
                )
                for identity, token in rows
            ],
            batch_size=2000,
        )  # fmt: skip
        found = Device.objects.filter(connector=connector, identity__startswith=prefix)
        pks = dict(found.values_list("identity", "pk"))
        devices[prefix] = [(identity, token, pks[identity]) for identity, token in rows]
    return connector.pk, devices


def history_count(connector_id: str, prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM devices_valuepoint p JOIN devices_device d ON d.id = p.device_id "
            "WHERE d.connector_id = %s AND d.identity LIKE %s AND p.alias = 'temp'",
            [connector_id, prefix + "%"],
        )
        return cursor.fetchone()[0]


def wait_port(port: int, proc: subprocess.Popen, procs: Processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"runmqtt exited with {proc.returncode}:\n{procs.tail('runmqtt')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"runmqtt did not listen on {port} within {timeout:.0f} s")


# --- report -----------------------------------------------------------------------------------


def check(key: str, value) -> str:
    if value is None:
        return "n/a"
    op, target = TARGETS[key]
    ok = value >= target if op == ">=" else value < target
    return "PASS" if ok else "FAIL"


def report_text(report: dict) -> str:
    r, m = report["results"], report["machine"]
    lines = [
        f"MQTT bench {report['when']} (commit {report['commit']}): one `manage.py runmqtt` on PostgreSQL "
        f"{m.get('postgresql')} + Redis, load generator on the same machine",
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['background_busy_pct_before']}% busy before the bench",
        "",
        f"{'figure':<58}{'value':>14}  {'target':<12}status",
    ]

    def row(label, value, unit="", key=None):
        if value is None:
            text = "n/a"
        elif isinstance(value, float):
            text = f"{value:,.3f}" if abs(value) < 1 else f"{value:,.1f}"
        else:
            text = f"{value:,}"
        target = f"{TARGETS[key][0]} {TARGETS[key][1]:,}" if key else ""
        lines.append(f"{label:<58}{text + unit:>14}  {target:<12}{check(key, value) if key else ''}")

    t = r.get("throughput")
    if t:
        lines.append(f"throughput: {t['devices']} devices, QoS 1, window {t['window']}, {t['clients']} "
                     f"client process(es), {t['duration_s']:g} s measured")  # fmt: skip
        row("  publishes stored /s (PUBACKs in the window)", t["publishes_per_s"], "", "publishes_per_s")
        lines.append(f"  ({t['devices'] * t['window']:,} publishes in flight; the server stores one at a "
                     "time per connection: PUBACK latency is mostly queueing)")  # fmt: skip
        row("  PUBACK latency p50", t["puback_p50_ms"], " ms")
        row("  PUBACK latency p99", t["puback_p99_ms"], " ms")
        row("  server CPU per publish", t["server_cpu_ms_per_publish"], " ms")
        row("  server busy (cores)", t["server_busy_cores"])
        row("  PostgreSQL CPU per publish", t["postgres_cpu_ms_per_publish"], " ms")
        row("  load generator CPU per publish", t["load_cpu_ms_per_publish"], " ms")
        row("  machine busy", t["machine_busy_pct"], " %")
        row("  PUBACKs received (whole run)", t["acks_total"])
        row("  history points stored", t["history_points"])
        lines.append(f"{'  no loss (stored == PUBACKs, none unacked)':<58}{str(t['no_loss']):>14}")
    for kind, label in (("plain", "plain TCP"), ("tls", "TLS + SNI")):
        i = r.get("idle", {}).get(kind)
        if not i:
            continue
        on_top = " (on top of the plain ones)" if kind == "tls" and "plain" in r["idle"] else ""
        lines.append(f"idle, {label}{on_top}: {i['connected']:,}/{i['devices']:,} connected, {i['errors']} "
                     f"errors, {i['dropped_while_held']} dropped while held {i['held_s']:g} s")  # fmt: skip
        is_plain = kind == "plain" and i["devices"] >= 10_000
        row("  time to all CONNACK 0", i["accepted_s"], " s", "idle_accept_s" if is_plain else None)
        row("  server RSS before", i["server_rss_before_mb"], " MB")
        row("  server RSS holding them", i["server_rss_after_mb"], " MB", "idle_rss_mb" if is_plain else None)
        row("  KB per connection", i["kb_per_connection"], " KB")
        row("  server CPU per connect", i["server_cpu_ms_per_connect"], " ms")
    s = r.get("sets")
    if s:
        lines.append(f"cloud set -> $resource/setpoint: {s['samples']} sets from another process via Redis, "
                     f"{s['connected']:,} devices connected, {s['timeouts']} timeouts")  # fmt: skip
        row("  latency p50", s["p50_ms"], " ms")
        row("  latency p95", s["p95_ms"], " ms")
        row("  latency p99", s["p99_ms"], " ms", "set_p99_ms")
        row("  latency max", s["max_ms"], " ms")
        row("  device_state_set call itself p50", s["set_call_p50_ms"], " ms")
    srv = r.get("server", {})
    if srv:
        lines.append(f"server: RSS at start {srv.get('rss_start_mb')} MB, at the end "
                     f"{srv.get('rss_end_mb')} MB, CPU {srv.get('cpu_total_s')} s in all, "
                     f"{srv.get('threads')} threads")  # fmt: skip
    lines.append(f"total time {report.get('elapsed_s')} s")
    return "\n".join(lines)


def _commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


# --- main -------------------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("MQTT_BENCH_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--redis-url", default=DEFAULT_REDIS)
    p.add_argument("--only", default="", help="comma-separated phases: idle, throughput, sets")
    p.add_argument("--duration", type=float, default=20, help="measured seconds of the throughput")
    p.add_argument("--warmup", type=float, default=3, help="seconds of throughput before measuring")
    p.add_argument("--window", type=int, default=10, help="QoS 1 publishes in flight per device")
    p.add_argument("--clients", type=int, default=1, help="load-generator processes for the throughput")
    p.add_argument("--idle", type=int, default=10_000, help="idle devices over plain TCP")
    p.add_argument("--tls", type=int, default=2_000, help="idle devices over TLS, on top of them")
    p.add_argument("--concurrency", type=int, default=200, help="connects in progress at once")
    p.add_argument("--keepalive", type=int, default=300, help="keepalive of the idle connections")
    p.add_argument("--hold", type=float, default=10, help="seconds the idle connections are held")
    p.add_argument("--set-devices", type=int, default=1000, help="devices connected during the sets")
    p.add_argument("--sets", type=int, default=500, help="cloud sets measured")
    p.add_argument("--set-warmup", type=int, default=20, help="cloud sets before measuring")
    p.add_argument("--wait-quiet", type=float, default=20, help="wait up to this long for other load")
    p.add_argument("--keep", action="store_true", help="keep the database and the server's log")
    p.add_argument("--results", help="where the table goes (default bench/results/mqtt-<date>.txt)")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    phases = set(filter(None, args.only.split(","))) or {"idle", "throughput", "sets"}
    _, db_name = fleet.split_url(args.database_url)
    if db_name in ("test", "postgres", "template0", "template1") or db_name.startswith("test"):
        raise SystemExit(f"refusing to recreate the {db_name!r} database; choose another --database-url")
    nofile = raise_nofile(args.idle + args.tls + 4096)
    if nofile < args.idle + args.tls + 512:
        log(f"warning: RLIMIT_NOFILE is {nofile}: not every idle connection can be opened")
    workdir = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    procs = Processes(workdir)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    busy = background_busy(1.0)
    report: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(),
            "rlimit_nofile": nofile,
            "background_busy_pct_before": round(busy, 1),
        },
        "config": {k: v for k, v in vars(args).items() if k not in ("database_url", "keep", "results")},
        "results": {},
    }
    r = report["results"]
    failed = False
    connector_id = None
    try:
        env = server_env(database_url=args.database_url, redis_url=args.redis_url,
                         channel_prefix=f"mqttbench{secrets.token_hex(3)}", workdir=workdir)  # fmt: skip
        # This process makes the cloud sets: the same settings as the server (Redis, prefix).
        shared = ("DATABASE_URL", "REDIS_URL", "CHANNEL_PREFIX", "DEVICE_API_DOMAIN", "MURANO_VAR_DIR",
                  "SECRET_KEY", "DJANGO_SETTINGS_MODULE")  # fmt: skip
        os.environ.update({k: env[k] for k in shared})
        os.environ["DEBUG"] = "false"
        os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
        log(f"recreating database {db_name}")
        fleet.recreate_database(args.database_url)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        log("migrating")
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            report["machine"]["postgresql"] = cursor.fetchone()[0]
        seed = secrets.token_hex(8)
        counts = {"tp-": THROUGHPUT_DEVICES, "idle-": max(args.idle, args.set_devices), "tls-": args.tls}
        t0 = time.monotonic()
        connector_id, devices = create_world(counts, seed)
        seconds = time.monotonic() - t0
        log(f"connector {connector_id}: {sum(counts.values()):,} token devices in {seconds:.1f} s")
        connection.close()

        plain_port, tls_port = free_port(), free_port()
        server_environment = {**env, "MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(tls_port),
                              "MQTT_PLAIN_PORT": str(plain_port)}  # fmt: skip
        log(f"starting runmqtt: plain TCP :{plain_port}, TLS :{tls_port}")
        server = procs.start("runmqtt", [sys.executable, "manage.py", "runmqtt"], server_environment)
        wait_port(plain_port, server, procs)
        wait_port(tls_port, server, procs)
        time.sleep(1)
        r["server"] = {"rss_start_mb": round(rss_mb(server.pid), 1)}
        ca = workdir / "var" / "tls" / "server-ca.pem"
        tls_context = ssl.create_default_context(cafile=str(ca))
        server_hostname = f"{connector_id}.{DOMAIN}"

        def quiet(name: str) -> None:
            level = wait_quiet(args.wait_quiet)
            if level > 10:
                log(f"  the machine is still {level:.0f}% busy before {name}")

        if "idle" in phases:
            quiet("idle")
            plain = [(i, t) for i, t, _ in devices["idle-"][: args.idle]]
            tls = [(i, t) for i, t, _ in devices["tls-"]]
            r["idle"] = asyncio.run(
                idle_phase(args, plain_port, tls_port, plain, tls, server.pid, tls_context, server_hostname)
            )
            wait_server_quiet(server.pid)
            r["server"]["rss_after_idle_mb"] = round(rss_mb(server.pid), 1)

        if "throughput" in phases:
            quiet("throughput")
            log(f"throughput: {THROUGHPUT_DEVICES} devices, window {args.window}, {args.clients} client "
                f"process(es), {args.warmup:g} + {args.duration:g} s")  # fmt: skip
            tp = [(i, t) for i, t, _ in devices["tp-"]]
            t = throughput(args, plain_port, tp, server.pid)
            wait_server_quiet(server.pid)
            t["history_points"] = history_count(connector_id, "tp-")
            connection.close()
            t["no_loss"] = t["history_points"] == t["acks_total"] and t["unacked"] == 0
            r["throughput"] = t
            log(f"  CPU seconds in the window: {t['cpu_s']}")
            log(f"  {t['publishes_per_s']:,.0f} publishes/s, PUBACK p50 {t['puback_p50_ms']} ms "
                f"p99 {t['puback_p99_ms']} ms, server {t['server_cpu_ms_per_publish']} ms CPU/publish "
                f"({t['server_busy_cores']} cores), stored {t['history_points']:,} / acked "
                f"{t['acks_total']:,} / sent {t['sent']:,}")  # fmt: skip

        if "sets" in phases:
            quiet("sets")
            set_devices = devices["idle-"][: args.set_devices]
            r["sets"] = s = asyncio.run(set_phase(args, plain_port, set_devices, server.pid))
            log(f"  p50 {s['p50_ms']} ms p95 {s['p95_ms']} ms p99 {s['p99_ms']} ms max {s['max_ms']} ms, "
                f"{s['timeouts']} timeouts")  # fmt: skip

        if server.poll() is not None:
            raise RuntimeError(f"runmqtt exited with {server.returncode}:\n{procs.tail('runmqtt')}")
        r["server"].update({
            "rss_end_mb": round(rss_mb(server.pid), 1),
            "cpu_total_s": round(proc_cpu_s(server.pid), 1),
            "threads": threads_of(server.pid),
        })  # fmt: skip
        server_log = procs.tail("runmqtt", 400).splitlines()
        r["server"]["log_tracebacks"] = sum(1 for line in server_log if "Traceback" in line)
    except BaseException:
        failed = True
        log(f"failed: the server's log is in {workdir}")
        raise
    finally:
        procs.stop_all()
        _cleanup(args, connector_id, db_name, keep=args.keep or failed)
        if failed or args.keep:
            log(f"kept the server's log and var dir in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    text = report_text(report)
    print("\n" + text)
    out = Path(args.results) if args.results else RESULTS_DIR / f"mqtt-{datetime.now(UTC):%Y-%m-%d}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n\nconfig: " + repr(report["config"]) + "\n")
    log(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    statuses = [line for line in text.splitlines() if line.endswith("FAIL")]
    return 1 if statuses else 0


def _cleanup(args, connector_id: str | None, db_name: str, keep: bool) -> None:
    """The connector's recent events leave Redis; the database is dropped unless kept."""
    with contextlib.suppress(Exception):
        import redis

        if connector_id:
            redis.Redis.from_url(args.redis_url).delete(f"murano:events:{connector_id}")
    if keep:
        log(f"kept database {db_name}")
        return
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    admin_url, _ = fleet.split_url(args.database_url)
    with fleet.psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    log(f"dropped database {db_name} (--keep keeps it)")


if __name__ == "__main__":
    sys.exit(main())
