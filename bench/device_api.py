#!/usr/bin/env python
"""Device API benchmark on the production topology, on loopback.

    .venv/bin/python bench/device_api.py [--workers 4] [--duration 4 --rounds 3] [--idle-polls 5000,10000]

What it does, in order:

1. drops and recreates a PostgreSQL database (``bench_murano``), migrates it, creates an account;
2. starts the production pieces with ``DATABASE_URL``/``REDIS_URL``: a gunicorn pool of sync
   workers (``murano.wsgi:application``, ``deploy/gunicorn.conf.py``) for short requests and ONE
   Daphne process (``murano.asgi:application``) for long polls;
3. through the management API: an API token, a connector with devmode on, resources ``temp``
   (number, reported by devices), ``cmd`` and ``cfg`` (strings, settable from the cloud);
4. provisions devices: the 64 load devices by ``POST /provision/activate`` (each connection of
   the load generator gets its own token), the long-poll devices (up to 10,000) in bulk with
   known tokens, the way a manufacturing process whitelists devices with a key. They are seeded
   as devices that have talked to this devmode connector before (``devmode`` already flagged):
   the idle-poll phase measures a fleet reconnecting, not each device's one-time first contact
   (whose flag is one committed UPDATE);
5. measures with wrk (one thread per connection, so each connection carries its own token):
   the trivial ``/healthz`` view, device writes, reads and activations on the gunicorn pool
   (a warm-up, then ``--rounds`` rounds; the median round is reported, all are kept);
   then with a small asyncio client: long-poll wake latency (poll on Daphne, cloud set through
   gunicorn) and N concurrent idle long polls held by Daphne, each on three aliases with a
   gateway's oversized ``Request-Timeout`` (``IDLE_POLL``) (time until all are registered,
   Daphne's RSS while holding them);
6. prints a table and writes ``bench/results/device_api.json``; stops every process it started,
   also on Ctrl-C or error.

The load generator runs on the same cores as the servers, PostgreSQL and Redis: figures are a
floor for what the same machine does with the load coming from elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = ROOT / "bench" / "results" / "device_api.json"
DOMAIN = "devices.localhost"

try:  # The bench talks to PostgreSQL and Redis with the project's own client libraries.
    import psycopg
    import redis
    import redis.asyncio as aioredis
except ImportError:  # pragma: no cover - started with the wrong interpreter
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    raise

TARGETS = {
    "writes_per_s": (">=", 1000),
    "writes_to_hello": (">=", 0.25),
    "reads_per_s": (">=", 1500),
    "activations_per_s": (">=", 300),
    "wake_p99_ms": ("<", 50),
    "idle_5000_accept_s": ("<=", 10),
    "idle_5000_daphne_rss_mb": ("<", 400),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ---------------------------------------------------------------------------------


def _child_setup() -> None:
    """In each child: die with the bench (PR_SET_PDEATHSIG) and keep the raised fd limit."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Processes:
    """Every process the bench starts, stopped (process group first SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        out = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 8.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:  # Whatever is left in the group (gunicorn workers, stuck children).
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None and name in ("gunicorn", "daphne"):
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_servers(
    procs: Processes, *, wsgi_port: int, asgi_port: int, workers: int, wsgi_env: dict, asgi_env: dict,
    wsgi_app: str = "murano.wsgi:application", asgi_app: str = "murano.asgi:application",
) -> tuple[subprocess.Popen, subprocess.Popen]:  # fmt: skip
    """The production pair: gunicorn (the shipped config, sync workers) and one Daphne."""
    gunicorn = procs.start(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "--workers", str(workers), "--bind", f"127.0.0.1:{wsgi_port}", wsgi_app],
        wsgi_env,
    )  # fmt: skip
    daphne = procs.start(
        "daphne",
        [sys.executable, "-m", "daphne", "-v", "0", "-e",
         f"tcp:port={asgi_port}:interface=127.0.0.1:backlog=4096", asgi_app],
        asgi_env,
    )  # fmt: skip
    return gunicorn, daphne


def wait_http(port: int, path: str, timeout: float, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                if resp.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f} s")


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry))
    return sorted(found)


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return (total - idle) / _TICK, total / _TICK


class CpuMeter:
    """CPU seconds per component between ``start()`` and ``stop()``: the gunicorn pool, Daphne,
    PostgreSQL, Redis, wrk, this bench, and everything else on the machine ("other")."""

    def __init__(self, groups: dict[str, int]):
        self.groups = groups  # name -> process-group id (our children run in their own sessions)

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        snap = {}
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            rest = stat.rsplit(")", 1)[1].split()
            pid, pgrp = int(entry), int(rest[2])
            seconds = (int(rest[11]) + int(rest[12])) / _TICK
            name = next((n for n, g in self.groups.items() if g == pgrp), None)
            if name is None:
                if pid == me:
                    name = "bench"
                elif comm.startswith("postgres"):
                    name = "postgres"
                elif comm.startswith("redis-server"):
                    name = "redis"
                elif comm == "wrk":
                    name = "wrk"
                else:
                    name = "other"
            snap[pid] = (name, seconds)
        return snap

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.busy0, self.total0 = _machine_busy()
        self.snap0 = self._snapshot()

    def stop(self, reaped: dict[str, float] | None = None) -> dict:
        """``reaped``: CPU seconds of children that exited meanwhile (wrk), by component."""
        busy1, total1 = _machine_busy()
        snap1 = self._snapshot()
        elapsed = time.monotonic() - self.t0
        used: dict[str, float] = {}
        for pid, (name, seconds) in snap1.items():
            before = self.snap0.get(pid)
            delta = seconds - (before[1] if before and before[0] == name else 0.0)
            used[name] = used.get(name, 0.0) + max(0.0, delta)
        for name, seconds in (reaped or {}).items():
            used[name] = used.get(name, 0.0) + seconds
        busy = busy1 - self.busy0
        known = sum(v for k, v in used.items() if k != "other")
        used["other"] = max(0.0, busy - known)  # includes processes that exited meanwhile, kernel
        cores = (total1 - self.total0) / elapsed if elapsed else float(os.cpu_count() or 1)
        return {
            "elapsed_s": elapsed,
            "machine_busy_pct": 100 * busy / (total1 - self.total0) if total1 > self.total0 else 0.0,
            "cores": cores,
            "cpu_s": {k: round(v, 3) for k, v in sorted(used.items())},
        }


def background_busy(seconds: float = 1.0) -> float:
    busy0, total0 = _machine_busy()
    time.sleep(seconds)
    busy1, total1 = _machine_busy()
    return 100 * (busy1 - busy0) / max(1e-9, total1 - total0)


def wait_quiet(limit: float, threshold: float = 10.0) -> float:
    """Wait (at most ``limit`` s) until the machine is quiet between phases; returns busy %."""
    deadline = time.monotonic() + limit
    busy = background_busy(0.5)
    while busy > threshold and time.monotonic() < deadline:
        busy = background_busy(1.0)
    return busy


# --- setup -------------------------------------------------------------------------------------


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            # Root may raise the hard limit too.
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            except (ValueError, OSError):
                pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing it with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is required (apt-get install wrk)")


def recreate_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    if "://" not in base:  # admin url without a database name
        base = admin_url.rstrip("/")
    return f"{base}/{name}"


def server_versions(admin_url: str, redis_url: str) -> dict:
    versions = {}
    try:
        with psycopg.connect(admin_url) as conn:
            versions["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            versions["pg_max_connections"] = int(conn.execute("SHOW max_connections").fetchone()[0])
            versions["pg_synchronous_commit"] = conn.execute("SHOW synchronous_commit").fetchone()[0]
    except psycopg.Error:
        pass
    try:
        versions["redis"] = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    except redis.RedisError:
        pass
    return versions


def run_manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


SEED_DEVICES = r"""
import hashlib, json, sys
import django
django.setup()
from django.utils import timezone
from devices import credentials
from devices.models import Device, Lifecycle
connector_id, count, seed, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
now = timezone.now()
Device.objects.bulk_create(
    [
        Device(
            connector_id=connector_id, identity=f"{prefix}{i:05d}", lifecycle=Lifecycle.PROVISIONED,
            auth_type="token", provisioned_at=now, devmode=True,
            token_hash=credentials.token_hash(hashlib.sha1(f"{seed}:{i}".encode()).hexdigest()),
        )
        for i in range(count)
    ],
    batch_size=2000,
)
rows = Device.objects.filter(connector_id=connector_id, identity__startswith=prefix)
print(json.dumps(dict(rows.values_list("identity", "pk"))))
"""


def seed_token(seed: str, i: int) -> str:
    return hashlib.sha1(f"{seed}:{i}".encode()).hexdigest()


def api(port: int, method: str, path: str, auth: str, payload=None, host="127.0.0.1"):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Authorization", auth)
    req.add_header("Host", host)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
            return resp.status, (json.loads(body) if body else None)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None


# --- wrk ---------------------------------------------------------------------------------------

WRK_LUA = r"""
-- Generated by bench/device_api.py. One wrk thread = one connection = one device token.
local mode = "@MODE@"
local host = "@HOST@"
local tokens_file = "@TOKENS@"
local phase = "@PHASE@"
local tokens = {}
local counter = 0

function setup(thread)
  if #tokens == 0 and tokens_file ~= "" then
    for line in io.lines(tokens_file) do tokens[#tokens + 1] = line end
  end
  counter = counter + 1
  thread:set("tid", counter)
  if #tokens > 0 then thread:set("token", tokens[((counter - 1) % #tokens) + 1]) end
end

local n = 0
local fixed = nil
local headers = nil

function init(args)
  headers = {["Host"] = host}
  if mode == "write" or mode == "read" then headers["X-Exosite-CIK"] = token end
  if mode == "write" or mode == "activate" then
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
  end
  if mode == "read" then fixed = wrk.format("GET", "/onep:v1/stack/alias?temp", headers) end
  if mode == "hello" then fixed = wrk.format("GET", "/healthz", headers) end
end

function request()
  if fixed then return fixed end
  n = n + 1
  if mode == "write" then
    return wrk.format("POST", "/onep:v1/stack/alias", headers, "temp=" .. (n % 50) .. "." .. tid)
  end
  return wrk.format("POST", "/provision/activate", headers, "id=act-" .. phase .. "-" .. tid .. "-" .. n)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"non_2xx_3xx":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def run_wrk(
    wrk: str,
    procs: Processes,
    workdir: Path,
    *,
    mode: str,
    port: int,
    host: str,
    connections: int,
    duration: float,
    tokens: list[str] | None = None,
    phase: str = "m",
) -> dict:
    tokens_path = ""
    if tokens:
        tokens_path = str(workdir / f"tokens-{mode}.txt")
        Path(tokens_path).write_text("\n".join(tokens) + "\n")
    script = workdir / f"{mode}-{phase}.lua"
    script.write_text(
        WRK_LUA.replace("@MODE@", mode)
        .replace("@HOST@", host)
        .replace("@TOKENS@", tokens_path)
        .replace("@PHASE@", phase)
    )
    argv = [
        wrk,
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_child_setup,
    )
    procs.procs.append(("wrk", proc))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out, _ = proc.communicate(timeout=duration + 60)
    finally:
        procs.stop(proc, grace=2)
        procs.procs.remove(("wrk", proc))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary:\n{out}")
    stats = json.loads(line[len("WRKJSON ") :])
    stats["wrk_cpu_s"] = wrk_cpu
    seconds = stats["duration_us"] / 1e6
    stats["rps"] = stats["requests"] / seconds if seconds else 0.0
    stats["errors"] = (
        stats["connect_errors"]
        + stats["read_errors"]
        + stats["write_errors"]
        + stats["timeouts"]
        + stats["non_2xx_3xx"]
    )
    return stats


# --- asyncio HTTP client (long polls, cloud sets) ----------------------------------------------

# Idle polls are shaped like a real gateway's (issue #18): several aliases, and its timeout in
# seconds × 1000, which the server serves as its maximum (300 s; the bench holds them 3 s).
IDLE_POLL = (300_000_000, "cmd&temp&cfg")


def http_request(method: str, path: str, headers: dict, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    for name, value in headers.items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif status in (204, 304) or status < 200:
        body = b""
    else:
        body = await reader.read()
    return status, headers, body


async def http_call(
    port: int, method: str, path: str, headers: dict, body: bytes = b"", timeout: float = 30
) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(http_request(method, path, headers, body))
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        writer.close()


class Client:
    """What the asyncio side needs to talk to the servers and watch Daphne's subscriptions."""

    def __init__(
        self,
        *,
        wsgi_port: int,
        asgi_port: int,
        connector_id: str,
        api_key: str,
        redis_url: str,
        channel_prefix: str,
    ):
        self.wsgi_port = wsgi_port
        self.asgi_port = asgi_port
        self.connector_id = connector_id
        self.device_host = f"{connector_id}.{DOMAIN}"
        self.api_key = api_key
        self.redis = aioredis.Redis.from_url(redis_url)
        self.group_prefix = f"{channel_prefix}__group__device_wake."

    def poll_bytes(self, token: str, timeout_ms: int, aliases: str = "cmd") -> bytes:
        return http_request(
            "GET",
            f"/onep:v1/stack/alias?{aliases}",
            {
                "Host": self.device_host,
                "X-Exosite-CIK": token,
                "Request-Timeout": str(timeout_ms),
            },
        )

    async def cloud_set(self, identity: str, value: str) -> tuple[int, float]:
        start = time.perf_counter()
        status, _, body = await http_call(
            self.wsgi_port,
            "PATCH",
            f"/api/v1/connectors/{self.connector_id}/devices/{identity}/state/",
            {
                "Host": "127.0.0.1",
                "Authorization": f"Token {self.api_key}",
                "Content-Type": "application/json",
            },
            json.dumps({"cmd": value}).encode(),
        )
        return status, time.perf_counter() - start

    async def activate(self, identity: str) -> str:
        status, _, body = await http_call(
            self.wsgi_port,
            "POST",
            "/provision/activate",
            {"Host": self.device_host, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            f"id={identity}".encode(),
        )
        if status != 200 or len(body) != 40:
            raise RuntimeError(f"activation of {identity}: {status} {body[:200]!r}")
        return body.decode()

    async def subscribed(self, device_pk: int) -> bool:
        result = await self.redis.pubsub_numsub(f"{self.group_prefix}{device_pk}")
        return bool(result and result[0][1])

    async def subscribed_count(self) -> int:
        return len(await self.redis.pubsub_channels(f"{self.group_prefix}*"))


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


async def wake_latency(client: Client, devices: list[tuple[str, int, str]], samples: int) -> dict:
    """Sequential samples: a long poll waits on Daphne (its wake subscription is seen in Redis),
    then a cloud set goes through gunicorn; latency = just before the PATCH → poll answered."""
    wakes, patches, failures = [], [], 0
    for n in range(samples):
        identity, pk, token = devices[n % len(devices)]
        reader, writer = await asyncio.open_connection("127.0.0.1", client.asgi_port)
        try:
            writer.write(client.poll_bytes(token, 20_000))
            await writer.drain()
            deadline = time.monotonic() + 5
            while not await client.subscribed(pk):
                if time.monotonic() > deadline:
                    raise RuntimeError("long poll never subscribed to its wake group")
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.005)  # let the post-subscription re-check finish
            value = f"v{n}-{secrets.token_hex(3)}"
            start = time.perf_counter()
            patch = asyncio.ensure_future(client.cloud_set(identity, value))
            status, _, body = await asyncio.wait_for(read_response(reader), 15)
            woke = time.perf_counter() - start
            patch_status, patch_seconds = await patch
            if status != 200 or body != f"cmd={value}".encode() or patch_status != 200:
                failures += 1
                continue
            wakes.append(woke * 1000)
            patches.append(patch_seconds * 1000)
        finally:
            writer.close()
    return {
        "samples": len(wakes),
        "failures": failures,
        "p50_ms": percentile(wakes, 50),
        "p99_ms": percentile(wakes, 99),
        "max_ms": max(wakes, default=0),
        "patch_p50_ms": percentile(patches, 50),
        "patch_p99_ms": percentile(patches, 99),
    }


async def idle_long_polls(
    client: Client,
    devices: list[tuple[str, int, str]],
    count: int,
    *,
    daphne_pid: int,
    accept_timeout: float,
    hold: float,
    connect_concurrency: int,
    probes: int,
) -> dict:
    """Open ``count`` long polls (one device each) and keep them waiting; time until Daphne has
    registered every one of them (its wake subscriptions, counted in Redis)."""
    sem = asyncio.Semaphore(connect_concurrency)
    writers: dict[int, asyncio.StreamWriter] = {}
    answered: dict[int, asyncio.Future] = {}
    early: dict[str, int] = {}
    connect_errors = 0
    loop = asyncio.get_running_loop()
    sent = 0
    all_sent_at = None
    start = time.perf_counter()

    async def one(i: int):
        nonlocal connect_errors, sent, all_sent_at
        async with sem:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", client.asgi_port)
                writer.write(client.poll_bytes(devices[i][2], *IDLE_POLL))
                await writer.drain()
            except OSError:
                connect_errors += 1
                answered[i].set_result("connect_error")
                return
        writers[i] = writer
        sent += 1
        if sent == count:
            all_sent_at = time.perf_counter() - start
        try:
            status, _, _ = await read_response(reader)
            outcome = str(status)
        except (asyncio.IncompleteReadError, ConnectionError):
            outcome = "closed"
        if not answered[i].done():
            answered[i].set_result(outcome)

    for i in range(count):
        answered[i] = loop.create_future()
    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    accepted_at, registered, rss_peak = None, 0, 0.0
    try:
        while True:
            await asyncio.sleep(0.1)
            registered = await client.subscribed_count()
            rss_peak = max(rss_peak, rss_mb(daphne_pid))
            if registered >= count:
                accepted_at = time.perf_counter() - start
                break
            if time.perf_counter() - start > accept_timeout:
                break
        held_since = time.perf_counter()
        rss_samples = []
        while time.perf_counter() - held_since < hold:
            await asyncio.sleep(0.25)
            rss_samples.append(rss_mb(daphne_pid))
        rss_hold = max(rss_samples, default=rss_mb(daphne_pid))
        fds = open_fds(daphne_pid)
        for fut in answered.values():
            if fut.done():
                early[fut.result()] = early.get(fut.result(), 0) + 1
        # Wake a few held polls while all the others keep waiting.
        probe_ms, probe_failures = [], 0
        if accepted_at is not None:
            for n in range(probes):
                i = (n * 7919) % count
                if answered[i].done():
                    continue
                # A different value each time: setting the value a device already has is no change.
                value = f"p{count}-{n}-{secrets.token_hex(3)}"
                t0 = time.perf_counter()
                status, _ = await client.cloud_set(devices[i][0], value)
                try:
                    outcome = await asyncio.wait_for(asyncio.shield(answered[i]), 10)
                except TimeoutError:
                    outcome = "timeout"
                if status == 200 and outcome == "200":
                    probe_ms.append((time.perf_counter() - t0) * 1000)
                else:
                    probe_failures += 1
    finally:
        release_start = time.perf_counter()
        for writer in writers.values():
            writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    released_s = None
    while time.perf_counter() - release_start < 60:
        if await client.subscribed_count() == 0:
            released_s = time.perf_counter() - release_start
            break
        await asyncio.sleep(0.2)
    return {
        "count": count,
        "accepted_s": accepted_at,
        "registered": registered,
        "all_sent_s": all_sent_at,
        "connect_errors": connect_errors,
        "early_responses": early,
        "daphne_rss_mb": rss_hold,
        "daphne_rss_peak_mb": max(rss_peak, rss_hold),
        "daphne_fds": fds,
        "released_s": released_s,
        "daphne_rss_after_release_mb": rss_mb(daphne_pid),
        "probe_wake_p50_ms": percentile(probe_ms, 50),
        "probe_wake_max_ms": max(probe_ms, default=0),
        "probe_samples": len(probe_ms),
        "probe_failures": probe_failures,
    }


async def activate_all(client: Client, identities: list[str]) -> list[str]:
    sem = asyncio.Semaphore(16)

    async def one(identity):
        async with sem:
            return await client.activate(identity)

    return await asyncio.gather(*(one(i) for i in identities))


# --- report ------------------------------------------------------------------------------------


def check(key: str, value) -> str:
    if key not in TARGETS:
        return ""
    if value is None or (isinstance(value, float) and value != value):
        return "MISS"
    op, limit = TARGETS[key]
    ok = {">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]
    return "ok" if ok else "MISS"


def target_text(key: str) -> str:
    if key not in TARGETS:
        return ""
    op, limit = TARGETS[key]
    return f"{op.replace('>=', '≥').replace('<=', '≤')} {limit:g}"


def fmt(value, digits=0) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def report(results: dict) -> list[tuple[str, str, str, str]]:
    r = results["results"]
    rows: list[tuple[str, str, str, str]] = []

    def add(label, value_text, key=None, value=None):
        rows.append((label, value_text, target_text(key) if key else "", check(key, value) if key else ""))

    def cpu_row(stats):
        if len(stats.get("rounds_rps", ())) > 1:
            add(
                "  rounds (req/s; the median round is shown)",
                ", ".join(f"{x:,.0f}" for x in stats["rounds_rps"]),
            )
        per = stats.get("cpu_ms_per_request")
        if not per:
            return
        app = per.get("gunicorn", 0) + per.get("daphne", 0)
        add(
            "  CPU ms/req: app / postgres / redis / wrk",
            f"{app:.2f} / {per.get('postgres', 0):.2f} / {per.get('redis', 0):.2f} / {per.get('wrk', 0):.2f}",
        )
        if stats.get("cpu_bound_ceiling_rps"):
            add("  CPU-bound ceiling on these cores (req/s)", fmt(stats["cpu_bound_ceiling_rps"]))
        cpu = stats["cpu"]
        other = 100 * cpu["cpu_s"].get("other", 0) / max(1e-9, cpu["elapsed_s"] * cpu["cores"])
        add(
            "  machine busy / other processes (% of all cores)",
            f"{cpu['machine_busy_pct']:.0f}% / {other:.0f}%",
        )

    c = results["config"]
    hello = r.get("hello")
    if hello:
        add(f"hello /healthz req/s ({c['connections']} conns, gunicorn)", fmt(hello["rps"]))
        add("  hello latency p50 / p99 (ms)", f"{hello['p50_us'] / 1000:.1f} / {hello['p99_us'] / 1000:.1f}")
        cpu_row(hello)
    w = r.get("writes")
    if w:
        add(f"writes/s ({c['connections']} conns, own token each)", fmt(w["rps"]), "writes_per_s", w["rps"])
        add("  write latency p50 / p99 (ms)", f"{w['p50_us'] / 1000:.1f} / {w['p99_us'] / 1000:.1f}")
        add("  errors in all rounds (socket + non-2xx)", fmt(w.get("rounds_errors", w["errors"])))
        cpu_row(w)
    if w and hello:
        ratio = w["rps"] / hello["rps"]
        add("writes/s ÷ hello/s", f"{ratio:.2f}", "writes_to_hello", ratio)
    rd = r.get("reads")
    if rd:
        add(f"reads/s ({c['connections']} conns)", fmt(rd["rps"]), "reads_per_s", rd["rps"])
        add("  read latency p50 / p99 (ms)", f"{rd['p50_us'] / 1000:.1f} / {rd['p99_us'] / 1000:.1f}")
        add("  errors in all rounds (socket + non-2xx)", fmt(rd.get("rounds_errors", rd["errors"])))
        cpu_row(rd)
    act = r.get("activations")
    if act:
        add(f"activations/s ({c['connections']} conns)", fmt(act["rps"]), "activations_per_s", act["rps"])
        add("  activation latency p50 / p99 (ms)", f"{act['p50_us'] / 1000:.1f} / {act['p99_us'] / 1000:.1f}")
        add("  errors in all rounds (socket + non-2xx)", fmt(act.get("rounds_errors", act["errors"])))
        cpu_row(act)
    wake = r.get("wake")
    if wake:
        add("long-poll wake latency p50 (ms)", fmt(wake["p50_ms"], 1))
        add("long-poll wake latency p99 (ms)", fmt(wake["p99_ms"], 1), "wake_p99_ms", wake["p99_ms"])
        add(
            "  of which the cloud-set PATCH p50 / p99 (ms)",
            f"{fmt(wake['patch_p50_ms'], 1)} / {fmt(wake['patch_p99_ms'], 1)}",
        )
        add("  samples / failures", f"{wake['samples']} / {wake['failures']}")
    for idle in r.get("idle", []):
        n = idle["count"]
        key = "idle_5000_accept_s" if n == 5000 else None
        add(
            f"{n:,} idle long polls: all accepted in (s)", fmt(idle["accepted_s"], 1), key, idle["accepted_s"]
        )
        if idle["accepted_s"] is None:
            add("  registered before giving up", fmt(idle["registered"]))
        key = "idle_5000_daphne_rss_mb" if n == 5000 else None
        add(f"  Daphne RSS holding {n:,} (MB)", fmt(idle["daphne_rss_mb"], 0), key, idle["daphne_rss_mb"])
        add(
            "  wake p50 / max while holding (ms)",
            f"{fmt(idle['probe_wake_p50_ms'], 1)} / {fmt(idle['probe_wake_max_ms'], 1)}",
        )
        bad = sum(v for k, v in idle["early_responses"].items()) + idle["connect_errors"]
        add("  early answers / connect errors", f"{bad} {idle['early_responses'] or ''}".strip())
        add(
            "  released in (s), RSS after (MB)",
            f"{fmt(idle['released_s'], 1)}, {fmt(idle['daphne_rss_after_release_mb'], 0)}",
        )
    mem = r.get("memory")
    if mem:
        add("Daphne RSS idle, after load (MB)", fmt(mem["daphne_rss_mb_idle"], 0))
        add(
            f"gunicorn RSS per worker, mean / max (MB) [{c['workers']} workers]",
            f"{mem['worker_rss_mb_mean']:.0f} / {mem['worker_rss_mb_max']:.0f}",
        )
        add("gunicorn RSS total, master + workers (MB)", fmt(mem["gunicorn_rss_mb_total"], 0))
        add("gunicorn PSS total (MB, shared pages split)", fmt(mem["gunicorn_pss_mb_total"], 0))
    return rows


def print_table(results: dict) -> None:
    rows = report(results)
    m = results["machine"]
    c = results["config"]
    print()
    print(
        f"Device API benchmark — {m['cpus']} cores ({m['cpu_model']}), {m['memory_gb']} GB RAM; "
        f"load generator on the same cores"
    )
    print(
        f"gunicorn {c['workers']} sync workers (WSGI) + 1 Daphne (ASGI, {c['daphne_threads']} threads, "
        f"DB pool {c['daphne_db_pool']}); PostgreSQL {m.get('postgresql', '?')}, "
        f"Redis {m.get('redis', '?')}; {c.get('rounds', 1)} × {c['duration']:g} s per wrk phase"
    )
    widths = [max(len(r[i]) for r in rows + [("metric", "value", "target", "")]) for i in range(4)]
    header = ("metric", "value", "target", "")
    line = "-" * (sum(widths) + 9)
    print(line)
    for row in [header, None, *rows]:
        if row is None:
            print(line)
            continue
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    print(line)


# --- main --------------------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    p.add_argument("--duration", type=float, default=4, help="seconds per wrk measurement round")
    p.add_argument("--rounds", type=int, default=3, help="wrk rounds per phase; the median is reported")
    p.add_argument("--warmup", type=float, default=2, help="seconds of wrk warm-up before each")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (= threads = tokens)")
    p.add_argument("--wake-samples", type=int, default=200)
    p.add_argument(
        "--idle-polls",
        default="5000,10000",
        help="idle long-poll counts; a larger one runs only if the previous worked",
    )
    p.add_argument("--accept-timeout", type=float, default=60, help="give up registering polls after")
    p.add_argument("--hold", type=float, default=3, help="seconds to hold the idle polls")
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=500,
        help="idle polls being connected at once by the client",
    )
    p.add_argument("--daphne-threads", type=int, default=16, help="DEVICE_API_THREADS for Daphne")
    p.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/test"),
    )
    p.add_argument("--db-name", default="bench_murano")
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument(
        "--only",
        default="",
        help="comma list of phases: hello,writes,reads,activations,wake,idle (default: all)",
    )
    p.add_argument(
        "--wsgi-app",
        default="murano.wsgi:application",
        help="WSGI application for gunicorn (A/B experiments; PYTHONPATH is passed on)",
    )
    p.add_argument("--asgi-app", default="murano.asgi:application", help="ASGI application for Daphne")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before each phase wait up to this many seconds for other load to stop",
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="set up, print the addresses and keep the servers running until Ctrl-C",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the server logs (path printed)")
    p.add_argument("--results", default=str(RESULTS))
    return p.parse_args()


def main() -> int:
    args = parse_args()
    phases = set(filter(None, args.only.split(","))) or {
        "hello",
        "writes",
        "reads",
        "activations",
        "wake",
        "idle",
    }
    idle_counts = [int(x) for x in args.idle_polls.split(",") if x.strip()]
    nofile = raise_nofile(max(idle_counts, default=0) * 2 + 2048)
    if idle_counts and nofile < max(idle_counts) + 512:
        log(f"warning: RLIMIT_NOFILE is {nofile}; idle polls above {nofile - 512} will fail")
    wrk = ensure_wrk() if phases & {"hello", "writes", "reads", "activations"} else ""

    workdir = Path(tempfile.mkdtemp(prefix="bench-murano-"))
    procs = Processes(workdir)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    # Started in the background by a non-interactive shell, SIGINT arrives ignored: take it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    failed = False
    try:
        return run(args, phases, idle_counts, wrk, workdir, procs, nofile)
    except (KeyboardInterrupt, SystemExit) as exc:
        code = exc.code if isinstance(exc, SystemExit) else 130
        log(f"interrupted ({code}): stopping the servers")
        return code if isinstance(code, int) else 1
    except BaseException:
        failed = True
        raise
    finally:
        # A second Ctrl-C must not leave servers behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_all()
        if failed:
            for name in ("gunicorn", "daphne"):
                tail = procs.tail(name, 20)
                if tail:
                    print(f"--- last lines of {name}.log ---\n{tail}", file=sys.stderr)
        if args.keep_logs or failed:
            print(f"server logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def server_env(*, database_url: str, redis_url: str, channel_prefix: str, workdir: Path) -> dict:
    """The environment of the servers a bench starts: this one's, without the settings that
    would change what is measured, on the bench's own database, Redis prefix and var dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GUNICORN_"))}
    for name in (
        "TRUSTED_PROXIES",
        "DEVICE_DEFAULT_CONNECTOR",
        "DEVICE_API_THREADS",
        "CELERY_BROKER_URL",
        "CELERY_TASK_ALWAYS_EAGER",
    ):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "murano.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CHANNEL_PREFIX": channel_prefix,
            "DEVICE_API_DOMAIN": DOMAIN,
            "MURANO_VAR_DIR": str(workdir / "var"),
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_PYTHON.parent}:{os.environ.get('PATH', '')}",
        }
    )
    return env


def run(args, phases, idle_counts, wrk, workdir: Path, procs: Processes, nofile: int) -> int:
    started = time.monotonic()
    busy = background_busy(1.0)
    if busy > 10:
        log(
            f"warning: the machine is already {busy:.0f}% busy before the bench starts; "
            "figures will be lower than on a quiet machine"
        )
    channel_prefix = f"bench{secrets.token_hex(3)}"
    db_url = database_url(args.pg_admin_url, args.db_name)
    versions = server_versions(args.pg_admin_url, args.redis_url)
    base_env = server_env(
        database_url=db_url, redis_url=args.redis_url, channel_prefix=channel_prefix, workdir=workdir
    )
    # WhiteNoise warns at every start-up without a static root (production runs collectstatic).
    (workdir / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)
    wsgi_env = {**base_env, "DB_CONN_MAX_AGE": "600"}
    # Daphne: a connection pool (DEVICE_API_THREADS device threads + Django's own sync views).
    asgi_env = {
        **base_env,
        "DB_POOL_MAX_SIZE": str(args.daphne_threads + 8),
        "DEVICE_API_THREADS": str(args.daphne_threads),
    }

    log(f"database {args.db_name}: drop, create, migrate")
    recreate_database(args.pg_admin_url, args.db_name)
    run_manage(base_env, "migrate", "--noinput", "-v", "0")
    email, password = "bench@example.com", secrets.token_urlsafe(16)
    run_manage(
        base_env,
        "create_account",
        "--email",
        email,
        "--password",
        password,
        "--business",
        "Bench",
        "--role",
        "admin",
    )

    wsgi_port, asgi_port = free_port(), free_port()
    log(f"starting gunicorn ({args.workers} sync workers) on :{wsgi_port}, Daphne on :{asgi_port}")
    gunicorn, daphne = start_servers(
        procs, wsgi_port=wsgi_port, asgi_port=asgi_port, workers=args.workers, wsgi_env=wsgi_env,
        asgi_env=asgi_env, wsgi_app=args.wsgi_app, asgi_app=args.asgi_app,
    )  # fmt: skip
    wait_http(wsgi_port, "/healthz", 60, procs)
    wait_http(asgi_port, "/timestamp", 60, procs)

    basic = "Basic " + b64encode(f"{email}:{password}".encode()).decode()
    _, token = api(wsgi_port, "POST", "/api/v1/tokens/", basic, {"name": "bench"})
    api_key = token["key"]
    auth = f"Token {api_key}"
    _, connector = api(
        wsgi_port, "POST", "/api/v1/connectors/", auth, {"name": "Bench", "protocol": {"devmode": True}}
    )
    cid = connector["id"]
    if not connector["protocol"]["devmode"]:
        api(wsgi_port, "PATCH", f"/api/v1/connectors/{cid}/", auth, {"protocol": {"devmode": True}})
    api(
        wsgi_port, "POST", f"/api/v1/connectors/{cid}/resources/", auth, {"alias": "temp", "format": "number"}
    )
    for alias in ("cmd", "cfg"):
        api(
            wsgi_port,
            "POST",
            f"/api/v1/connectors/{cid}/resources/",
            auth,
            {"alias": alias, "format": "string", "settable": True},
        )
    host = f"{cid}.{DOMAIN}"

    wake_devices = 20
    seed_count = max(idle_counts, default=0) + wake_devices if {"wake", "idle"} & phases else 0
    seed = secrets.token_hex(8)
    pks = {}
    if seed_count:
        log(f"seeding {seed_count:,} provisioned long-poll devices (known tokens)")
        out = subprocess.run(
            [sys.executable, "-c", SEED_DEVICES, cid, str(seed_count), seed, "lp-"],
            cwd=ROOT,
            env=base_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{out.stderr}")
        pks = json.loads(out.stdout.strip().splitlines()[-1])
    lp_devices = [(f"lp-{i:05d}", pks.get(f"lp-{i:05d}", 0), seed_token(seed, i)) for i in range(seed_count)]

    client = Client(
        wsgi_port=wsgi_port,
        asgi_port=asgi_port,
        connector_id=cid,
        api_key=api_key,
        redis_url=args.redis_url,
        channel_prefix=channel_prefix,
    )
    log(f"activating {args.connections} load devices over HTTP")
    tokens = asyncio.run(activate_all(client, [f"load-{i:03d}" for i in range(args.connections)]))
    if args.serve:
        return serve_forever(
            procs,
            workdir,
            wsgi_port=wsgi_port,
            asgi_port=asgi_port,
            host=host,
            api_key=api_key,
            cid=cid,
            tokens=tokens,
            gunicorn=gunicorn,
            daphne=daphne,
        )

    machine = {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
        "rlimit_nofile": nofile,
        "load_generator": "wrk + asyncio client on the same cores",
        "background_busy_pct_before": round(busy, 1),
    }
    config = {
        "workers": args.workers,
        "connections": args.connections,
        "duration": args.duration,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "daphne_threads": args.daphne_threads,
        "daphne_db_pool": args.daphne_threads + 8,
        "wake_samples": args.wake_samples,
        "idle_polls": idle_counts,
        "gunicorn_db_conn_max_age": 600,
        "wsgi_app": args.wsgi_app,
        "asgi_app": args.asgi_app,
    }
    results = {"machine": machine, "config": config, "results": {}, "targets": {}}
    r = results["results"]

    meter = CpuMeter({"gunicorn": gunicorn.pid, "daphne": daphne.pid})

    def quiet(name):
        if args.wait_quiet > 0:
            busy = wait_quiet(args.wait_quiet)
            if busy > 10:
                log(f"  the machine is still {busy:.0f}% busy before {name}")

    def wrk_phase(name, mode, port, host_header, tokens_=None):
        quiet(name)

        def wrk_run(duration, phase):
            return run_wrk(
                wrk,
                procs,
                workdir,
                mode=mode,
                port=port,
                host=host_header,
                connections=args.connections,
                duration=duration,
                tokens=tokens_,
                phase=phase,
            )

        if args.warmup > 0:
            wrk_run(args.warmup, "w")
        log(f"{name}: wrk {args.connections} connections, {args.rounds} × {args.duration:g} s")
        rounds = []
        for n in range(args.rounds):
            meter.start()
            stats = wrk_run(args.duration, f"m{n}")
            stats["cpu"] = cpu = meter.stop({"wrk": stats["wrk_cpu_s"]})
            stats["cpu_ms_per_request"] = per = {
                k: round(1000 * v / max(1, stats["requests"]), 3) for k, v in cpu["cpu_s"].items()
            }
            # What the servers + wrk cost per request, and the rate the cores could sustain at
            # that cost: a figure other load on the machine disturbs less than the rate itself.
            own = sum(v for k, v in per.items() if k not in ("other", "bench"))
            stats["cpu_ms_per_request_total"] = round(own, 3)
            stats["cpu_bound_ceiling_rps"] = round(1000 * cpu["cores"] / own) if own else None
            rounds.append(stats)
            procs.check_alive()
        # The median round by rate (robust to one round disturbed by other load); all are kept.
        stats = dict(sorted(rounds, key=lambda x: x["rps"])[len(rounds) // 2])
        stats["rounds_rps"] = [round(x["rps"], 1) for x in rounds]
        stats["rounds_errors"] = sum(x["errors"] for x in rounds)
        log(
            f"  {stats['rps']:,.0f}/s (rounds {', '.join(f'{x:,.0f}' for x in stats['rounds_rps'])}) "
            f"p50 {stats['p50_us'] / 1000:.1f} ms p99 {stats['p99_us'] / 1000:.1f} ms "
            f"errors {stats['rounds_errors']}"
        )
        procs.check_alive()
        r[name] = stats

    if "hello" in phases:
        wrk_phase("hello", "hello", wsgi_port, "127.0.0.1")
    if "writes" in phases:
        wrk_phase("writes", "write", wsgi_port, host, tokens)
    if "reads" in phases:
        wrk_phase("reads", "read", wsgi_port, host, tokens)
    if "activations" in phases:
        wrk_phase("activations", "activate", wsgi_port, host)

    workers = children_of(gunicorn.pid)
    worker_rss = [rss_mb(pid) for pid in workers]
    r["memory"] = {
        "gunicorn_master_rss_mb": rss_mb(gunicorn.pid),
        "worker_rss_mb": worker_rss,
        "worker_rss_mb_mean": statistics.mean(worker_rss) if worker_rss else 0.0,
        "worker_rss_mb_max": max(worker_rss, default=0.0),
        "gunicorn_rss_mb_total": rss_mb(gunicorn.pid) + sum(worker_rss),
        "gunicorn_pss_mb_total": pss_mb(gunicorn.pid) + sum(pss_mb(pid) for pid in workers),
        "daphne_rss_mb_idle": rss_mb(daphne.pid),
    }

    async def async_phases():
        try:
            if "wake" in phases:
                log(f"long-poll wake latency: {args.wake_samples} samples (poll on Daphne, set via gunicorn)")
                # Warm-up: the first cloud set in each gunicorn worker loads DRF's code paths.
                await wake_latency(client, lp_devices[-wake_devices:], 4 * args.workers)
                quiet("wake")
                meter.start()
                wake = await wake_latency(client, lp_devices[-wake_devices:], args.wake_samples)
                wake["cpu"] = meter.stop()
                log(
                    f"  p50 {wake['p50_ms']:.1f} ms p99 {wake['p99_ms']:.1f} ms "
                    f"(PATCH p50 {wake['patch_p50_ms']:.1f} ms), failures {wake['failures']}"
                )
                r["wake"] = wake
            if "idle" in phases:
                r["idle"] = []
                for count in idle_counts:
                    quiet("idle")
                    log(f"idle long polls: opening {count:,}")
                    meter.start()
                    idle = await idle_long_polls(
                        client,
                        lp_devices,
                        count,
                        daphne_pid=daphne.pid,
                        accept_timeout=args.accept_timeout,
                        hold=args.hold,
                        connect_concurrency=args.connect_concurrency,
                        probes=20,
                    )
                    idle["cpu"] = meter.stop()
                    r["idle"].append(idle)
                    log(
                        f"  accepted in {fmt(idle['accepted_s'], 1)} s "
                        f"({idle['registered']:,} registered), Daphne RSS {idle['daphne_rss_mb']:.0f} MB, "
                        f"released in {fmt(idle['released_s'], 1)} s"
                    )
                    procs.check_alive()
                    if idle["accepted_s"] is None or idle["connect_errors"] or idle["early_responses"]:
                        log("  not all polls were held: skipping larger counts")
                        break
        finally:
            await client.redis.aclose()

    asyncio.run(async_phases())
    try:  # the connector's recent-events buffer is the only key the bench leaves in Redis
        redis.Redis.from_url(args.redis_url).delete(f"murano:events:{cid}")
    except redis.RedisError:
        pass
    r["memory"]["daphne_rss_mb_end"] = rss_mb(daphne.pid)

    results["targets"] = {
        key: {"target": target_text(key), "status": status}
        for key, status in _target_statuses(results).items()
    }
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    print_table(results)
    print(f"total time {results['elapsed_s']:.0f} s")
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


def serve_forever(
    procs: Processes, workdir: Path, *, wsgi_port, asgi_port, host, api_key, cid, tokens, gunicorn, daphne
) -> int:
    """``--serve``: leave the servers running for profiling or manual tests, until Ctrl-C."""
    token_file = workdir / "tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    print(
        f"""
gunicorn (WSGI)  http://127.0.0.1:{wsgi_port}   master pid {gunicorn.pid}, workers {children_of(gunicorn.pid)}
Daphne (ASGI)    http://127.0.0.1:{asgi_port}   pid {daphne.pid}
connector        {cid}   device Host: {host}
API token        {api_key}
device tokens    {token_file}   (one per line; identities load-000...)
logs             {workdir}
  curl -H 'Host: {host}' -H 'X-Exosite-CIK: {tokens[0]}' -d temp=21 http://127.0.0.1:{wsgi_port}/onep:v1/stack/alias
  curl -H 'Host: {host}' -H 'X-Exosite-CIK: {tokens[0]}' -H 'Request-Timeout: 30000' \\
       'http://127.0.0.1:{asgi_port}/onep:v1/stack/alias?cmd&temp&cfg'
  curl -X PATCH -H 'Authorization: Token {api_key}' -H 'Content-Type: application/json' \\
       -d '{{"cmd": "go"}}' http://127.0.0.1:{wsgi_port}/api/v1/connectors/{cid}/devices/load-000/state/
Ctrl-C stops everything.""",
        flush=True,
    )
    while True:
        time.sleep(1)
        procs.check_alive()


def _target_statuses(results: dict) -> dict:
    r = results["results"]
    values = {}
    if "writes" in r:
        values["writes_per_s"] = r["writes"]["rps"]
    if "writes" in r and "hello" in r:
        values["writes_to_hello"] = r["writes"]["rps"] / r["hello"]["rps"]
    if "reads" in r:
        values["reads_per_s"] = r["reads"]["rps"]
    if "activations" in r:
        values["activations_per_s"] = r["activations"]["rps"]
    if "wake" in r:
        values["wake_p99_ms"] = r["wake"]["p99_ms"]
    for idle in r.get("idle", []):
        if idle["count"] == 5000:
            values["idle_5000_accept_s"] = idle["accepted_s"]
            values["idle_5000_daphne_rss_mb"] = idle["daphne_rss_mb"]
    return {key: check(key, value) for key, value in values.items()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
