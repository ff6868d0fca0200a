#!/usr/bin/env python
"""Content download benchmark: a 50 MB item through the device API, on loopback.

    .venv/bin/python bench/content.py [--size-mb 50] [--rounds 5]

Target (issue #6): at least 200 MB/s for one download, with flat server memory, on the
production path (gunicorn; nginx routes /provision/download there). Daphne is measured too.

What it does: makes a throw-away installation (its own MURANO_VAR_DIR: SQLite, local file
storage), creates a connector in devmode and a 50 MB content item through the services, then
starts the production servers one after the other — a gunicorn sync worker (where nginx sends
short device requests and downloads) and Daphne (the ASGI server) — provisions a device over
HTTP and downloads the item ``--rounds`` times (and a half-item ``Range`` once) with a plain
socket client. It prints MB/s per round and the server process's RSS before the first download
and after the last, then writes ``bench/results/content.json``. Every process it starts is
stopped, also on error.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = ROOT / "bench" / "results" / "content.json"
DOMAIN = "devices.localhost"
TARGET_MB_S = 200.0

if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def setup(env: dict, size: int) -> tuple[str, str]:
    """Migrate the throw-away database; a connector and a ``size``-byte item. Returns
    ``(connector id, sha256 of the item)``."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    script = f"""
import hashlib, io, django
django.setup()
from accounts.services import account_create
from connectors.services import connector_create
from connectors.content.services import content_upload
membership = account_create(
    email="bench@example.com", password="bench-password-123456", business_name="Bench", role="admin"
)
connector = connector_create(business=membership.business, name="Bench", settings={{"devmode": True}})
block = hashlib.sha256(b"bench").digest() * 32768  # 1 MiB
data = (block * ({size} // len(block) + 1))[:{size}]
content_upload(connector=connector, content_id="firmware.bin", stream=io.BytesIO(data), length=len(data))
print(connector.pk, hashlib.sha256(data).hexdigest())
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"setup failed:\n{out.stderr[-3000:]}")
    connector_id, digest = out.stdout.split()[-2:]
    return connector_id, digest


def wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def request(port: int, host: str, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    return connection, connection.getresponse()


def download(port: int, host: str, token: str, range_header: str | None = None) -> tuple[int, float, str]:
    """One download read in 1 MiB chunks: ``(bytes, seconds, sha256)``."""
    headers = {"X-Exosite-CIK": token}
    if range_header:
        headers["Range"] = range_header
    digest = hashlib.sha256()
    started = time.perf_counter()
    connection, response = request(port, host, "GET", "/provision/download?id=firmware.bin", headers=headers)
    assert response.status in (200, 206), response.status
    received = 0
    while chunk := response.read(1024 * 1024):
        received += len(chunk)
        digest.update(chunk)
    elapsed = time.perf_counter() - started
    connection.close()
    return received, elapsed, digest.hexdigest()


def measure(name: str, argv: list[str], env: dict, port: int, connector_id: str, digest: str, size: int,
            rounds: int) -> dict:  # fmt: skip
    log(f"{name}: starting")
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        wait_http(port)
        host = f"{connector_id}.{DOMAIN}"
        connection, response = request(port, host, "POST", "/provision/activate", f"id=bench-{name}".encode(),
                                       {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        token = response.read().decode()
        connection.close()
        assert response.status == 200, (response.status, token)
        # The process that serves requests: gunicorn's worker, or Daphne itself.
        time.sleep(0.5)
        pid = (children_of(server.pid) or [server.pid])[0]
        # Warm up with a small range: code paths loaded, before memory is measured.
        download(port, host, token, "bytes=0-1023")
        before = rss_mb(pid)
        speeds = []
        for index in range(rounds):
            received, elapsed, got = download(port, host, token)
            assert received == size and got == digest, "the download does not match the item"
            speeds.append(size / elapsed / 1e6)
            log(f"{name}: round {index + 1}: {speeds[-1]:.0f} MB/s")
        half, half_elapsed, _ = download(port, host, token, f"bytes={size // 2}-")
        after = rss_mb(pid)
        result = {
            "mb_per_s_median": round(statistics.median(speeds), 1),
            "mb_per_s_rounds": [round(s, 1) for s in speeds],
            "range_half_mb_per_s": round(half / half_elapsed / 1e6, 1),
            "rss_mb_before": round(before, 1),
            "rss_mb_after": round(after, 1),
            "rss_growth_mb": round(after - before, 1),
        }
        log(f"{name}: {result}")
        return result
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mb * 1000 * 1000
    with tempfile.TemporaryDirectory(prefix="bench-content-") as var:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME")
        }
        env.update(MURANO_VAR_DIR=var, DEVICE_API_DOMAIN=DOMAIN, DEBUG="0", LOG_LEVEL="WARNING",
                   DJANGO_SETTINGS_MODULE="murano.settings",
                   DEVICE_SEEN_BATCH_SECONDS="0")  # fmt: skip
        log(f"making a {args.size_mb} MB item in {var}")
        connector_id, digest = setup(env, size)
        results = {}
        port = free_port()
        results["gunicorn"] = measure(
            "gunicorn", [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--workers", "1",
                         "--bind", f"127.0.0.1:{port}", "murano.wsgi:application"],
            env, port, connector_id, digest, size, args.rounds,
        )  # fmt: skip
        port = free_port()
        results["daphne"] = measure(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "murano.asgi:application"],
            {**env, "MURANO_SERVER": "asgi"}, port, connector_id, digest, size, args.rounds,
        )  # fmt: skip
    print()
    print(f"50 MB content download on loopback (target ≥ {TARGET_MB_S:.0f} MB/s, flat RSS)")
    print(f"{'server':<10} {'MB/s (median)':>14} {'Range ½ MB/s':>13} {'RSS before':>11} {'RSS after':>10}")
    for name, r in results.items():
        print(f"{name:<10} {r['mb_per_s_median']:>14.0f} {r['range_half_mb_per_s']:>13.0f} "
              f"{r['rss_mb_before']:>9.1f}MB {r['rss_mb_after']:>8.1f}MB")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"size_bytes": size, "rounds": args.rounds, "target_mb_per_s": TARGET_MB_S,
                                   "servers": results}, indent=2) + "\n")  # fmt: skip
    # Production serves downloads from the gunicorn pool (deploy/nginx routes /provision/download
    # there); Daphne's figures are for the embedded single-process setup (make run). Daphne has
    # no flow control towards a slower reader, so it holds what the socket has not taken yet.
    production = results["gunicorn"]
    ok = production["mb_per_s_median"] >= TARGET_MB_S and production["rss_growth_mb"] < 10
    print("target met (gunicorn, the production path)" if ok else "target NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
