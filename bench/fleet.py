#!/usr/bin/env python
"""Device search at fleet scale: one connector with 1,000,000 devices on PostgreSQL.

    .venv/bin/python bench/fleet.py [--devices 1000000] [--requests 200] [--csv-rows 100000]
                                    [--reuse] [--explain] [--skip-import]

What it does, in order:

1. recreates the PostgreSQL database named by ``DATABASE_URL`` (default
   ``postgres://postgres@127.0.0.1:5432/murano_fleet_bench``; it refuses the ``test`` database)
   and migrates it — or, with ``--reuse``, keeps a database an earlier run loaded;
2. creates an account, an API token and a connector through the services, then loads
   ``--devices`` devices with ~3.2 tags each by ``COPY`` (a realistic mix of statuses, last
   IPs and last-seen times; identities are 12 hex digits) and prints rows/s; ``VACUUM ANALYZE``;
3. measures the management API's device list (``GET /api/v1/connectors/<id>/devices/``) through
   the real Django stack (middleware, token authentication, DRF view, serializer) with the
   test client in this process: ``--requests`` requests per filter kind, each with its own
   query value, first pages (which carry the count) and pages reached through ``next``;
   prints p50/p95/mean and the count of matches seen;
4. imports a ``--csv-rows`` CSV (shared/docs/management-api.md "Bulk CSV") through
   ``POST /api/v1/connectors/<id>/devices/import/`` and polls ``/api/v1/jobs/<id>/`` until the
   job is finished, printing rows/s. Celery runs in eager mode (the job runs inside the POST,
   in this process): a worker of another checkout on the same Redis cannot take the task,
   and the figure is the import's own cost. If the route does not exist, the stage says so;
5. prints a table and writes ``bench/results/fleet.json``.

``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the queries behind one request of each
kind. The client runs on the same cores as PostgreSQL, whose shared_buffers (recorded) may be
far smaller than the tables: figures are a floor for a dedicated, well-sized database.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
RESULTS = ROOT / "bench" / "results" / "fleet.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/murano_fleet_bench"
P95_TARGET_MS = 50.0

try:
    import psycopg
except ImportError:  # pragma: no cover - started with the wrong interpreter
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    raise


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- database --------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            rest = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def split_url(url: str) -> tuple[str, str]:
    """``(admin url on the postgres database, database name)``."""
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    if not name or "://" not in base:
        raise SystemExit(f"DATABASE_URL must name a database: {url}")
    return f"{base}/postgres", name


def recreate_database(url: str) -> None:
    admin_url, name = split_url(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # no embedded Redis runs here: pushes are dropped
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "murano.settings")
    os.environ["DEBUG"] = "false"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- the fleet -------------------------------------------------------------------------------

SITES = [f"site-{n:03d}" for n in range(200)]  # ~5,000 devices each
BATCHES = [f"b{n:04d}" for n in range(2000)]  # ~500 devices each
MODELS = ["T1", "T2", "T3", "T4", "T5"]  # ~200,000 devices each
REGIONS = ["eu:west", "eu:north", "us:east", "us:west", "ap:south"]  # a colon in the value
TAG_KINDS = [("site", SITES), ("batch", BATCHES), ("model", MODELS), ("region", REGIONS)]
IDENTITY_MULTIPLIER = 0x9E3779B97F4B  # odd: i -> i * M mod 2**48 is a bijection


def identity_of(n: int) -> str:
    return f"{(n * IDENTITY_MULTIPLIER) % 2**48:012x}"


def ip_of(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.80:
        return f"10.{rng.randrange(16)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if r < 0.95:
        return f"{rng.choice(['203.0.113', '198.51.100'])}.{rng.randrange(1, 255)}"
    return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"


def fleet_rows(connector_id: str, count: int, first_id: int, seed: int = 7):
    """Devices as COPY text lines and their tags, by chunks: ``(device_lines, tag_lines, ips)``."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    year = timedelta(days=365).total_seconds()
    chunk_devices, chunk_tags, ips = [], [], []
    for n in range(first_id, first_id + count):
        created = now - timedelta(seconds=year * (first_id + count - n) / count)
        r = rng.random()
        lifecycle, locked, devmode, deadline = "provisioned", "f", "f", None
        seen = ip = provisioned = True
        if r < 0.03:
            devmode = "t"
        elif r < 0.13:
            lifecycle, seen, ip, provisioned = "whitelisted", False, False, False
            deadline = now + timedelta(hours=rng.uniform(1, 48))
        elif r < 0.19:
            lifecycle, seen, ip, provisioned = "whitelisted", False, False, False
            deadline = now - timedelta(days=rng.uniform(1, 300))
        elif r < 0.21:
            lifecycle = "reprovision"
        elif r < 0.25:
            locked = "t"
        last_seen = (now - timedelta(seconds=rng.uniform(0, 30 * 86400))).isoformat() if seen else r"\N"
        last_ip = ip_of(rng) if ip else r"\N"
        if ip and len(ips) < 5000 and rng.random() < 0.01:
            ips.append(last_ip)
        identity = identity_of(n)
        chunk_devices.append(
            "\t".join(
                [
                    str(n),
                    connector_id,
                    identity,
                    lifecycle,
                    "token" if provisioned else "",
                    r"\N",
                    "",
                    "",
                    "",
                    locked,
                    devmode,
                    deadline.isoformat() if deadline else r"\N",
                    last_ip,
                    last_seen,
                    created.isoformat() if provisioned else r"\N",
                    created.isoformat(),
                ]
            )  # fmt: skip
        )
        tags = [("site", rng.choice(SITES)), ("batch", rng.choice(BATCHES)), ("model", rng.choice(MODELS))]
        if rng.random() < 0.2:
            tags.append(("region", rng.choice(REGIONS)))
        chunk_tags += [f"{n}\t{connector_id}\t{identity}\t{name}\t{value}" for name, value in tags]
        if len(chunk_devices) == 50_000:
            yield chunk_devices, chunk_tags, ips
            chunk_devices, chunk_tags, ips = [], [], []
    if chunk_devices:
        yield chunk_devices, chunk_tags, ips


TAG_COLUMNS = "device_id, connector_id, identity, name, value"
DEVICE_COLUMNS = (
    "id, connector_id, identity, lifecycle, auth_type, token_hash, password_hash, certificate, "
    "certificate_fingerprint, locked, devmode, activation_deadline, last_ip, last_seen, provisioned_at, "
    "created_at"
)


LOADED_TABLES = ("devices_device", "devices_devicetag")


def _secondary_indexes(cursor) -> list[tuple[str, str]]:
    """``(name, CREATE INDEX ...)`` of the loaded tables' indexes that back no constraint."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = ANY(%s) AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        ORDER BY i.indexname
        """,
        [list(LOADED_TABLES)],
    )
    return cursor.fetchall()


def load_fleet(connector_id: str, count: int) -> dict:
    """COPY ``count`` devices and their tags, the way pg_restore loads a dump: secondary indexes
    are dropped first and built once the rows are in; the foreign keys' per-row triggers are
    skipped (``session_replication_role = replica``) since the rows are made consistent here."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    autocommit, raw.autocommit = raw.autocommit, True
    with raw.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM devices_device")
        first_id = cursor.fetchone()[0] + 1
        indexes = _secondary_indexes(cursor)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        try:
            cursor.execute("SET session_replication_role = replica")
            triggers = "skipped"
        except psycopg.Error:
            triggers = "checked (not a superuser)"
        cursor.execute("SET maintenance_work_mem = '512MB'")
    started, devices, tags, sample_ips = time.perf_counter(), 0, 0, []
    with raw.transaction(), raw.cursor() as cursor:
        for device_lines, tag_lines, ips in fleet_rows(connector_id, count, first_id):
            with cursor.copy(f"COPY devices_device ({DEVICE_COLUMNS}) FROM STDIN") as copy:
                copy.write("\n".join(device_lines) + "\n")
            with cursor.copy(f"COPY devices_devicetag ({TAG_COLUMNS}) FROM STDIN") as copy:
                copy.write("\n".join(tag_lines) + "\n")
            devices, tags, sample_ips = devices + len(device_lines), tags + len(tag_lines), sample_ips + ips
            if devices % 200_000 == 0:
                log(f"  {devices:,} devices copied")
        cursor.execute("SELECT MAX(id) FROM devices_device")
        cursor.execute("SELECT setval(pg_get_serial_sequence('devices_device', 'id'), %s)", cursor.fetchone())
    copy_s = time.perf_counter() - started
    log(f"  building {len(indexes)} indexes")
    with raw.cursor() as cursor:
        cursor.execute("RESET session_replication_role")
        for _, definition in indexes:
            cursor.execute(definition)
    index_s = time.perf_counter() - started - copy_s
    with raw.cursor() as cursor:
        for table in LOADED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    analyze_s = time.perf_counter() - started - copy_s - index_s
    raw.autocommit = autocommit
    return {
        "devices": devices,
        "tags": tags,
        "copy_s": round(copy_s, 1),
        "copy_rows_per_s": round((devices + tags) / copy_s),
        "index_build_s": round(index_s, 1),
        "vacuum_analyze_s": round(analyze_s, 1),
        "total_s": round(copy_s + index_s + analyze_s, 1),
        "devices_per_s_overall": round(devices / (copy_s + index_s + analyze_s)),
        "foreign_key_triggers": triggers,
        "sample_ips": sample_ips,
    }


def churn(fraction: float) -> dict:
    """An active fleet: ``fraction`` of the devices report again (new last_seen and last_ip),
    as the device API records it, and no vacuum has run since. Rows changed since the last
    vacuum cost index-only scans their shortcut, which a freshly loaded table would hide."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in LOADED_TABLES:  # no autovacuum in the middle of the measurements
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        started = time.perf_counter()
        cursor.execute(
            """
            UPDATE devices_device
            SET last_seen = now() - random() * interval '60 seconds',
                last_ip = ('10.' || (id %% 16) || '.' || (id %% 251) || '.' || (1 + id %% 253))::inet
            WHERE last_seen IS NOT NULL AND random() < %s
            """,
            [fraction],
        )
        updated = cursor.rowcount
        cursor.execute("ANALYZE devices_device")
    return {"fraction": fraction, "updated": updated, "seconds": round(time.perf_counter() - started, 1)}


def restore_autovacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in LOADED_TABLES:
            cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")


# --- requests --------------------------------------------------------------------------------


def query_kinds(rng: random.Random, total: int, sample_ips: list[str]) -> dict:
    """For each filter kind, a function giving the query string of one request."""

    def random_identity() -> str:
        return identity_of(rng.randrange(1, total + 1))

    def one_tag() -> dict:
        name, values = rng.choice(
            [("site", SITES), ("batch", BATCHES), ("model", MODELS), ("region", REGIONS)]
        )
        return {"tag": f"{name}:{rng.choice(values)}"}

    def two_tags() -> dict:
        first, second = rng.choice([(0, 2), (0, 1), (2, 3), (1, 2)])
        pair = [TAG_KINDS[first], TAG_KINDS[second]]
        label = " & ".join(name for name, _ in pair)
        return {"tag": [f"{name}:{rng.choice(values)}" for name, values in pair], "_label": label}

    def ip() -> dict:
        r = rng.random()
        if r < 0.5 and sample_ips:
            return {"ip": rng.choice(sample_ips)}
        if r < 0.8:
            return {"ip": f"10.{rng.randrange(16)}.{rng.randrange(256)}.0/24"}
        if r < 0.95:
            return {"ip": f"10.{rng.randrange(16)}.0.0/16"}
        return {"ip": "2001:db8::/32"}

    return {
        "status": lambda: {
            "status": rng.choice(
                ["provisioned", "whitelisted", "expired", "locked", "devmode", "reprovision"]
            )
        },  # fmt: skip
        "identity prefix": lambda: {"identity": random_identity()[: rng.choice([2, 3, 4, 5, 6])]},
        "q substring": lambda: {
            "q": (lambda s, k: s[(i := rng.randrange(0, 13 - k)) : i + k])(
                random_identity(), rng.choice([3, 4, 5])
            )
        },  # fmt: skip
        "one tag": one_tag,
        "two tags (AND)": two_tags,
        "ip / CIDR": ip,
        "ordering -last_seen": lambda: {
            "ordering": "-last_seen",
            **rng.choice([{}, {}, {"status": "provisioned"}]),
        },
        "no filter": lambda: rng.choice([{}, {"ordering": "-identity"}, {"ordering": "-created_at"}]),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(times_ms: list[float]) -> dict:
    return {
        "n": len(times_ms),
        "p50_ms": round(percentile(times_ms, 0.50), 2),
        "p95_ms": round(percentile(times_ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(times_ms), 2),
        "max_ms": round(max(times_ms), 2),
    }


def measure_lists(client, connector_id: str, kinds: dict, requests: int, explain: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"/api/v1/connectors/{connector_id}/devices/"
    results = {}
    for kind, make_query in kinds.items():
        first, following, counts, estimates, by_label = [], [], [], 0, {}
        for n in range(requests + 5):
            query = make_query()
            label = query.pop("_label", None)
            started = time.perf_counter()
            response = client.get(url, query)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{kind} {query}: {response.status_code} {response.content[:300]!r}")
            body = response.json()
            if n < 5:  # warm-up
                continue
            first.append(elapsed)
            if label:
                by_label.setdefault(label, []).append(elapsed)
            counts.append(body["count"])
            estimates += bool(body["count_is_estimate"])
            if body["next"] and len(following) < requests // 2:
                started = time.perf_counter()
                response = client.get(body["next"])
                following.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{kind} next page: {response.status_code} {response.content[:300]!r}")
        results[kind] = {
            "first_page": summary(first),
            "next_page": summary(following) if following else None,
            "matches_median": int(statistics.median(counts)),
            "estimated_counts": estimates,
        }
        if by_label:
            results[kind]["by_tags"] = {label: summary(times) for label, times in sorted(by_label.items())}
        log(f"  {kind:<22} first p50 {results[kind]['first_page']['p50_ms']:6.1f} ms  "
            f"p95 {results[kind]['first_page']['p95_ms']:6.1f} ms   next p95 "
            f"{results[kind]['next_page']['p95_ms'] if following else float('nan'):6.1f} ms")  # fmt: skip
        if explain:
            query = make_query()
            query.pop("_label", None)
            with CaptureQueriesContext(connection) as queries:
                client.get(url, query)
            for captured in queries.captured_queries:
                sql = captured["sql"]
                if not sql.lstrip().upper().startswith("SELECT") or "devices_device" not in sql:
                    continue
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                print(f"\n--- {kind}: {captured['time']}s\n{sql[:600]}\n{plan}\n", flush=True)
    return results


# --- bulk CSV import -------------------------------------------------------------------------


def import_csv(client, connector_id: str, rows: int) -> dict:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ID", "TLS Client Certificate", "Tags"])
    rng = random.Random(11)
    for n in range(rows):
        tags = [{"name": "batch", "value": f"import-{n // 1000}"}]
        if rng.random() < 0.3:
            tags.append({"name": "site", "value": rng.choice(SITES)})
        writer.writerow([f"imp-{n:08d}", "", json.dumps(tags)])
    data = buffer.getvalue().encode()
    # Warm-up, not timed: a header-only file takes the same path (upload, job, task, import)
    # without creating anything, so the timed import does not pay this process's first use of
    # those modules, as a running server would not.
    warm_up = _import_upload(client, connector_id, b"ID,TLS Client Certificate,Tags\n")
    if "error" in warm_up or not warm_up.get("available", True):
        return warm_up
    started = time.perf_counter()
    job = _import_upload(client, connector_id, data)
    if "error" in job or not job.get("available", True):
        return job
    elapsed = time.perf_counter() - started
    return {
        "available": True,
        "rows": rows,
        "csv_mb": round(len(data) / 1e6, 1),
        "seconds": round(elapsed, 1),
        "rows_per_s": round(rows / elapsed),
        "state": job.get("state"),
        "created": job.get("created"),
        "updated": job.get("updated"),
        "errors": len(job.get("errors") or []),
        "celery": "eager (the job runs inside the POST, in this process)",
    }


def _import_upload(client, connector_id: str, data: bytes) -> dict:
    """Upload ``data`` for import and poll its job (at once, then every 50 ms) until it is over."""
    upload = io.BytesIO(data)
    upload.name = "identities.csv"
    response = client.post(f"/api/v1/connectors/{connector_id}/devices/import/", {"file": upload})
    if response.status_code in (404, 405):
        return {"available": False, "reason": "import endpoint not available", "status": response.status_code}
    if response.status_code not in (200, 201, 202):
        return {"available": True, "error": f"{response.status_code} {response.content[:300]!r}"}
    job = response.json()
    deadline = time.monotonic() + 600
    while True:
        poll = client.get(f"/api/v1/jobs/{job['id']}/")
        if poll.status_code != 200:
            return {"available": True, "error": f"job poll: {poll.status_code} {poll.content[:300]!r}"}
        job = poll.json()
        if job.get("state") in ("finished", "failed"):
            return job
        if time.monotonic() > deadline:
            return {"available": True, "error": "job did not finish in 10 minutes", "job": job}
        time.sleep(0.05)


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per filter kind")
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database an earlier run loaded")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument(
        "--churn",
        type=float,
        default=0.3,
        help="measure again after this fraction of devices reported (0: only the vacuumed table)",
    )
    parser.add_argument("--explain", action="store_true", help="print query plans of one request per kind")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    _, name = split_url(url)
    if name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to recreate the {name!r} database; point DATABASE_URL elsewhere")

    report: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "database": name,
                    "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_at_start": os.getloadavg()}  # fmt: skip
    loaded = None
    if not args.reuse:
        log(f"recreating database {name}")
        recreate_database(url)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.services import account_create, api_token_create
    from connectors.models import Connector
    from connectors.services import connector_create

    log("migrating")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        report["postgresql"] = cursor.fetchone()[0].split(",")[0]
        cursor.execute("SHOW shared_buffers")
        report["shared_buffers"] = cursor.fetchone()[0]

    connector = Connector.objects.filter(name="Fleet bench").first() if args.reuse else None
    if connector is None:
        membership = account_create(email="fleet@example.com", password="fleet-bench-password-1",
                                    business_name="Fleet", role="admin")  # fmt: skip
        connector = connector_create(business=membership.business, name="Fleet bench")
        log(f"loading {args.devices:,} devices (~3.2 tags each) by COPY")
        loaded = load_fleet(connector.pk, args.devices)
        log(f"  {loaded['devices']:,} devices + {loaded['tags']:,} tags: COPY {loaded['copy_s']} s "
            f"({loaded['copy_rows_per_s']:,} rows/s), indexes {loaded['index_build_s']} s, VACUUM ANALYZE "
            f"{loaded['vacuum_analyze_s']} s; {loaded['devices_per_s_overall']:,} devices/s")  # fmt: skip
        report["load"] = {k: v for k, v in loaded.items() if k != "sample_ips"}
    user = connector.business.memberships.first().user
    _, key = api_token_create(user=user, name="fleet bench")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_HOST="localhost")
    total = connector.devices.count()
    report["fleet_devices"] = total
    sample_ips = loaded["sample_ips"] if loaded else list(
        connector.devices.exclude(last_ip=None).order_by("?").values_list("last_ip", flat=True)[:2000]
    )  # fmt: skip

    states = [("vacuumed", None)] + ([("active", args.churn)] if args.churn else [])
    report["list"] = {}
    try:
        for state, fraction in states:
            if fraction:
                log(f"active fleet: {fraction:.0%} of the seen devices report again, no vacuum since")
                report["churn"] = churn(fraction)
                log(f"  {report['churn']['updated']:,} devices updated in {report['churn']['seconds']} s")
            log(f"device list ({state}): {args.requests} requests per kind, {total:,} devices in a connector")
            kinds = query_kinds(random.Random(3), total, sample_ips)
            report["list"][state] = measure_lists(client, connector.pk, kinds, args.requests, args.explain)
    finally:
        restore_autovacuum()

    if args.skip_import:
        report["csv_import"] = {"skipped": True}
    else:
        log(f"bulk CSV import of {args.csv_rows:,} rows")
        report["csv_import"] = import_csv(client, connector.pk, args.csv_rows)
        log(f"  {report['csv_import']}")

    for state, results in report["list"].items():
        print(f"\ndevice list, {state} table ({total:,} devices), ms:")
        print(
            f"{'filter kind':<30}{'first p50':>10}{'first p95':>10}{'mean':>8}{'next p95':>10}{'matches':>10}"
        )
        for kind, result in results.items():
            first, following = result["first_page"], result["next_page"]
            next_p95 = (following or {}).get("p95_ms", float("nan"))
            print(f"{kind:<30}{first['p50_ms']:>10.1f}{first['p95_ms']:>10.1f}{first['mean_ms']:>8.1f}"
                  f"{next_p95:>10.1f}{result['matches_median']:>10,}")  # fmt: skip
            for label, by in result.get("by_tags", {}).items():
                print(f"  {label:<28}{by['p50_ms']:>10.1f}{by['p95_ms']:>10.1f}{by['mean_ms']:>8.1f}")
        worst = max(r["first_page"]["p95_ms"] for r in results.values())
        print(f"worst first-page p95: {worst:.1f} ms (target < {P95_TARGET_MS:.0f} ms)")
    imported = report["csv_import"]
    if imported.get("rows_per_s"):
        print(
            f"CSV import: {imported['rows']:,} rows in"
            f" {imported['seconds']} s, {imported['rows_per_s']:,} rows/s"
        )
    elif not imported.get("skipped"):
        print(f"CSV import: {imported.get('reason') or imported.get('error')}")
    report["load_average_at_end"] = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {report['load_average_at_start']}, at end {os.getloadavg()}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
