#!/usr/bin/env python
"""Value history at scale on PostgreSQL (issue #19): the write rate with the history table
partitioned by day against a plain one, a downsampled read of 30 days at 1 Hz, and retention
dropping a day of 100 M points while a device writes.

    make bench-history
    .venv/bin/python bench/history.py [--only write,read,retention] [--workers 4] [--duration 15]
                                      [--rounds 2] [--retention-points 100000000] [--keep]

A smoke run (about 3 minutes): ``--retention-points 2000000 --duration 3 --rounds 1``.

What it does, in order:

1. recreates the template database ``bench_history`` (``--database-url``; PostgreSQL at
   127.0.0.1:5432 by default), migrates it (the history table comes out partitioned by UTC day,
   ``devices/0006_history_partitions``) and creates through the services an account, an API
   token, a connector with ``temp`` (a number) and its devices: 25 per write worker and one for
   the read. Every part then runs on a copy of it (``CREATE DATABASE … TEMPLATE``): migrated
   the same way, the same rows. Redis is db 12 (``--redis-url``), under a channel prefix of
   this run's own: each write's ``data_in`` event goes there, as on a server;
2. **write** — the write rate, partitioned against plain. In ``bench_history_plain`` the table
   is made plain again with ``devices.partitions.convert_to_plain`` (the migration's way back:
   the table as it was before #19); ``bench_history_part`` keeps the partitions. Same load on
   each: ``--workers`` processes, each writing ``temp`` for its own 25 devices in turn through
   ``devices.services.device_write`` (the device API's write, state upsert and history point in
   one statement) as fast as it can, ``--warmup`` s then ``--duration`` s measured; runs
   alternate (plain, partitioned, plain, …) for ``--rounds`` rounds to even out noise. Writes/s
   per run and the mean of each kind, the difference in % (target: partitioned at most 5%
   slower), per-write latency p50/p99, and the points stored against the writes made;
3. **read** — 30 days at 1 Hz read as ~500 buckets, in ``bench_history_read``: the day
   partitions of the last 31 days are created (``partition_create``, so that the points land in
   day partitions, not the default one), then 2,592,000 points of ``temp`` (one per second for
   30 days up to now) go in with one ``INSERT … SELECT … generate_series``; ``ANALYZE``;
   ``history_maintain()`` twice, each timed (the hourly task; its roll-up step's first run only
   marks how far the next one rolls up, devices/rollups.py: the second adds the month up per
   five minutes, as the roll-up beat task would have by then). Then
   ``GET /api/v1/connectors/<id>/devices/<identity>/history/?alias=temp&every=5400&since=…&
   limit=1000`` through Django's whole stack in this process (the test client, token
   authentication) ``--requests`` times after 3 warm-ups: p50/p95/p99/max (target p95 < 100
   ms, reported, not enforced); the answer is checked (480–481 buckets whose counts add up to
   every point). ``every=5184`` (not a multiple of 5 minutes: always the raw aggregate) is
   timed once for comparison;
4. **retention** — a day of ``--retention-points`` points past retention removed, in
   ``bench_history_retention``: ``--fleet-devices`` devices; the partition of the day
   ``--retention-days`` + 5 days ago (``partition_create``) is filled, in chunks of
   ``--chunk`` points with progress, the devices' points interleaved in time order as a fleet
   writes them; two runs of ``devices.rollups.rollup_run`` (the roll-up beat task; timed), so
   that the day has its roll-ups, as it would have had for months, and retention removes those
   too; ``CHECKPOINT`` (the fill's own flush is not the maintenance's). Then a writer
   process writes continuously through ``device_write`` (each write's start and end time
   kept); 3 s later ``history_maintain()`` runs, timed (``HISTORY_RETENTION_DAYS`` =
   ``--retention-days``); 3 s after it the writer stops. Reported: the fill time, the
   maintenance time and what it did, that the partition is gone and the points left, the
   writer's latency p50/p99/max before, during and after the maintenance and the longest gap
   between two completed writes around it (no write stall);
5. the peak RSS of this process and of the worker processes; prints a table, writes it to
   ``bench/results/history-<date>.txt`` and drops every ``bench_history*`` database
   (``--keep`` keeps them).

The writers and the bench run on the same cores as PostgreSQL and Redis: figures are a floor.
A 100 M-point day takes ~18 GiB of disk (table and indexes) while it exists, plus WAL and its
roll-ups (~19 GiB in all); the whole run takes ~32 minutes on 2 CPUs, most of it the fill
(~19) and its roll-up (~9).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: fleet.py, device_api.py, mqtt.py

import fleet  # noqa: E402  (re-executes with the venv's Python if psycopg is missing)
from device_api import _cpu_model, _status_kb, background_busy, wait_quiet  # noqa: E402
from fleet import log  # noqa: E402
from mqtt import percentile  # noqa: E402

ROOT = fleet.ROOT
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_history"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
DEVICES_PER_WORKER = 25
READ_DEVICE = "chart-0001"
SECOND_US = 1_000_000
READ_WARMUPS = 3

TARGETS = {
    "partitioned_slower_pct": ("<=", 5),
    "read_p95_ms": ("<", 100),
}


# --- databases ------------------------------------------------------------------------------


def database_url(base_url: str, name: str) -> str:
    return f"{base_url.rpartition('/')[0]}/{name}"


def clone_database(base_url: str, name: str) -> str:
    """A fresh copy of the template database (migrated, the world created); its URL."""
    admin_url, template = fleet.split_url(base_url)
    with fleet.psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url(base_url, name)


def drop_database(base_url: str, name: str) -> None:
    admin_url, _ = fleet.split_url(base_url)
    with fleet.psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_database(url: str) -> None:
    """Point this process's Django connection at another database (they share one schema)."""
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = fleet.split_url(url)[1]


def setup_django(url: str) -> None:
    """Django on ``url``; the rest of the environment (Redis, prefix, var dir) is the bench's,
    inherited by the worker processes."""
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(ROOT))
    # Nothing is served from the bench's var dir: its missing collected static files do not matter.
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its program (``VmHWM``; ``ru_maxrss`` would carry
    over the parent's RSS at the fork of a spawned worker)."""
    return _status_kb(os.getpid(), "VmHWM") / 1024


# --- the world --------------------------------------------------------------------------------


def create_world(writer_devices: int) -> dict:
    """An account, an API token, a connector with ``temp`` (a number), ``writer_devices`` devices
    for the writes and one for the read, through the services (devices in bulk)."""
    from accounts.services import account_create, api_token_create
    from connectors.services import connector_create, resource_create
    from devices.models import Device

    membership = account_create(email="history-bench@example.com", password=secrets.token_urlsafe(16),
                                business_name="History bench", role="admin")  # fmt: skip
    connector = connector_create(business=membership.business, name="History bench")
    resource_create(connector=connector, alias="temp", format="number")
    _, key = api_token_create(user=membership.user, name="history bench")
    identities = [f"w-{n:04d}" for n in range(writer_devices)] + [READ_DEVICE]
    create_devices(connector, identities)
    found = dict(Device.objects.filter(connector=connector).values_list("identity", "pk"))
    return {
        "connector_id": connector.pk,
        "api_key": key,
        "writers": [found[i] for i in identities[:-1]],
        "read_device": found[READ_DEVICE],
    }


def create_devices(connector, identities: list[str]) -> None:
    """Provisioned token devices, in bulk (what a manufacturing import would leave)."""
    from django.utils import timezone

    from devices import credentials
    from devices.models import Device, Lifecycle

    now = timezone.now()
    seed = secrets.token_hex(8)  # the tokens are never used: the bench writes through the services
    Device.objects.bulk_create(
        [
            Device(connector=connector, identity=identity, lifecycle=Lifecycle.PROVISIONED,
                   auth_type="token", provisioned_at=now,
                   token_hash=credentials.token_hash(f"{seed}:{identity}"))
            for identity in identities
        ],
        batch_size=5000,
    )  # fmt: skip


# --- writers (child processes, spawned: each sets Django up on its database) ----------------------


def _writer_setup(url: str, device_ids: list[int]):
    setup_django(url)
    from connectors import runtime
    from connectors.models import Connector
    from devices.models import Device

    devices = list(Device.objects.filter(pk__in=device_ids).order_by("pk"))
    connector = Connector.objects.get(pk=devices[0].connector_id)
    rules = runtime.resource_rules(connector.pk, connector.updated_at)
    return devices, rules


def write_worker(url, device_ids, warmup, duration, ready, go, start_at, results) -> None:
    """Part "write": one worker writing ``temp`` for its devices in turn, as fast as it can,
    from ``start_at`` (monotonic) for ``warmup`` + ``duration`` s; counts and latencies of the
    writes completed in the measured window."""
    try:
        devices, rules = _writer_setup(url, device_ids)
        from django.db import connections

        from devices.services import device_write

        for device in devices:  # first use of the statement, the connection, Redis
            device_write(device=device, values={"temp": "20.0"}, rules=rules)
        ready.put(os.getpid())
        go.wait()
        start = start_at.value
        measure_from, measure_to = start + warmup, start + warmup + duration
        time.sleep(max(0.0, start - time.monotonic()))
        latencies, written, n = [], len(devices), 0
        while True:
            before = time.monotonic()
            if before >= measure_to:
                break
            device = devices[n % len(devices)]
            device_write(device=device, values={"temp": f"{n % 400 / 10:.1f}"}, rules=rules)
            after = time.monotonic()
            n += 1
            if measure_from <= after < measure_to:
                latencies.append(after - before)
        written += n
        connections.close_all()
        results.put({"latencies": latencies, "written": written, "peak_rss_mb": peak_rss_mb()})
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        ready.put(f"{type(error).__name__}: {error}")
        results.put({"error": f"{type(error).__name__}: {error}"})


def steady_writer(url, device_ids, ready, stop, results) -> None:
    """Part "retention": writes ``temp`` for its devices in turn until ``stop`` is set, keeping
    each write's (start, end) monotonic times."""
    try:
        devices, rules = _writer_setup(url, device_ids)
        from django.db import connections

        from devices.services import device_write

        for device in devices:
            device_write(device=device, values={"temp": "20.0"}, rules=rules)
        ready.put(os.getpid())
        spans, n = [], 0
        while not stop.is_set():
            before = time.monotonic()
            device_write(
                device=devices[n % len(devices)], values={"temp": f"{n % 400 / 10:.1f}"}, rules=rules
            )
            spans.append((before, time.monotonic()))
            n += 1
        connections.close_all()
        results.put({"spans": spans, "written": n + len(devices), "peak_rss_mb": peak_rss_mb()})
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        ready.put(f"{type(error).__name__}: {error}")
        results.put({"error": f"{type(error).__name__}: {error}"})


def _wait_ready(ready, processes) -> None:
    for _ in processes:
        message = ready.get(timeout=120)
        if isinstance(message, str):
            raise RuntimeError(f"writer: {message}")


def _join(processes) -> None:
    for process in processes:
        process.join(30)
        if process.is_alive():
            process.kill()


# --- part "write" -----------------------------------------------------------------------------


def history_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM devices_valuepoint")
        return cursor.fetchone()[0]


def write_run(args, url: str, writers: list[int]) -> dict:
    """One run of the write load on ``url``: ``--workers`` processes, 25 devices each."""
    use_database(url)
    points_before = history_count()
    use_database(url)  # no connection of this process held across the run
    context = multiprocessing.get_context("spawn")
    ready, go, start_at, results = context.Queue(), context.Event(), context.Value("d", 0.0), context.Queue()
    shares = [writers[i * DEVICES_PER_WORKER : (i + 1) * DEVICES_PER_WORKER] for i in range(args.workers)]
    processes = [
        context.Process(target=write_worker, daemon=True,
                        args=(url, share, args.warmup, args.duration, ready, go, start_at, results))
        for share in shares
    ]  # fmt: skip
    for process in processes:
        process.start()
    try:
        _wait_ready(ready, processes)
        start_at.value = time.monotonic() + 0.2
        go.set()
        reports = [results.get(timeout=args.warmup + args.duration + 120) for _ in processes]
    finally:
        _join(processes)
    failed = [r["error"] for r in reports if "error" in r]
    if failed:
        raise RuntimeError(f"writers: {failed}")
    latencies = sorted(x for r in reports for x in r["latencies"])
    written = sum(r["written"] for r in reports)
    stored = history_count() - points_before
    return {
        "writes_per_s": round(len(latencies) / args.duration, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 2),
        "p99_ms": round(1000 * percentile(latencies, 99), 2),
        "written": written,
        "stored": stored,
        "worker_peak_rss_mb": round(max(r["peak_rss_mb"] for r in reports), 1),
    }


def part_write(args, world: dict) -> dict:
    from django.db import connection, transaction

    from devices import partitions

    urls = {
        "plain": clone_database(args.database_url, f"{args.name}_plain"),
        "partitioned": clone_database(args.database_url, f"{args.name}_part"),
    }
    use_database(urls["plain"])
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        partitions.convert_to_plain(cursor)
    log(f"write: {args.name}_plain made plain with convert_to_plain in {time.monotonic() - started:.1f} s")
    for kind, url in urls.items():
        use_database(url)
        if partitions.partitioned() != (kind == "partitioned"):
            raise RuntimeError(f"{kind}: the history table is not what it should be")
    runs = []
    for round_ in range(1, args.rounds + 1):
        for kind in ("plain", "partitioned"):
            busy = wait_quiet(20)
            log(f"write round {round_}, {kind}: {args.workers} workers x {DEVICES_PER_WORKER} devices, "
                f"{args.warmup:g} + {args.duration:g} s ({busy:.0f}% busy before)")  # fmt: skip
            run = {"round": round_, "kind": kind, "busy_before_pct": round(busy),
                   **write_run(args, urls[kind], world["writers"])}  # fmt: skip
            runs.append(run)
            log(f"  {run['writes_per_s']:,.0f} writes/s, p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, "
                f"{run['stored']:,} points stored for {run['written']:,} writes")  # fmt: skip
    use_database(args.database_url)
    means = {kind: statistics.fmean(r["writes_per_s"] for r in runs if r["kind"] == kind) for kind in urls}
    return {
        "runs": runs,
        "mean_plain": round(means["plain"], 1),
        "mean_partitioned": round(means["partitioned"], 1),
        # Positive: the partitioned table is slower.
        "partitioned_slower_pct": round(100 * (means["plain"] - means["partitioned"]) / means["plain"], 2),
        "no_loss": all(r["stored"] == r["written"] for r in runs),
        "worker_peak_rss_mb": max(r["worker_peak_rss_mb"] for r in runs),
    }


# --- part "read" ------------------------------------------------------------------------------


def part_read(args, world: dict) -> dict:
    from django.db import connection
    from django.test import Client

    from devices import partitions
    from devices.services.history import history_maintain

    use_database(clone_database(args.database_url, f"{args.name}_read"))
    now = datetime.now(UTC)
    points = args.days * 86_400
    first_s = int(now.timestamp()) - points + 1  # one point a second up to now
    existing = [p for p in partitions.partitions() if not p.is_default]
    created = 0
    for offset in range(args.days, -1, -1):
        day = now.date() - timedelta(days=offset)
        start = partitions.day_start_us(day)
        if not any(p.start is not None and p.start <= start < p.end for p in existing):
            partitions.partition_create(day)
            created += 1
    log(f"read: {created} day partitions created; inserting {points:,} points (1 Hz, {args.days} days)")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO devices_valuepoint (device_id, alias, timestamp, value) "
            "SELECT %s, 'temp', (%s::bigint + s) * 1000000, "
            "round((20 + 5 * sin(s / 3600.0))::numeric, 2)::text FROM generate_series(0, %s) AS s",
            [world["read_device"], first_s, points - 1],
        )
        insert_s = time.monotonic() - started
        cursor.execute("SELECT count(*) FROM devices_valuepoint_default")
        in_default = cursor.fetchone()[0]
        cursor.execute("ANALYZE devices_valuepoint")
    log(f"  {points:,} points in {insert_s:.1f} s ({points / insert_s:,.0f}/s), {in_default} in the default "
        "partition; history_maintain() twice")  # fmt: skip
    maintained = []
    for _ in range(2):
        started = time.monotonic()
        report = history_maintain()
        maintained.append((time.monotonic() - started, str(report)))
        log(f"  {report} in {maintained[-1][0]:.1f} s")

    client = Client(HTTP_AUTHORIZATION=f"Token {world['api_key']}", HTTP_HOST="localhost")
    url = f"/api/v1/connectors/{world['connector_id']}/devices/{READ_DEVICE}/history/"
    since = first_s * SECOND_US

    def get(every: int) -> tuple[float, list]:
        started = time.perf_counter()
        response = client.get(url, {"alias": "temp", "every": every, "since": since, "limit": 1000})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET every={every}: {response.status_code} {response.content[:300]!r}")
        return elapsed, response.json()

    for _ in range(READ_WARMUPS):
        get(args.every)
    times, body = [], []
    for _ in range(args.requests):
        elapsed, body = get(args.every)
        times.append(elapsed)
    times.sort()
    counted = sum(bucket["count"] for bucket in body)
    expected_buckets = points // args.every
    buckets_ok = expected_buckets <= len(body) <= expected_buckets + 1 and counted == points
    raw_s, raw_body = get(args.raw_every)
    raw_counted = sum(bucket["count"] for bucket in raw_body)
    result = {
        "points": points,
        "insert_s": round(insert_s, 1),
        "in_default_partition": in_default,
        "partitions_created": created,
        "maintain": [(round(seconds, 2), text) for seconds, text in maintained],
        "every": args.every,
        "requests": len(times),
        "buckets": len(body),
        "expected_buckets": f"{expected_buckets}-{expected_buckets + 1}",
        "bucket_count_sum": counted,
        "buckets_ok": buckets_ok,
        "p50_ms": round(1000 * percentile(times, 50), 1),
        "p95_ms": round(1000 * percentile(times, 95), 1),
        "p99_ms": round(1000 * percentile(times, 99), 1),
        "max_ms": round(1000 * times[-1], 1),
        "raw_every": args.raw_every,
        "raw_ms": round(1000 * raw_s, 1),
        "raw_buckets": len(raw_body),
        "raw_count_sum": raw_counted,
    }
    log(f"  GET every={args.every}: {len(body)} buckets, counts add up to {counted:,}; "
        f"p50 {result['p50_ms']} ms p95 {result['p95_ms']} ms p99 {result['p99_ms']} ms max "
        f"{result['max_ms']} ms; raw aggregate every={args.raw_every}: {result['raw_ms']} ms "
        f"({len(raw_body)} buckets)")  # fmt: skip
    use_database(args.database_url)
    return result


# --- part "retention" -------------------------------------------------------------------------


def part_retention(args, world: dict) -> dict:
    from django.conf import settings
    from django.db import connection

    from connectors.models import Connector
    from devices import partitions, rollups
    from devices.models import Device, ValueRollup
    from devices.services.history import history_maintain

    url = clone_database(args.database_url, f"{args.name}_retention")
    use_database(url)
    if settings.HISTORY_RETENTION_DAYS != args.retention_days:
        raise RuntimeError(
            f"HISTORY_RETENTION_DAYS is {settings.HISTORY_RETENTION_DAYS}, not {args.retention_days}"
        )
    connector = Connector.objects.get(pk=world["connector_id"])
    create_devices(connector, [f"fleet-{n:05d}" for n in range(args.fleet_devices)])
    fleet_ids = sorted(
        Device.objects.filter(connector=connector, identity__startswith="fleet-").values_list("pk", flat=True)
    )
    if fleet_ids[-1] - fleet_ids[0] + 1 != len(fleet_ids):  # the fill numbers them from the first
        raise RuntimeError("the fleet's device ids are not contiguous")
    day = datetime.now(UTC).date() - timedelta(days=args.retention_days + 5)
    name = partitions.partition_create(day)
    total, chunk = args.retention_points, args.chunk
    log(f"retention: filling {name} ({day}) with {total:,} points of {len(fleet_ids):,} devices, "
        f"chunks of {chunk:,}")  # fmt: skip
    free_before = shutil.disk_usage("/").free
    started = time.monotonic()
    with connection.cursor() as cursor:
        for first in range(0, total, chunk):
            last = min(total, first + chunk) - 1
            # Point s: device s mod N, at day start + s * (day / total): the fleet's points in
            # time order, every device writing about every N * day / total.
            cursor.execute(
                "INSERT INTO devices_valuepoint (device_id, alias, timestamp, value) "
                "SELECT %s + s %% %s, 'temp', %s + s * %s / %s, ((s %% 400) / 10.0)::text "
                "FROM generate_series(%s::bigint, %s::bigint) AS s",
                [
                    fleet_ids[0],
                    len(fleet_ids),
                    partitions.day_start_us(day),
                    partitions.DAY_US,
                    total,
                    first,
                    last,
                ],
            )
            elapsed = time.monotonic() - started
            done = last + 1
            log(f"  {done:,} / {total:,} points, {elapsed:.0f} s, {done / elapsed:,.0f}/s, "
                f"~{(total - done) * elapsed / done:.0f} s left")  # fmt: skip
        fill_s = time.monotonic() - started
        cursor.execute(f"SELECT pg_total_relation_size('{name}')")
        partition_bytes = cursor.fetchone()[0]
    log(f"  filled in {fill_s:.0f} s ({total / fill_s:,.0f} points/s), partition "
        f"{partition_bytes / 2**30:.1f} GiB; two roll-up runs (the first marks, the second rolls "
        "up)")  # fmt: skip
    started = time.monotonic()
    blocks = sum(rollups.rollup_run() for _ in range(2))
    rollup_s = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {ValueRollup._meta.db_table} WHERE start < %s",
                       [partitions.day_start_us(day + timedelta(days=1))])  # fmt: skip
        day_rollups = cursor.fetchone()[0]
        started = time.monotonic()
        cursor.execute("CHECKPOINT")
        checkpoint_s = time.monotonic() - started
    disk_used = free_before - shutil.disk_usage("/").free
    log(f"  {blocks:,} roll-up blocks written in {rollup_s:.0f} s ({day_rollups:,} of that day); CHECKPOINT "
        f"{checkpoint_s:.1f} s; disk {disk_used / 2**30:.1f} GiB more used than before the fill")  # fmt: skip
    use_database(url)

    context = multiprocessing.get_context("spawn")
    ready, stop, results = context.Queue(), context.Event(), context.Queue()
    writer = context.Process(target=steady_writer, args=(url, world["writers"][:DEVICES_PER_WORKER], ready,
                                                         stop, results), daemon=True)  # fmt: skip
    writer.start()
    try:
        _wait_ready(ready, [writer])
        time.sleep(args.around)
        log("  history_maintain() while a device writes")
        m0 = time.monotonic()
        maintained = history_maintain()
        m1 = time.monotonic()
        time.sleep(args.around)
        stop.set()
        written = results.get(timeout=120)
    finally:
        _join([writer])
    if "error" in written:
        raise RuntimeError(f"writer: {written['error']}")
    spans = written["spans"]
    gone = name not in [p.name for p in partitions.partitions()]
    left = history_count()

    def latency(selected) -> dict:
        values = sorted(end - start for start, end in selected)
        return {
            "n": len(values),
            "p50_ms": round(1000 * percentile(values, 50), 2),
            "p99_ms": round(1000 * percentile(values, 99), 2),
            "max_ms": round(1000 * values[-1], 2) if values else None,
        }

    ends = sorted(end for _, end in spans)
    gaps = [b - a for a, b in zip(ends, ends[1:], strict=False) if b >= m0 and a <= m1]
    result = {
        "points": total,
        "fleet_devices": len(fleet_ids),
        "day": str(day),
        "partition": name,
        "partition_gib": round(partition_bytes / 2**30, 2),
        "fill_s": round(fill_s, 1),
        "fill_points_per_s": round(total / fill_s),
        "checkpoint_s": round(checkpoint_s, 1),
        "rollup_s": round(rollup_s, 1),
        "day_rollups": day_rollups,
        "disk_gib": round(disk_used / 2**30, 1),
        "maintain_s": round(m1 - m0, 3),
        "maintain": str(maintained),
        "partition_gone": gone,
        "points_left": left,
        "before": latency([s for s in spans if s[1] < m0]),
        "during": latency([s for s in spans if s[1] >= m0 and s[0] <= m1]),
        "after": latency([s for s in spans if s[0] > m1]),
        "longest_gap_ms": round(1000 * max(gaps), 1) if gaps else None,
        "writes": written["written"],
        "writer_peak_rss_mb": round(written["peak_rss_mb"], 1),
    }
    log(f"  {maintained} in {result['maintain_s']} s; partition gone: {gone}; {left:,} points left; writer "
        f"p99 before/during/after {result['before']['p99_ms']}/{result['during']['p99_ms']}/"
        f"{result['after']['p99_ms']} ms, longest gap {result['longest_gap_ms']} ms")  # fmt: skip
    use_database(args.database_url)
    return result


# --- report -----------------------------------------------------------------------------------


def check(key: str, value) -> str:
    if value is None:
        return "n/a"
    op, target = TARGETS[key]
    ok = value <= target if op == "<=" else value < target
    return "PASS" if ok else "FAIL"


def report_text(report: dict) -> str:
    r, m = report["results"], report["machine"]
    lines = [
        f"Value history bench {report['when']} (commit {report['commit']}): PostgreSQL {m.get('postgresql')} "
        f"(shared_buffers {m.get('shared_buffers')}) + Redis, writers on the same machine",
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"{m['background_busy_pct_before']}% busy before the bench",
        "",
        f"{'figure':<62}{'value':>14}  {'target':<10}status",
    ]

    def row(label, value, unit="", key=None):
        if value is None:
            text = "n/a"
        elif isinstance(value, bool):
            text = str(value)
        elif isinstance(value, float):
            text = f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
        else:
            text = f"{value:,}" if isinstance(value, int) else str(value)
        target = f"{TARGETS[key][0]} {TARGETS[key][1]:,}" if key else ""
        lines.append(f"{label:<62}{text + unit:>14}  {target:<10}{check(key, value) if key else ''}")

    w = r.get("write")
    if w:
        c = report["config"]
        lines.append(f"A. write rate: {c['workers']} workers x {DEVICES_PER_WORKER} devices, "
                     f"device_write of temp, {c['warmup']:g} s warm-up + {c['duration']:g} s measured "
                     "per run")  # fmt: skip
        for run in w["runs"]:
            row(f"  round {run['round']}, {run['kind']} ({run['busy_before_pct']}% busy before): writes/s",
                run["writes_per_s"])  # fmt: skip
            row("    latency p50 / p99", f"{run['p50_ms']:.2f} / {run['p99_ms']:.2f}", " ms")
        row("  mean writes/s, plain table (before #19)", w["mean_plain"])
        row("  mean writes/s, partitioned by day", w["mean_partitioned"])
        row(
            "  partitioned slower by (negative: faster)",
            w["partitioned_slower_pct"],
            " %",
            "partitioned_slower_pct",
        )
        row("  every write stored (points == writes)", w["no_loss"])
        row("  writer process peak RSS", w["worker_peak_rss_mb"], " MB")
    b = r.get("read")
    if b:
        lines.append(f"B. {b['points']:,} points (1 Hz, {b['points'] // 86_400} days) read as buckets "
                     "through GET .../history/ (test client, token auth)")  # fmt: skip
        row("  insert (one INSERT ... SELECT generate_series)", b["insert_s"], " s")
        row("  points in the default partition", b["in_default_partition"])
        for n, (seconds, text) in enumerate(b["maintain"], 1):
            row(f"  history_maintain() run {n}", seconds, " s")
            lines.append(f"    {text}")
        row(f"  every={b['every']}: buckets (expected {b['expected_buckets']})", b["buckets"])
        row("  their counts add up to every point", b["buckets_ok"])
        lines.append(f"  {b['requests']} requests after {READ_WARMUPS} warm-ups:")
        row("    p50", b["p50_ms"], " ms")
        row("    p95", b["p95_ms"], " ms", "read_p95_ms")
        row("    p99", b["p99_ms"], " ms")
        row("    max", b["max_ms"], " ms")
        row(f"  raw aggregate, every={b['raw_every']} (once, {b['raw_buckets']} buckets)", b["raw_ms"], " ms")
    c_ = r.get("retention")
    if c_:
        lines.append(f"C. retention: one day ({c_['day']}) of {c_['points']:,} points from "
                     f"{c_['fleet_devices']:,} devices past retention, dropped while a device "
                     "writes")  # fmt: skip
        row("  fill time", c_["fill_s"], " s")
        row("  fill rate", c_["fill_points_per_s"], " points/s")
        row("  partition size (table + indexes)", c_["partition_gib"], " GiB")
        row("  disk used by the fill, its WAL and roll-ups", c_["disk_gib"], " GiB")
        row("  rolled up first (2 rollup_run, not timed below)", c_["rollup_s"], " s")
        row("  roll-up blocks of that day", c_["day_rollups"])
        row("  history_maintain() time", c_["maintain_s"], " s")
        lines.append(f"    {c_['maintain']}")
        row(f"  partition {c_['partition']} gone", c_["partition_gone"])
        row("  points left in the table", c_["points_left"])
        for phase in ("before", "during", "after"):
            s = c_[phase]
            figures = f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.1f}" if s["n"] else None
            row(f"  writer latency {phase} (n={s['n']:,}) p50 / p99 / max", figures, " ms")
        row("  longest gap between two completed writes around it", c_["longest_gap_ms"], " ms")
        row("  writer process peak RSS", c_["writer_peak_rss_mb"], " MB")
    row("bench process peak RSS", report["bench_peak_rss_mb"], " MB")
    lines.append(f"total time {report['elapsed_s']} s")
    return "\n".join(lines)


def _commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


# --- main -------------------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("HISTORY_BENCH_DATABASE_URL", DEFAULT_URL),
                   help="the template database; the parts use copies named <it>_plain, _part, _read, "
                   "_retention")  # fmt: skip
    p.add_argument("--redis-url", default=DEFAULT_REDIS)
    p.add_argument("--only", default="", help="comma-separated parts: write, read, retention")
    p.add_argument("--workers", type=int, default=4, help="write worker processes (25 devices each)")
    p.add_argument("--duration", type=float, default=15, help="measured seconds of each write run")
    p.add_argument("--warmup", type=float, default=3, help="seconds of writes before measuring")
    p.add_argument("--rounds", type=int, default=2, help="plain + partitioned runs")
    p.add_argument("--days", type=int, default=30, help="days of 1 Hz points for the read")
    p.add_argument("--every", type=int, default=5400, help="bucket width of the timed read (s)")
    p.add_argument("--raw-every", type=int, default=5184, help="bucket width of the raw aggregate (s)")
    p.add_argument("--requests", type=int, default=50, help="timed reads")
    p.add_argument("--retention-points", type=int, default=100_000_000, help="points in the day dropped")
    p.add_argument("--fleet-devices", type=int, default=10_000, help="devices those points belong to")
    p.add_argument("--chunk", type=int, default=5_000_000, help="points per INSERT of the fill")
    p.add_argument("--retention-days", type=int, default=90, help="HISTORY_RETENTION_DAYS of the bench")
    p.add_argument("--around", type=float, default=3, help="writer seconds before and after the maintenance")
    p.add_argument("--keep", action="store_true", help="keep the databases")
    p.add_argument("--results", help="where the table goes (default bench/results/history-<date>.txt)")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    parts = set(filter(None, args.only.split(","))) or {"write", "read", "retention"}
    if parts - {"write", "read", "retention"}:
        raise SystemExit(f"unknown part(s): {', '.join(sorted(parts - {'write', 'read', 'retention'}))}")
    _, args.name = fleet.split_url(args.database_url)
    if args.name in ("test", "postgres", "template0", "template1") or args.name.startswith("test"):
        raise SystemExit(f"refusing to recreate the {args.name!r} database; choose another --database-url")
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
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
            "background_busy_pct_before": round(busy, 1),
        },
        "config": {
            k: v for k, v in vars(args).items() if k not in ("database_url", "keep", "results", "name")
        },
        "results": {},
    }
    # The worker processes inherit this environment (spawned: each sets Django up itself).
    var_dir = Path(os.environ.get("MURANO_VAR_DIR") or f"/tmp/bench-history-{os.getpid()}-var")
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "murano.settings",
        "REDIS_URL": args.redis_url,
        "CHANNEL_PREFIX": f"histbench{secrets.token_hex(3)}",
        "MURANO_VAR_DIR": str(var_dir),
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "HISTORY_RETENTION_DAYS": str(args.retention_days),
    })  # fmt: skip
    for name in ("CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    names = [args.name] + [f"{args.name}_{suffix}" for suffix in ("plain", "part", "read", "retention")]
    r = report["results"]
    world: dict = {}
    try:
        log(f"recreating database {args.name}")
        fleet.recreate_database(args.database_url)
        setup_django(args.database_url)
        from django.core.management import call_command
        from django.db import connection

        log("migrating")
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            report["machine"]["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SHOW shared_buffers")
            report["machine"]["shared_buffers"] = cursor.fetchone()[0]
        world.update(create_world(args.workers * DEVICES_PER_WORKER))
        use_database(args.database_url)  # the template: no session on it while it is copied
        if "write" in parts:
            r["write"] = part_write(args, world)
        if "read" in parts:
            r["read"] = part_read(args, world)
        if "retention" in parts:
            r["retention"] = part_retention(args, world)
    finally:
        # Dropped on failure too: a filled retention day is gigabytes of disk.
        _cleanup(args, names, world.get("connector_id"), keep=args.keep)
    report["bench_peak_rss_mb"] = round(peak_rss_mb(), 1)
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    text = report_text(report)
    print("\n" + text)
    out = Path(args.results) if args.results else RESULTS_DIR / f"history-{datetime.now(UTC):%Y-%m-%d}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n\nconfig: " + repr(report["config"]) + "\n")
    log(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    # Targets are reported; what must hold for the figures to mean anything fails the run.
    broken = [
        label
        for label, ok in (
            ("a write was not stored", r.get("write", {}).get("no_loss", True)),
            ("the buckets do not add up", r.get("read", {}).get("buckets_ok", True)),
            (
                "the partition past retention is still there",
                r.get("retention", {}).get("partition_gone", True),
            ),
        )
        if not ok
    ]
    for label in broken:
        log(f"FAILED: {label}")
    return 1 if broken else 0


def _cleanup(args, names: list[str], connector_id: str | None, keep: bool) -> None:
    """The run's events and cache keys leave Redis; the databases are dropped unless kept."""
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(args.redis_url)
        if connector_id:
            client.delete(f"murano:events:{connector_id}")
        for key in client.scan_iter(f"{os.environ['CHANNEL_PREFIX']}:*"):
            client.delete(key)
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    if keep:
        log(f"kept databases {', '.join(names)}")
        return
    for name in names:
        drop_database(args.database_url, name)
    log(f"dropped databases {', '.join(names)} (--keep keeps them)")


if __name__ == "__main__":
    sys.exit(main())
