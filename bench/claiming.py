#!/usr/bin/env python
"""Claiming at scale: claims per second through the portal API, and a fleet's devices by owner.

    .venv/bin/python bench/claiming.py [--devices 100000] [--end-users 10000] [--workers 4]
                                       [--concurrency 16] [--duration 20] [--fleet-devices 1000000]

What it does, in order (shared/docs/claiming-and-portal.md is the contract it drives):

1. recreates the PostgreSQL database ``--database-url`` (default
   ``postgres://postgres@127.0.0.1:5432/murano_claiming_bench``; it refuses ``test`` and the
   other benchmarks' databases), migrates it, creates an account and a connector with claiming
   on (``connectors.services.connector_update``), then loads by ``COPY`` ``--devices`` devices
   with bench/fleet.py's loader (its mix of statuses and tags) plus one random ``claim_code``
   tag each (``claiming.codes.claim_code_new``: 12 characters), and ``--end-users`` verified end
   users, all with ONE password hash computed once (hashing 10,000 passwords would take
   minutes); ``VACUUM ANALYZE``;
2. starts gunicorn (``deploy/gunicorn.conf.py``, ``--workers`` sync workers, ``murano.wsgi``) on
   PostgreSQL + Redis (``--redis-url``, a channel prefix of its own per run), with the claim
   throttle raised through the servers' environment (``CLAIM_*``: see ``SERVER_THROTTLE``; the
   defaults would answer 429 after 100 claims per user in 15 minutes), logs ``--users`` end
   users in (``POST /api/session`` on the portal host, the real password check), then
   ``--concurrency`` client threads (httpx, one connection per request as gunicorn's sync
   workers close them) each claim distinct unclaimed codes (``POST /api/claim``) for
   ``--warmup`` + ``--duration`` seconds, each thread rotating over its own share of the
   logged-in users (no two threads claim as one user at once, as people do not). Prints
   claims/s, latency p50/p95/p99 and every answer by status. Then one more user claims 10
   devices (each with a value of ``temp``) and ``GET /api/devices`` is timed ``--requests``
   times;
3. stops the servers; a second claiming connector gets ``--fleet-devices`` devices (bench/fleet.py's
   loader again) and its own ``--end-users``; half of its devices get one owner (a ``users``
   tag) drawn at random from them. ``GET /api/v1/connectors/<id>/devices/?tag=users:<id>`` is
   timed through the whole Django stack with the test client in this process (as bench/fleet.py
   does) for ``--requests`` different owners: p50 / p95 / mean (target p95 < 50 ms), and the
   page behind ``next`` when there is one;
4. prints a table, writes ``bench/results/claiming.json`` and drops the database (``--keep``
   keeps it).

The clients run on the same cores as gunicorn, PostgreSQL and Redis: figures are a floor for
the same machine serving clients from elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: fleet.py, device_api.py

import fleet  # noqa: E402  (re-executes with the venv's Python if psycopg is missing)
from device_api import CpuMeter, Processes, free_port, server_env, wait_http, wait_quiet  # noqa: E402
from fleet import log, percentile, summary  # noqa: E402

ROOT = fleet.ROOT
RESULTS = ROOT / "bench" / "results" / "claiming.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/murano_claiming_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
OTHER_BENCHES = ("murano_fleet_bench", "murano_ui_bench", "bench_murano")
P95_TARGET_MS = 50.0
PORTAL_DOMAIN = "portal.localhost"
PASSWORD = "Claiming-bench-password-7"
LIST_DEVICES = 10  # the devices of the user whose portal device list is timed
# The claim throttle of the servers: high enough that this load is never throttled (a claim
# counts against its user and, when refused, against 127.0.0.1, the address of every client).
SERVER_THROTTLE = {
    "CLAIM_ATTEMPTS_PER_USER": "1000000",
    "CLAIM_FAILURES_PER_USER": "1000000",
    "CLAIM_FAILURES_PER_ADDRESS": "1000000",
    "CLAIM_WINDOW": "120",  # the counters leave Redis soon after the run
}


# --- 1. loading ------------------------------------------------------------------------------


def load_end_users(connector_id: str, count: int, password_hash: str) -> dict:
    """COPY ``count`` verified end users of the connector, all with ``password_hash``."""
    from django.db import connection

    created = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        columns = (
            "connector_id, email, name, password_hash, verified, blocked, user_data, firmware_emails, "
            "created_at"
        )
        with cursor.copy(f"COPY claiming_enduser ({columns}) FROM STDIN") as copy:
            for n in range(count):
                copy.write_row(
                    [connector_id, f"owner-{n:06d}@example.com", f"Owner {n}", password_hash, True, False,
                     "{}", True, created]
                )  # fmt: skip
        cursor.execute(
            "SELECT id, email FROM claiming_enduser WHERE connector_id = %s ORDER BY id", [connector_id]
        )
        users = cursor.fetchall()
    return {"count": len(users), "seconds": round(time.perf_counter() - started, 1), "users": users}


def load_claim_codes(connector_id: str) -> tuple[list[str], float]:
    """One fresh random ``claim_code`` tag for each device of the connector, by COPY."""
    from django.db import connection

    from claiming.codes import claim_code_new

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, identity FROM devices_device WHERE connector_id = %s", [connector_id])
        devices = cursor.fetchall()
        codes: set[str] = set()
        while len(codes) < len(devices):
            codes.add(claim_code_new())
        ordered = sorted(codes)
        random.Random(5).shuffle(ordered)
        with cursor.copy(f"COPY devices_devicetag ({fleet.TAG_COLUMNS}) FROM STDIN") as copy:
            for (device_id, identity), code in zip(devices, ordered, strict=True):
                copy.write_row([device_id, connector_id, identity, "claim_code", code])
    return ordered, time.perf_counter() - started


def owners_add(connector_id: str, fraction: float) -> dict:
    """A ``users`` tag on ``fraction`` of the connector's devices (every other one for one
    half), each an end user of the connector drawn at random."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            WITH owners AS (SELECT array_agg(id ORDER BY id) AS ids FROM claiming_enduser
                            WHERE connector_id = %(c)s)
            INSERT INTO devices_devicetag (device_id, connector_id, identity, name, value)
            SELECT d.id, d.connector_id, d.identity, 'users',
                   owners.ids[1 + floor(random() * array_length(owners.ids, 1))::int]::text
            FROM devices_device d, owners
            WHERE d.connector_id = %(c)s AND (d.id %% %(every)s) = 0
            """,
            {"c": connector_id, "every": round(1 / fraction)},
        )
        tagged = cursor.rowcount
    insert_s = time.perf_counter() - started
    analyze()
    return {"devices_owned": tagged, "insert_s": round(insert_s, 1),
            "with_analyze_s": round(time.perf_counter() - started, 1)}  # fmt: skip


def analyze() -> None:
    """``VACUUM ANALYZE`` the loaded tables (in autocommit: VACUUM cannot run in a transaction)."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    autocommit, raw.autocommit = raw.autocommit, True
    with raw.cursor() as cursor:
        for table in ("devices_device", "devices_devicetag", "claiming_enduser"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    raw.autocommit = autocommit


def claiming_connector(business, name: str):
    """A new connector with claiming on, through the services (the portal's resources defined)."""
    from connectors.services import connector_create, connector_update

    connector = connector_create(business=business, name=name)
    return connector_update(connector=connector, changes={"claiming_enabled": True})


# --- 2. claims through the portal API --------------------------------------------------------


class Portal:
    """The portal's JSON API of one connector on the local gunicorn (Host: the portal's host).
    One httpx client per thread: a client costs an SSL context to make (tens of ms of CPU),
    which per request would make the load generator the bottleneck."""

    def __init__(self, port: int, host: str):
        import httpx

        self.base, self.host, self.httpx = f"http://127.0.0.1:{port}", host, httpx
        self.local = threading.local()

    def call(
        self, method: str, path: str, *, token: str | None = None, body=None
    ) -> tuple[int, object, float]:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.httpx.Client(base_url=self.base, timeout=30)
        headers = {"Host": self.host}
        if token:
            headers["Authorization"] = f"Token {token}"
        started = time.perf_counter()
        answer = client.request(method, path, headers=headers, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        try:
            data = answer.json() if answer.content else None
        except ValueError:
            data = answer.text[:200]
        return answer.status_code, data, elapsed


def in_threads(count: int, work, meanwhile=None) -> list:
    """``work(i)`` in ``count`` threads, ``meanwhile()`` in this one while they run; their
    results in order (an exception is re-raised)."""
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    if meanwhile:
        meanwhile()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def log_in(portal: Portal, emails: list[str], concurrency: int) -> tuple[list[str], list[float]]:
    """Session keys of ``emails`` (``POST /api/session``, the real password check each)."""
    keys: list[str] = [""] * len(emails)
    times: list[float] = []

    def work(t: int) -> None:
        for i in range(t, len(emails), concurrency):
            status, body, ms = portal.call(
                "POST", "/api/session", body={"email": emails[i], "password": PASSWORD}
            )
            if status != 200:
                raise SystemExit(f"log-in of {emails[i]}: {status} {body}")
            keys[i] = body["token"]
            times.append(ms)

    in_threads(min(concurrency, len(emails)), work)
    return keys, times


def claim_load(portal: Portal, keys: list[str], codes: list[str], *, concurrency: int, warmup: float,
               duration: float, meter: CpuMeter) -> dict:  # fmt: skip
    """Threads claiming distinct codes until the time is up; the answers of requests started
    in the measured window (after the warm-up) make the figures, and ``meter`` counts the CPU
    each component used in that window (a figure other load on the machine disturbs less)."""
    pending = iter(codes)
    lock = threading.Lock()
    started = time.monotonic()
    window_start, deadline = started + warmup, started + warmup + duration

    def work(t: int) -> list[tuple[float, int, float, bool]]:
        mine = keys[t::concurrency] or [keys[t % len(keys)]]
        records, turn = [], 0
        while (now := time.monotonic()) < deadline:
            with lock:
                code = next(pending, None)
            if code is None:
                break
            try:
                status, body, ms = portal.call("POST", "/api/claim", token=mine[turn % len(mine)],
                                               body={"claim_code": code})  # fmt: skip
                ok = status == 200 and isinstance(body, dict) and len(body.get("claimed", [])) == 1
            except portal.httpx.HTTPError as exc:
                status, ms, ok = f"exception {type(exc).__name__}", float("nan"), False
            records.append((now, status, ms, ok))
            turn += 1
        return records

    cpu: dict = {}

    def metered() -> None:
        time.sleep(max(0.0, window_start - time.monotonic()))
        meter.start()
        time.sleep(max(0.0, deadline - time.monotonic()))
        cpu.update(meter.stop())

    records = [r for rs in in_threads(concurrency, work, metered) for r in rs]
    measured = [r for r in records if r[0] >= window_start]
    statuses = Counter(str(r[1]) for r in measured)
    claimed = [r for r in measured if r[3]]
    times = [r[2] for r in claimed]
    if not times:
        raise SystemExit(f"no claim succeeded in the measured window: {dict(statuses)}")
    per_claim = {k: round(1000 * v / len(claimed), 1) for k, v in cpu["cpu_s"].items()}
    servers = sum(v for k, v in per_claim.items() if k in ("gunicorn", "postgres", "redis"))
    return {
        "claims_per_s": round(len(claimed) / duration, 1),
        # CPU ms per claim by component in the window ("bench": the clients, "other": the rest
        # of the machine), and the rate the cores would allow at the servers' cost alone.
        "cpu_ms_per_claim": per_claim,
        "servers_cpu_ms_per_claim": round(servers, 1),
        "cpu_bound_ceiling_claims_per_s": round(1000 * cpu["cores"] / servers, 1) if servers else None,
        "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
        "claims": len(claimed),
        "requests": len(measured),
        "warmup_requests": len(records) - len(measured),
        "by_status": dict(sorted(statuses.items())),
        "unexpected_bodies": sum(1 for r in measured if r[1] == 200 and not r[3]),
        "p50_ms": round(percentile(times, 0.50), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "mean_ms": round(statistics.fmean(times), 1),
        "max_ms": round(max(times), 1),
        "codes_used": len(records),
    }


def device_list_user(portal: Portal, key: str, codes: list[str], connector) -> list[str]:
    """The list user claims ``LIST_DEVICES`` codes; each device reports a ``temp`` value."""
    from connectors import runtime
    from devices.models import Device
    from devices.services import device_write

    identities = []
    for code in codes[:LIST_DEVICES]:
        status, body, _ = portal.call("POST", "/api/claim", token=key, body={"claim_code": code})
        if status != 200:
            raise SystemExit(f"claim for the device list: {status} {body}")
        identities += body["claimed"]
    connector.refresh_from_db()
    rules = runtime.resource_rules(connector.pk, connector.updated_at)
    for n, device in enumerate(Device.objects.filter(connector=connector, identity__in=identities)):
        device_write(device=device, values={"temp": f"{20 + n / 10:.1f}"}, rules=rules)
    return identities


def time_device_list(portal: Portal, key: str, requests: int) -> dict:
    """``GET /api/devices`` one request after another (5 warm-up requests not counted)."""
    times = []
    for n in range(requests + 5):
        status, body, ms = portal.call("GET", "/api/devices", token=key)
        if status != 200 or len(body) != LIST_DEVICES:
            raise SystemExit(f"GET /api/devices: {status}, {len(body or [])} devices")
        if n >= 5:  # warm-up
            times.append(ms)
    return {**summary(times), "p99_ms": round(percentile(times, 0.99), 2), "devices": LIST_DEVICES}


def portal_phase(args, url: str, connector, codes: list[str], emails: list[str], workdir: Path) -> dict:
    """Gunicorn on PostgreSQL + Redis; log-ins, claims, a user's device list."""
    channel_prefix = f"claimbench{secrets.token_hex(3)}"
    env = server_env(
        database_url=url, redis_url=args.redis_url, channel_prefix=channel_prefix, workdir=workdir
    )
    env.update({**SERVER_THROTTLE, "PORTAL_DOMAIN": PORTAL_DOMAIN, "DB_CONN_MAX_AGE": "600"})
    (workdir / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)
    procs = Processes(workdir)
    port = free_port()
    try:
        gunicorn = procs.start(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}", "murano.wsgi:application"],
            env,
        )  # fmt: skip
        wait_http(port, "/healthz", 60, procs)
        portal = Portal(port, f"{connector.portal_subdomain}.{PORTAL_DOMAIN}")
        log(f"  gunicorn ({args.workers} sync workers) on :{port}, portal host {portal.host}")
        users = min(args.users, len(emails) - 1)
        login_started = time.perf_counter()
        keys, login_ms = log_in(portal, emails[: users + 1], args.concurrency)
        logins_per_s = round((users + 1) / (time.perf_counter() - login_started), 2)
        list_key, keys = keys[-1], keys[:-1]
        log(
            f"  {users + 1} end users logged in: p50 {percentile(login_ms, 0.5):.0f} ms each "
            "(the password hash)"
        )
        busy = wait_quiet(args.wait_quiet)
        log(f"claims: {args.concurrency} clients over {users} users, {args.warmup:g} s warm-up + "
            f"{args.duration:g} s (the machine was {busy:.0f}% busy before)")  # fmt: skip
        claims = claim_load(portal, keys, codes[LIST_DEVICES:], concurrency=args.concurrency,
                            warmup=args.warmup, duration=args.duration,
                            meter=CpuMeter({"gunicorn": gunicorn.pid}))  # fmt: skip
        claims["background_busy_pct_before"] = round(busy, 1)
        log(f"  {claims['claims_per_s']:,.1f} claims/s, p50 {claims['p50_ms']} p95 {claims['p95_ms']} "
            f"p99 {claims['p99_ms']} ms; answers {claims['by_status']}")  # fmt: skip
        device_list_user(portal, list_key, codes, connector)
        log(f"GET /api/devices of a user with {LIST_DEVICES} devices, {args.requests} requests")
        device_list = time_device_list(portal, list_key, args.requests)
        log(f"  p50 {device_list['p50_ms']} p95 {device_list['p95_ms']} p99 {device_list['p99_ms']} ms")
        return {
            "gunicorn_workers": args.workers,
            "concurrency": args.concurrency,
            "users_claiming": users,
            "throttle": {
                **SERVER_THROTTLE,
                "note": "raised for the bench; the defaults answer 429 "
                "after 100 claims of one user in 15 minutes",
            },  # fmt: skip
            "login": {
                **summary(login_ms),
                "logins_per_s": logins_per_s,
                "note": "each checks the password hash (PBKDF2)",
            },  # fmt: skip
            "claims": claims,
            "device_list": device_list,
        }
    except BaseException:
        for line in procs.tail("gunicorn", 20).splitlines():
            print(f"  gunicorn: {line}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        _redis_clean(args.redis_url, channel_prefix, connector.pk)


def _redis_clean(redis_url: str, channel_prefix: str, connector_id: str) -> None:
    """The run's throttle counters and the connector's recent events leave Redis."""
    try:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(f"murano:events:{connector_id}")
        for key in client.scan_iter(f"{channel_prefix}*", count=1000):
            client.delete(key)
    except Exception as exc:  # noqa: BLE001 - cleanup only
        log(f"  Redis cleanup failed: {exc}")


# --- 3. the device list by owner at fleet scale ----------------------------------------------


def owner_lists(client, connector_id: str, owner_ids: list[int], requests: int) -> dict:
    """The management API's device list filtered by ``requests`` different owners."""
    url = f"/api/v1/connectors/{connector_id}/devices/"
    rng = random.Random(9)
    picks = rng.sample(owner_ids, min(len(owner_ids), requests + 5))
    first, following, counts = [], [], []
    meter = CpuMeter({})
    meter.start()
    for n, owner in enumerate(picks):
        started = time.perf_counter()
        response = client.get(url, {"tag": f"users:{owner}"})
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"tag=users:{owner}: {response.status_code} {response.content[:300]!r}")
        body = response.json()
        if n < 5:  # warm-up
            continue
        first.append(elapsed)
        counts.append(body["count"])
        if body["next"]:
            started = time.perf_counter()
            response = client.get(body["next"])
            following.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"next page: {response.status_code} {response.content[:300]!r}")
    cpu = meter.stop()
    served = len(picks) + len(following)
    return {
        "first_page": summary(first),
        "next_page": summary(following) if following else None,
        # CPU ms per request (warm-up and next pages included) of this process (the whole Django
        # stack) and PostgreSQL: what the latency would be on idle cores, roughly.
        "cpu_ms_per_request": {
            k: round(1000 * cpu["cpu_s"].get(k, 0.0) / served, 1) for k in ("bench", "postgres")
        },
        "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
        "devices_per_owner": {
            "median": int(statistics.median(counts)),
            "min": min(counts),
            "max": max(counts),
        },
        "owners_asked": len(first),
    }


def fleet_phase(args, business, client_for) -> dict:
    """A second claiming connector at fleet scale, half of its devices owned; lists by owner."""
    from django.contrib.auth.hashers import make_password

    connector = claiming_connector(business, "Claiming fleet bench")
    users = load_end_users(connector.pk, args.end_users, make_password(PASSWORD))
    log(f"fleet connector {connector.pk}: {args.fleet_devices:,} devices with bench/fleet.py's loader")
    loaded = fleet.load_fleet(connector.pk, args.fleet_devices)
    log(f"  {loaded['devices']:,} devices + {loaded['tags']:,} tags in {loaded['total_s']} s")
    owners = owners_add(connector.pk, 0.5)
    log(f"  {owners['devices_owned']:,} devices got an owner (users tag) in {owners['with_analyze_s']} s")
    busy = wait_quiet(args.wait_quiet)
    log(f"GET /api/v1/connectors/{connector.pk}/devices/?tag=users:<id>, {args.requests} owners "
        f"(the machine was {busy:.0f}% busy before)")  # fmt: skip
    lists = owner_lists(client_for(), connector.pk, [u for u, _ in users["users"]], args.requests)
    log(f"  p50 {lists['first_page']['p50_ms']} p95 {lists['first_page']['p95_ms']} "
        f"mean {lists['first_page']['mean_ms']} ms")  # fmt: skip
    return {
        "connector_devices": args.fleet_devices,
        "end_users": users["count"],
        "load": {k: v for k, v in loaded.items() if k != "sample_ips"},
        "owners": owners,
        "load_total_s": round(loaded["total_s"] + owners["with_analyze_s"], 1),
        "list": lists,
        "background_busy_pct_before": round(busy, 1),
        "client": "django.test.Client in this process (middleware, token auth, DRF view, serializer)",
    }


# --- main ------------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    setup, portal, by_owner = report["setup"], report.get("portal"), report.get("fleet")
    print(f"\nclaiming connector: {setup['devices']:,} devices with a claim code, "
          f"{setup['end_users']:,} end users (loaded in {setup['load_s']} s)")  # fmt: skip
    if portal:
        c, d = portal["claims"], portal["device_list"]
        print(
            f"POST /api/claim, gunicorn {portal['gunicorn_workers']} sync workers, {portal['concurrency']} "
            f"clients over {portal['users_claiming']} end users, {report['config']['duration']:g} s:"
        )
        print(f"  {'claims/s':<28}{c['claims_per_s']:>10,.1f}")
        print(f"  {'latency p50 / p95 / p99 ms':<28}{c['p50_ms']:>10} / {c['p95_ms']} / {c['p99_ms']}")
        print(
            f"  {'server CPU ms per claim':<28}{c['servers_cpu_ms_per_claim']:>10}  (gunicorn + PostgreSQL "
            f"+ Redis; by component {c['cpu_ms_per_claim']}; the cores allow "
            f"~{c['cpu_bound_ceiling_claims_per_s']}/s at that cost; machine {c['machine_busy_pct']}% busy)"
        )
        print(f"  {'answers by status':<28}{c['by_status']}  (unexpected bodies {c['unexpected_bodies']})")
        print(
            "  claim throttle raised for the bench (CLAIM_ATTEMPTS_PER_USER="
            f"{SERVER_THROTTLE['CLAIM_ATTEMPTS_PER_USER']},"
            f" failures per user/address as high); claims spread over {portal['users_claiming']} users"
        )
        print(
            f"  {'log-ins/s':<28}{portal['login']['logins_per_s']:>10}  (POST /api/session, "
            f"{portal['concurrency']} at once; each checks the password hash; "
            f"p50 {portal['login']['p50_ms']} ms)"
        )
        print(
            f"GET /api/devices, a user with {d['devices']} devices: p50 {d['p50_ms']} / "
            f"p95 {d['p95_ms']} / p99 {d['p99_ms']} ms"
        )
    if by_owner:
        first, nxt = by_owner["list"]["first_page"], by_owner["list"]["next_page"] or {}
        per = by_owner["list"]["devices_per_owner"]
        print(
            f"\ndevice list by owner, {by_owner['connector_devices']:,} devices, half with one owner of "
            f"{by_owner['end_users']:,} (loaded in {by_owner['load_total_s']} s):"
        )
        print(
            f"  {'tag=users:<id>, first page':<28} p50 {first['p50_ms']} / p95 {first['p95_ms']} / mean "
            f"{first['mean_ms']} ms   (target p95 < {P95_TARGET_MS:.0f} ms)"
        )
        if nxt:
            print(f"  {'next page':<28} p50 {nxt['p50_ms']} / p95 {nxt['p95_ms']} / mean {nxt['mean_ms']} ms")
        print(f"  devices per owner: median {per['median']}, {per['min']}–{per['max']}")
        cpu = by_owner["list"]["cpu_ms_per_request"]
        print(f"  CPU ms per request: Django {cpu['bench']}, PostgreSQL {cpu['postgres']} "
              f"(machine {by_owner['list']['machine_busy_pct']}% busy)")  # fmt: skip
    print(f"load average at start {report['load_average_at_start']}, at end {report['load_average_at_end']}")


def _commit() -> str:
    import subprocess

    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("CLAIMING_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--devices", type=int, default=100_000, help="devices with a claim code")
    parser.add_argument("--end-users", type=int, default=10_000, help="end users of each connector")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--users", type=int, default=64, help="end users logged in to claim")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads claiming")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of claims not counted")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured claims")
    parser.add_argument("--requests", type=int, default=200, help="timed device-list requests")
    parser.add_argument("--fleet-devices", type=int, default=1_000_000, help="0 skips the fleet phase")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30,
        help="wait up to this long for other load to stop before measuring",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()

    url = args.database_url
    _, name = fleet.split_url(url)
    if name in ("test", "postgres", "template0", "template1", *OTHER_BENCHES):
        raise SystemExit(f"refusing to recreate the {name!r} database; choose another --database-url")
    report: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": name,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "commit": _commit(),
        "load_average_at_start": os.getloadavg(),
        "config": {k: v for k, v in vars(args).items() if k not in ("database_url", "keep")},
    }
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # cleanup runs
    workdir = Path(tempfile.mkdtemp(prefix="bench-claiming-"))
    started = time.monotonic()
    try:
        log(f"recreating database {name}")
        fleet.recreate_database(url)
        os.environ["MURANO_VAR_DIR"] = str(workdir / "var")
        os.environ["PORTAL_DOMAIN"] = PORTAL_DOMAIN
        fleet.setup_django(url)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        from django.contrib.auth.hashers import make_password
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from accounts.services import account_create, api_token_create
        from connectors.services import resource_create

        log("migrating")
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            report["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SHOW shared_buffers")
            report["shared_buffers"] = cursor.fetchone()[0]
        membership = account_create(email="claiming@example.com", password=PASSWORD, business_name="Claiming",
                                    role="admin")  # fmt: skip
        connector = claiming_connector(membership.business, "Claiming bench")
        resource_create(connector=connector, alias="temp", format="number")

        load_started = time.perf_counter()
        password_hash = make_password(PASSWORD)  # once: every end user shares it
        log(f"claiming connector {connector.pk}: {args.devices:,} devices by COPY (bench/fleet.py's loader)")
        loaded = fleet.load_fleet(connector.pk, args.devices)
        codes, codes_s = load_claim_codes(connector.pk)
        users = load_end_users(connector.pk, args.end_users, password_hash)
        analyze()
        load_s = round(time.perf_counter() - load_started, 1)
        log(f"  {loaded['devices']:,} devices, {len(codes):,} claim codes ({codes_s:.1f} s), "
            f"{users['count']:,} end users ({users['seconds']} s); {load_s} s in all")  # fmt: skip
        report["setup"] = {
            "devices": loaded["devices"],
            "claim_codes": len(codes),
            "end_users": users["count"],
            "load_s": load_s,
            "claim_codes_s": round(codes_s, 1),
            "end_users_s": users["seconds"],
        }
        emails = [email for _, email in users["users"]]
        log("portal API: gunicorn on PostgreSQL + Redis")
        connector.refresh_from_db()
        report["portal"] = portal_phase(args, url, connector, codes, emails, workdir)

        if args.fleet_devices:

            def client_for():
                _, key = api_token_create(user=membership.user, name="claiming bench")
                return Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_HOST="localhost")

            report["fleet"] = fleet_phase(args, membership.business, client_for)
    except BaseException:
        log(f"failed: the servers' logs are in {workdir}")
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if not args.keep:
            from django.db import connections

            with contextlib.suppress(Exception):  # Django may not be set up yet
                connections.close_all()
            admin_url, _ = fleet.split_url(url)
            with fleet.psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name} (--keep keeps it)")
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["load_average_at_end"] = os.getloadavg()
    print_report(report)
    print(f"total time {report['elapsed_s']:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
