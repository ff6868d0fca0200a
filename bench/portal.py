#!/usr/bin/env python
"""The branded portal's pages under load: latency p50/p95/p99 and pages per second.

    .venv/bin/python bench/portal.py [--devices 100000] [--users 16] [--devices-per-user 20]
                                     [--history-points 1000] [--workers 4] [--concurrency 16]
                                     [--duration 15]

What it does, in order (shared/docs/claiming-and-portal.md, "The portal", is the contract):

1. recreates the PostgreSQL database ``--database-url`` (default
   ``postgres://postgres@127.0.0.1:5432/murano_portal_bench``; it refuses ``test`` and the other
   benchmarks' databases), migrates it, creates an account and a connector with claiming on
   (portal host ``bench.portal.localhost``) and three resources (``temp`` and ``humidity``
   numbers, ``mode`` a settable string), then loads by ``COPY``: ``--devices`` devices with
   bench/fleet.py's loader (its mix of statuses and tags: the tag index at a realistic size),
   ``--users`` verified end users (ONE password hash computed once), each the owner (``users``
   tag) of ``--devices-per-user`` of those devices, each owned device a current value of each
   resource, and each user's first device ``--history-points`` points of ``temp`` over the last
   24 hours; ``VACUUM ANALYZE``;
2. starts gunicorn (``deploy/gunicorn.conf.py``, ``--workers`` sync workers, ``murano.wsgi``) on
   PostgreSQL + Redis (``--redis-url``, db 13 by default, a channel prefix of its own per run),
   logs every end user in (``POST /api/session`` on the portal host, the real password check)
   and sends the session key as the ``portal_session`` cookie, as a browser does after the
   ``/login/`` form. Each page is first fetched once per user and checked (200, and the user's
   devices or device on it), then ``--concurrency`` client threads (httpx, one client per
   thread), each its own end user, fetch it for ``--warmup`` + ``--duration`` seconds:
   ``/`` (the landing page), ``/devices/`` (the user's ``--devices-per-user`` devices with their
   values) and ``/devices/<identity>/`` (values and the history chart's ``--history-points``).
   Prints pages/s, latency p50/p95/p99, every answer by status and the server CPU per page;
3. stops the servers, prints a table, writes ``bench/results/portal.json`` and drops the
   database (``--keep`` keeps it).

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
RESULTS = ROOT / "bench" / "results" / "portal.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/murano_portal_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
OTHER_BENCHES = ("murano_fleet_bench", "murano_ui_bench", "bench_murano", "murano_claiming_bench")
PORTAL_DOMAIN = "portal.localhost"
PORTAL_SUBDOMAIN = "bench"
PASSWORD = "Portal-bench-password-7"
SESSION_COOKIE = "portal_session"  # claiming.authentication.PORTAL_SESSION_COOKIE
HISTORY_ALIAS = "temp"


# --- 1. loading ------------------------------------------------------------------------------


def portal_connector(business):
    """A new connector with claiming on and its three resources, through the services."""
    from connectors.services import connector_create, connector_update, resource_create

    connector = connector_create(business=business, name="Portal bench")
    connector = connector_update(
        connector=connector, changes={"claiming_enabled": True, "portal_subdomain": PORTAL_SUBDOMAIN}
    )
    resource_create(connector=connector, alias="temp", format="number", unit="°C")
    resource_create(connector=connector, alias="humidity", format="number", unit="%")
    resource_create(connector=connector, alias="mode", format="string", settable=True)
    connector.refresh_from_db()
    return connector


def load_end_users(connector_id: str, count: int, password_hash: str) -> list[tuple[int, str]]:
    """COPY ``count`` verified end users of the connector, all with ``password_hash``; their
    ``(id, e-mail)`` in id order."""
    from django.db import connection

    created = datetime.now(UTC).isoformat()
    columns = (
        "connector_id, email, name, password_hash, verified, blocked, firmware_emails, user_data, created_at"
    )
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY claiming_enduser ({columns}) FROM STDIN") as copy:
            for n in range(count):
                copy.write_row([connector_id, f"owner-{n:04d}@example.com", f"Owner {n}", password_hash, True,
                                False, True, "{}", created])  # fmt: skip
        cursor.execute(
            "SELECT id, email FROM claiming_enduser WHERE connector_id = %s ORDER BY id", [connector_id]
        )
        return cursor.fetchall()


def load_ownership(
    connector_id: str, users: list[tuple[int, str]], per_user: int, history_points: int
) -> dict:
    """Each user owns ``per_user`` devices (a ``users`` tag, the first devices by id); each owned
    device gets a current value of each resource, and each user's first device ``history_points``
    points of ``temp`` spread over the last 24 hours. Returns ``{user id: [identities]}`` and counts."""
    from django.db import connection

    started = time.perf_counter()
    now_us = int(time.time() * 1_000_000)
    day_us = 24 * 3600 * 1_000_000
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, identity FROM devices_device WHERE connector_id = %s ORDER BY id LIMIT %s",
            [connector_id, len(users) * per_user],
        )
        devices = cursor.fetchall()
        if len(devices) < len(users) * per_user:
            raise SystemExit(
                f"--devices must be at least --users × --devices-per-user ({len(users) * per_user})"
            )
        owned: dict[int, list[tuple[int, str]]] = {
            user_id: devices[n * per_user : (n + 1) * per_user] for n, (user_id, _) in enumerate(users)
        }
        with cursor.copy(f"COPY devices_devicetag ({fleet.TAG_COLUMNS}) FROM STDIN") as copy:
            for user_id, mine in owned.items():
                for device_id, identity in mine:
                    copy.write_row([device_id, connector_id, identity, "users", str(user_id)])
        states = points = 0
        with cursor.copy(
            "COPY devices_devicestate (device_id, alias, reported, set, timestamp) FROM STDIN"
        ) as copy:
            for mine in owned.values():
                for n, (device_id, _) in enumerate(mine):
                    for alias, value in (
                        ("temp", f"{20 + n / 10:.1f}"),
                        ("humidity", str(40 + n)),
                        ("mode", "eco"),
                    ):
                        copy.write_row(
                            [device_id, alias, value, "eco" if alias == "mode" else None, now_us - n]
                        )
                        states += 1
        with cursor.copy("COPY devices_valuepoint (device_id, alias, timestamp, value) FROM STDIN") as copy:
            for mine in owned.values():
                device_id = mine[0][0]
                for i in range(history_points):
                    at = now_us - day_us + (i + 1) * day_us // (history_points + 1)
                    copy.write_row([device_id, HISTORY_ALIAS, at, f"{20 + 3 * ((i % 60) / 60):.2f}"])
                    points += 1
    return {
        "owned": {user_id: [identity for _, identity in mine] for user_id, mine in owned.items()},
        "owner_tags": len(users) * per_user,
        "states": states,
        "history_points": points,
        "seconds": round(time.perf_counter() - started, 1),
    }


def analyze() -> None:
    """``VACUUM ANALYZE`` the loaded tables (in autocommit: VACUUM cannot run in a transaction)."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    autocommit, raw.autocommit = raw.autocommit, True
    with raw.cursor() as cursor:
        for table in ("devices_device", "devices_devicetag", "devices_devicestate", "devices_valuepoint",
                      "claiming_enduser"):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")
    raw.autocommit = autocommit


# --- 2. the pages under load -----------------------------------------------------------------


class Portal:
    """One connector's portal host on the local gunicorn. One httpx client per thread (a client
    per request costs an SSL context: the load generator would be the bottleneck)."""

    def __init__(self, port: int, host: str):
        import httpx

        self.base, self.host, self.httpx = f"http://127.0.0.1:{port}", host, httpx
        self.local = threading.local()

    def call(
        self, method: str, path: str, *, session: str | None = None, body=None
    ) -> tuple[int, str, float]:
        """``(status, body text, ms)``; ``session``: the portal's session key, sent as its cookie."""
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = self.httpx.Client(base_url=self.base, timeout=30)
        headers = {"Host": self.host}
        if session:
            headers["Cookie"] = f"{SESSION_COOKIE}={session}"
        started = time.perf_counter()
        answer = client.request(method, path, headers=headers, json=body)
        return answer.status_code, answer.text, (time.perf_counter() - started) * 1000


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


def log_in(portal: Portal, emails: list[str]) -> tuple[list[str], list[float]]:
    """Session keys of ``emails`` (``POST /api/session``, the real password check each)."""
    keys, times = [], []
    for email in emails:
        status, text, ms = portal.call("POST", "/api/session", body={"email": email, "password": PASSWORD})
        if status != 200:
            raise SystemExit(f"log-in of {email}: {status} {text[:200]}")
        keys.append(json.loads(text)["token"])
        times.append(ms)
    return keys, times


class PageNotReady(Exception):
    """A page answered something else than the page (a stub's 404, a 500, a redirect)."""


def page_check(portal: Portal, name: str, paths: list[str], keys: list[str], expect: list[list[str]]) -> None:
    """Each user's page once: 200, with every text of ``expect[user]`` on it."""
    for path, key, texts in zip(paths, keys, expect, strict=True):
        status, text, _ = portal.call("GET", path, session=key)
        if status != 200:
            raise PageNotReady(f"{name} {path}: {status} {text[:120]!r}")
        missing = [t for t in texts if t not in text]
        if missing:
            raise PageNotReady(f"{name} {path}: 200 without {missing[:3]} (of {len(missing)})")


def page_load(portal: Portal, paths: list[str], keys: list[str], *, concurrency: int, warmup: float,
              duration: float, meter: CpuMeter) -> dict:  # fmt: skip
    """Threads, each as its own user, fetching its page until the time is up; the answers of
    requests started after the warm-up make the figures, ``meter`` the CPU in that window."""
    started = time.monotonic()
    window_start, deadline = started + warmup, started + warmup + duration

    def work(t: int) -> list[tuple[float, object, float, int]]:
        path, key = paths[t % len(paths)], keys[t % len(keys)]
        records = []
        while (now := time.monotonic()) < deadline:
            try:
                status, text, ms = portal.call("GET", path, session=key)
                size = len(text)
            except portal.httpx.HTTPError as exc:
                status, ms, size = f"exception {type(exc).__name__}", float("nan"), 0
            records.append((now, status, ms, size))
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
    ok = [r for r in measured if r[1] == 200]
    times = [r[2] for r in ok]
    if not times:
        raise SystemExit(f"no page answered 200 in the measured window: {dict(statuses)}")
    per_page = {k: round(1000 * v / len(ok), 1) for k, v in cpu["cpu_s"].items()}
    servers = sum(v for k, v in per_page.items() if k in ("gunicorn", "postgres", "redis"))
    return {
        "pages_per_s": round(len(ok) / duration, 1),
        "p50_ms": round(percentile(times, 0.50), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "mean_ms": round(statistics.fmean(times), 1),
        "max_ms": round(max(times), 1),
        "pages": len(ok),
        "requests": len(measured),
        "warmup_requests": len(records) - len(measured),
        "by_status": dict(sorted(statuses.items())),
        "mean_bytes": round(statistics.fmean(r[3] for r in ok)),
        # CPU ms per page by component in the window ("bench": the clients, "other": the rest
        # of the machine), and the rate the cores would allow at the servers' cost alone.
        "cpu_ms_per_page": per_page,
        "servers_cpu_ms_per_page": round(servers, 1),
        "cpu_bound_ceiling_pages_per_s": round(1000 * cpu["cores"] / servers, 1) if servers else None,
        "machine_busy_pct": round(cpu["machine_busy_pct"], 1),
    }


def group_rss_mb(pgid: int) -> dict:
    """Resident memory of the processes of process group ``pgid`` (gunicorn's master and
    workers): ``{"total_mb", "largest_mb", "processes"}``, from ``/proc/<pid>/status``."""
    sizes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            with open(f"/proc/{entry}/status") as fh:
                rss_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        sizes.append(rss_kb / 1024)
    largest = max(sizes, default=0)
    return {"total_mb": round(sum(sizes), 1), "largest_mb": round(largest, 1), "processes": len(sizes)}


def pages_phase(args, url: str, connector, users: list[tuple[int, str]], owned: dict, workdir: Path) -> dict:
    """Gunicorn on PostgreSQL + Redis; every user logged in; each page checked, then loaded."""
    channel_prefix = f"portalbench{secrets.token_hex(3)}"
    env = server_env(
        database_url=url, redis_url=args.redis_url, channel_prefix=channel_prefix, workdir=workdir
    )
    env.update({"PORTAL_DOMAIN": PORTAL_DOMAIN, "DB_CONN_MAX_AGE": "600"})
    (workdir / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)
    procs = Processes(workdir)
    port = free_port()
    result: dict = {"gunicorn_workers": args.workers, "concurrency": args.concurrency, "pages": {}}
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
        keys, login_ms = log_in(portal, [email for _, email in users])
        result["login"] = {**summary(login_ms), "note": "one after another; each checks the password hash"}
        log(f"  {len(keys)} end users logged in (p50 {percentile(login_ms, 0.5):.0f} ms each)")
        identities = [owned[user_id] for user_id, _ in users]
        pages = [
            ("landing", "/", ["/"] * len(keys), [[] for _ in keys]),
            ("device list", "/devices/", ["/devices/"] * len(keys), identities),
            ("device page", "/devices/<identity>/", [f"/devices/{mine[0]}/" for mine in identities],
             [[mine[0]] for mine in identities]),
        ]  # fmt: skip
        for name, route, paths, expect in pages:
            try:
                page_check(portal, name, paths, keys, expect)
            except PageNotReady as exc:
                log(f"{name}: not measured, {exc}")
                result["pages"][route] = {"not_ready": str(exc)}
                continue
            busy = wait_quiet(args.wait_quiet)
            log(f"{name} {route}: {args.concurrency} clients, {args.warmup:g} s warm-up + "
                f"{args.duration:g} s (the machine was {busy:.0f}% busy before)")  # fmt: skip
            meter = CpuMeter({"gunicorn": gunicorn.pid})
            figures = page_load(portal, paths, keys, concurrency=args.concurrency, warmup=args.warmup,
                                duration=args.duration, meter=meter)  # fmt: skip
            figures["background_busy_pct_before"] = round(busy, 1)
            figures["gunicorn_rss"] = group_rss_mb(gunicorn.pid)
            result["pages"][route] = figures
            log(f"  {figures['pages_per_s']:,.1f} pages/s, p50 {figures['p50_ms']} p95 {figures['p95_ms']} "
                f"p99 {figures['p99_ms']} ms; answers {figures['by_status']}")  # fmt: skip
        return result
    except BaseException:
        for line in procs.tail("gunicorn", 20).splitlines():
            print(f"  gunicorn: {line}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        _redis_clean(args.redis_url, channel_prefix, connector.pk)


def _redis_clean(redis_url: str, channel_prefix: str, connector_id: str) -> None:
    """The run's keys and the connector's recent events leave Redis."""
    try:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.delete(f"murano:events:{connector_id}")
        for key in client.scan_iter(f"{channel_prefix}*", count=1000):
            client.delete(key)
    except Exception as exc:  # noqa: BLE001 - cleanup only
        log(f"  Redis cleanup failed: {exc}")


# --- main ------------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    setup, pages = report["setup"], report.get("portal")
    print(f"\nportal bench: {setup['devices']:,} devices, {setup['end_users']} end users owning "
          f"{setup['devices_per_user']} devices each, {setup['history_points']:,} points of "
          f"{HISTORY_ALIAS} per user's first device (loaded in {setup['load_s']} s)")  # fmt: skip
    if not pages:
        return
    print(f"gunicorn {pages['gunicorn_workers']} sync workers, {pages['concurrency']} clients (each its own "
          f"end user), {report['config']['duration']:g} s per page:")  # fmt: skip
    print(f"  {'page':<24}{'pages/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  server CPU ms/page")
    for route, f in pages["pages"].items():
        if "not_ready" in f:
            print(f"  {route:<24} not measured: {f['not_ready']}")
            continue
        print(f"  {route:<24}{f['pages_per_s']:>9,.1f}{f['p50_ms']:>9}{f['p95_ms']:>9}{f['p99_ms']:>9}  "
              f"{f['servers_cpu_ms_per_page']} (gunicorn RSS {f['gunicorn_rss']['total_mb']} MB, "
              f"answers {f['by_status']}, "
              f"machine {f['machine_busy_pct']}% busy)")  # fmt: skip
    print(f"load average at start {report['load_average_at_start']}, at end {report['load_average_at_end']}")


def _commit() -> str:
    import subprocess

    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("PORTAL_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--devices", type=int, default=100_000, help="devices of the connector")
    parser.add_argument("--users", type=int, default=16, help="end users, each owning --devices-per-user")
    parser.add_argument("--devices-per-user", type=int, default=20)
    parser.add_argument("--history-points", type=int, default=1000, help="temp points on the timed device")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (one user each)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of each page not counted")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds of each page")
    parser.add_argument("--wait-quiet", type=float, default=30,
                        help="wait up to this long for other load to stop before measuring")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()

    url = args.database_url
    _, name = fleet.split_url(url)
    if name in ("test", "postgres", "template0", "template1", *OTHER_BENCHES) or name.startswith("test_"):
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
    workdir = Path(tempfile.mkdtemp(prefix="bench-portal-"))
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

        from accounts.services import account_create

        log("migrating")
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            report["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SHOW shared_buffers")
            report["shared_buffers"] = cursor.fetchone()[0]
        membership = account_create(email="portal@example.com", password=PASSWORD, business_name="Portal",
                                    role="admin")  # fmt: skip
        connector = portal_connector(membership.business)

        load_started = time.perf_counter()
        log(f"connector {connector.pk}: {args.devices:,} devices by COPY (bench/fleet.py's loader)")
        loaded = fleet.load_fleet(connector.pk, args.devices)
        users = load_end_users(connector.pk, args.users, make_password(PASSWORD))
        ownership = load_ownership(connector.pk, users, args.devices_per_user, args.history_points)
        analyze()
        load_s = round(time.perf_counter() - load_started, 1)
        log(f"  {loaded['devices']:,} devices, {len(users)} end users owning {args.devices_per_user} each, "
            f"{ownership['states']:,} values, {ownership['history_points']:,} history points; "
            f"{load_s} s")  # fmt: skip
        report["setup"] = {
            "devices": loaded["devices"],
            "end_users": len(users),
            "devices_per_user": args.devices_per_user,
            "values": ownership["states"],
            "history_points": args.history_points,
            "load_s": load_s,
        }
        log("portal pages: gunicorn on PostgreSQL + Redis")
        report["portal"] = pages_phase(args, url, connector, users, ownership["owned"], workdir)
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
