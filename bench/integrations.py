#!/usr/bin/env python
"""An integration's sync at scale: 10,000 assets of a local HTTPS API become devices, on PostgreSQL.

    .venv/bin/python bench/integrations.py [--assets 10000] [--page-size 1000]
                                           [--concurrency 8 [32 ...]] [--profile]
                                           [--py-spy PATH] [--keep]

What it does, in order (shared/docs/integrations.md is the contract):

1. recreates the PostgreSQL database ``--database-url`` (default
   ``postgres://postgres@127.0.0.1:5432/murano_integrations_bench``; it refuses ``test`` and
   the other benchmarks' databases) and migrates it;
2. starts the pump cloud (tests/integrations/pump_cloud.py: a real HTTPS server with a CA of
   its own) in a process of its own, with ``--assets`` assets listed ``--page-size`` a page
   (``?page=N``, ``next`` in the answer); its CPU is not the platform's;
3. creates an account and a connector with four resources (``temperature`` and ``vibration``
   numbers, ``battery`` an integer, ``running`` a boolean: the fields of the cloud's state)
   and its integration through ``integration_put`` (the pump cloud's spec, Basic
   authentication; sync: ``listAssets`` / ``getAssetState`` / ``getAsset``, ``id_field`` id,
   identity sha256, ``page_parameter`` page);
4. runs the sync as a worker does, in a child process (the measured one) on PostgreSQL and Redis
   (``--redis-url``, db 15 by default, where the writes' events are published):
   ``services.sync_start`` queues the job, then the child runs the job's task
   (``integrations.tasks.sync_job``) itself, with ``INTEGRATIONS_CA_BUNDLE`` the cloud's CA,
   ``INTEGRATIONS_ALLOW_PRIVATE_HOSTS=1`` and ``INTEGRATIONS_CONCURRENCY`` the first
   ``--concurrency`` (8 by default, the setting's default).
   Run 1 is the first sync (every asset's details, a new device each, 4 values each); run 2 the
   same assets again (their devices exist: state calls and writes only). Each further
   ``--concurrency`` is one more run like run 2 at that concurrency. For each: wall time of
   the job, assets/s, values written/s, the child's CPU per asset (user + system, every
   thread, from ``getrusage``), the CPU of its PostgreSQL backend, the pump cloud's CPU, the
   child's peak RSS, the job's counts and errors, the requests the cloud saw, and what
   PostgreSQL holds after: devices, tagged devices, current values (each checked against the
   cloud's state) and history points;
5. stops the cloud, prints a table, writes ``bench/results/integrations.json`` and drops the
   database (``--keep`` keeps it, and the processes' logs).

``--profile`` runs the child's job under cProfile (its main thread: listing, device creation
and the writes; the HTTP calls of the pool's threads are not in it) and prints the top
functions; ``--py-spy PATH`` samples, with that py-spy binary, whichever thread holds the GIL
(where the child's Python CPU goes) and prints the top functions. The cloud, the child,
PostgreSQL and Redis share the machine's cores: figures are a floor.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: fleet.py, device_api.py

import fleet  # noqa: E402  (re-executes with the venv's Python if psycopg is missing)
from device_api import _child_setup, _machine_busy, server_env, wait_quiet  # noqa: E402
from fleet import log, proc_cpu_s  # noqa: E402

ROOT = fleet.ROOT
RESULTS = ROOT / "bench" / "results" / "integrations.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/murano_integrations_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
OTHER_BENCHES = ("murano_fleet_bench", "murano_ui_bench", "bench_murano", "murano_claiming_bench",
                 "murano_portal_bench", "murano_import_bench")  # fmt: skip
RESOURCES = (
    ("temperature", "number"),
    ("battery", "integer"),
    ("vibration", "number"),
    ("running", "boolean"),
)
ASSET_PREFIX = "P-"


# --- the pump cloud, in a process of its own --------------------------------------------------


def serve_pump_cloud(assets: int, page_size: int) -> None:
    """The child that serves the pump cloud: prints ``{"host", "ca_path"}`` as one JSON line,
    then answers each ``stats`` line on stdin with the requests seen since the last one (by
    route), until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from tests.integrations.pump_cloud import BASE_PATH, PumpCloud

    cloud = PumpCloud().start()
    try:
        cloud.add_assets(assets, prefix=ASSET_PREFIX)
        cloud.page_size = page_size
        print(json.dumps({"host": cloud.host, "ca_path": cloud.ca_path}), flush=True)
        for line in sys.stdin:
            if line.strip() != "stats":
                continue
            with cloud._lock:
                seen, cloud.requests = cloud.requests, []
            counts: dict[str, int] = {}
            for request in seen:
                parts = request["path"].removeprefix(BASE_PATH).strip("/").split("/")
                route = {1: "GET /assets", 2: "GET /assets/{id}", 3: "GET /assets/{id}/state"}.get(
                    len(parts), "other"
                )
                key = route if request["method"] == "GET" else f"{request['method']} other"
                counts[key] = counts.get(key, 0) + 1
            print(json.dumps(counts), flush=True)
    finally:
        cloud.stop()


class CloudProcess:
    """The pump cloud's process, seen from the bench."""

    def __init__(self, assets: int, page_size: int, log_path: Path):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-pump-cloud", str(assets),
             str(page_size)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            start_new_session=True, preexec_fn=_child_setup,
        )  # fmt: skip
        line = self._line(60)
        info = json.loads(line)
        self.host, self.ca_path = info["host"], info["ca_path"]

    def _line(self, timeout: float) -> str:
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not got or not got[0]:
            raise RuntimeError(
                f"the pump cloud did not answer (exit code {self.proc.poll()}); see {self.log.name}"
            )
        return got[0]

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self._line(30))

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# --- the measured process: one sync job, as a worker runs it ---------------------------------


def run_sync_child(connector_id: str, out_path: str, profile: bool) -> None:
    """In the child: queue a sync job with ``sync_start`` and run its task here. Writes the
    figures (wall time, CPU, peak RSS, the job) to ``out_path`` as JSON."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from integrations.models import Integration
    from integrations.services import sync_start
    from integrations.tasks import sync_job
    from jobs.models import Job

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    integration = Integration.objects.select_related("connector__business").get(connector_id=connector_id)
    job, created = sync_start(integration=integration)
    if not created:
        raise SystemExit(f"a sync of {connector_id} was already queued or running: job {job.pk}")

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    usage0, backend0 = resource.getrusage(resource.RUSAGE_SELF), proc_cpu_s(backend_pid)
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    sync_job(str(job.pk))  # the task's function, in this process: what the worker runs
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    usage1, backend1 = resource.getrusage(resource.RUSAGE_SELF), proc_cpu_s(backend_pid)

    job = Job.objects.get(pk=job.pk)
    figures = {
        "job_id": str(job.pk),
        "concurrency": settings.INTEGRATIONS_CONCURRENCY,
        "wall_s": wall,
        "cpu_user_s": usage1.ru_utime - usage0.ru_utime,
        "cpu_system_s": usage1.ru_stime - usage0.ru_stime,
        "peak_rss_mb": usage1.ru_maxrss / 1024,  # kB on Linux; the process's peak since it started
        "db_backend_cpu_s": backend1 - backend0,
        "job": {
            "state": job.state,
            "detail": job.detail,
            "total": job.total,
            "done": job.done,
            "created": job.created,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "error_count": job.error_count,
            "errors": job.errors[:10],
        },  # fmt: skip
    }
    if profiler:
        import io
        import pstats

        for key in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(key).print_stats(30)
            figures[f"profile_{key}"] = text.getvalue()
    Path(out_path).write_text(json.dumps(figures))


# --- the bench's side -------------------------------------------------------------------------


def pump_connector(business):
    """A new connector with the four resources the pump cloud's state fills."""
    from connectors.services import connector_create, resource_create

    connector = connector_create(business=business, name="Integrations bench")
    for alias, fmt in RESOURCES:
        resource_create(connector=connector, alias=alias, format=fmt)
    connector.refresh_from_db()
    return connector


def integration_body(cloud: CloudProcess) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.integrations.pump_cloud import PumpCloud, pump_cloud_spec

    return {
        "spec": pump_cloud_spec(cloud.host),
        "config": {"username": PumpCloud.username, "password": PumpCloud.password},
        "sync": {
            "list_operation": "listAssets",
            "state_operation": "getAssetState",
            "detail_operation": "getAsset",
            "id_field": "id",
            "identity": "sha256",
            "page_parameter": "page",
            "interval_seconds": 86400,  # no beat runs here; the bench starts each run
        },
        "maintainer_email": "ops@example.com",
    }


def expected_states(assets: int) -> dict[tuple[str, str], str]:
    """``{(device identity, alias): text}``: the pump cloud's state of each asset, as the
    platform stores it (``cloud_value_to_text``)."""
    sys.path.insert(0, str(ROOT))
    from connectors.values import cloud_value_to_text
    from tests.integrations.pump_cloud import asset_state

    expected = {}
    for i in range(1, assets + 1):
        identity = hashlib.sha256(f"{ASSET_PREFIX}{i:04d}".encode()).hexdigest()
        for alias, value in asset_state(i).items():
            expected[(identity, alias)] = cloud_value_to_text(value)
    return expected


def database_counts(connector_id: str, expected: dict) -> dict:
    """What PostgreSQL holds for the connector: devices, devices tagged with their asset id,
    current values (and how many differ from the cloud's state), history points."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM devices_device WHERE connector_id = %s", [connector_id])
        devices = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM devices_devicetag WHERE connector_id = %s AND name = %s",
            [connector_id, "integration:asset_id"],
        )
        tagged = cursor.fetchone()[0]
        cursor.execute(
            "SELECT d.identity, s.alias, s.reported FROM devices_devicestate s "
            "JOIN devices_device d ON d.id = s.device_id WHERE d.connector_id = %s",
            [connector_id],
        )
        states = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM devices_valuepoint p JOIN devices_device d ON d.id = p.device_id "
            "WHERE d.connector_id = %s",
            [connector_id],
        )
        points = cursor.fetchone()[0]
    got = {(identity, alias): reported for identity, alias, reported in states}
    wrong = sum(1 for key, text in expected.items() if got.get(key) != text)
    return {
        "devices": devices,
        "tagged_devices": tagged,
        "current_values": len(states),
        "values_differing_from_cloud": wrong,
        "history_points": points,
    }


def sync_run(args, name: str, concurrency: int, env: dict, connector_id: str, cloud: CloudProcess,
             workdir: Path, expected: dict, points_before: int) -> dict:  # fmt: skip
    """One sync in a child process; its figures with the cloud's and the database's."""
    out = workdir / f"{name.replace(' ', '-')}.json"
    child_env = {**env, "INTEGRATIONS_CONCURRENCY": str(concurrency)}
    cloud.stats()  # forget the requests before this run
    cloud_cpu0, machine0 = cloud.cpu_s(), _machine_busy()
    started = time.perf_counter()
    argv = [sys.executable, str(Path(__file__).resolve()), "--sync-child", connector_id, str(out)]
    if args.profile:
        argv.append("--profile")
    stacks = workdir / f"{name.replace(' ', '-')}.stacks"
    if args.py_spy:  # the thread holding the GIL: where the process's Python CPU goes
        argv = [args.py_spy, "record", "--format", "raw", "--rate", "250", "--gil", "--output", str(stacks),
                "--nonblocking", "--", *argv]  # fmt: skip
    with open(workdir / f"{name.replace(' ', '-')}.log", "wb") as child_log:
        done = subprocess.run(
            argv, cwd=ROOT, env=child_env, stdout=child_log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_child_setup, timeout=args.timeout,
        )  # fmt: skip
    process_s = time.perf_counter() - started
    machine1 = _machine_busy()
    if done.returncode != 0 or not out.exists():
        tail = (workdir / f"{name.replace(' ', '-')}.log").read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{name}: the sync's process exited with {done.returncode}:\n" + "\n".join(tail))
    child = json.loads(out.read_text())
    cloud_cpu = cloud.cpu_s() - cloud_cpu0
    requests = cloud.stats()
    after = database_counts(connector_id, expected)
    job = child["job"]
    assets = job["done"]
    wall = child["wall_s"]
    written = after["history_points"] - points_before
    cpu = child["cpu_user_s"] + child["cpu_system_s"]
    figures = {
        "name": name,
        "concurrency": child["concurrency"],
        "wall_s": round(wall, 2),
        "assets_per_s": round(assets / wall, 1),
        "values_written": written,
        "values_written_per_s": round(written / wall, 1),
        "worker_cpu_s": round(cpu, 2),
        "worker_cpu_user_s": round(child["cpu_user_s"], 2),
        "worker_cpu_system_s": round(child["cpu_system_s"], 2),
        "worker_cpu_ms_per_asset": round(1000 * cpu / assets, 3) if assets else None,
        "worker_busy_cores": round(cpu / wall, 2),
        "db_backend_cpu_ms_per_asset": round(1000 * child["db_backend_cpu_s"] / assets, 3)
        if assets
        else None,
        "pump_cloud_cpu_ms_per_asset": round(1000 * cloud_cpu / assets, 3) if assets else None,
        "worker_peak_rss_mb": round(child["peak_rss_mb"], 1),
        "process_s": round(process_s, 2),  # with the child's start-up (Django, imports)
        # The whole machine while the child ran (the other processes on it included).
        "machine_busy_pct": round(
            100 * (machine1[0] - machine0[0]) / max(1e-9, machine1[1] - machine0[1]), 1
        ),
        "errors": job["error_count"],
        "job": job,
        "cloud_requests": requests,
        "after": after,
    }
    for key in ("profile_tottime", "profile_cumulative"):
        if key in child:
            figures[key] = child[key]
    if args.py_spy and stacks.exists():
        figures["py_spy"] = stacks_summary(stacks.read_text())
    return figures


def stacks_summary(raw: str, top: int = 25) -> dict:
    """py-spy's collapsed stacks (``frame;frame;… count``) as the functions most often on CPU
    (``self``: the innermost frame) and most often on the stack (``inclusive``), in % of the
    samples of the sync's threads (those under ``sync_job``, or the pool's ``_worker``)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        if "sync_job" not in stack and "_worker (concurrent/futures/thread.py" not in stack:
            continue  # start-up, the lease's heartbeat thread
        count = int(count_text)
        total += count
        frames = [frame.rsplit(":", 1)[0] + ")" if ":" in frame else frame for frame in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def ranked(counts: dict[str, int]) -> list[list]:
        best = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return [[frame, round(100 * n / total, 1)] for frame, n in best]

    return {"samples": total, "self_pct": ranked(own), "inclusive_pct": ranked(inclusive)} if total else {}


def checks(run: dict, assets: int, run_number: int) -> list[str]:
    """What is wrong with a run's outcome (nothing, when it did what it should)."""
    problems = []
    job, after = run["job"], run["after"]
    if job["state"] != "finished":
        problems.append(f"job {job['state']}: {job['detail']}")
    if run["errors"]:
        problems.append(f"{run['errors']} errors, e.g. {job['errors'][:2]}")
    if after["devices"] != assets or after["tagged_devices"] != assets:
        problems.append(f"{after['devices']} devices ({after['tagged_devices']} tagged), not {assets}")
    if after["current_values"] != 4 * assets or after["values_differing_from_cloud"]:
        problems.append(f"{after['current_values']} current values, "
                        f"{after['values_differing_from_cloud']} differ from the cloud")  # fmt: skip
    if after["history_points"] != 4 * assets * run_number:
        problems.append(f"{after['history_points']} history points, not {4 * assets * run_number}")
    if run["cloud_requests"].get("GET /assets/{id}/state") != assets:
        problems.append(f"the cloud saw {run['cloud_requests']}")
    return problems


def print_report(report: dict) -> None:
    config = report["config"]
    print(f"\nintegrations bench: {config['assets']:,} assets of the pump cloud (HTTPS, own CA, a process of "
          f"its own), {config['page_size']:,} a page; 4 values each; PostgreSQL {report.get('postgresql')}, "
          f"{report['cpus']} CPUs")  # fmt: skip
    head = (f"  {'run':<26}{'conc':>5}{'wall s':>8}{'assets/s':>10}{'values/s':>10}{'CPU ms/asset':>13}"
            f"{'PG ms/asset':>12}{'RSS MB':>8}{'errors':>7}{'machine':>8}  devices / history")  # fmt: skip
    print(head)
    for run in report["runs"]:
        after = run["after"]
        print(f"  {run['name']:<26}{run['concurrency']:>5}{run['wall_s']:>8.1f}{run['assets_per_s']:>10,.0f}"
              f"{run['values_written_per_s']:>10,.0f}{run['worker_cpu_ms_per_asset']:>13.2f}"
              f"{run['db_backend_cpu_ms_per_asset']:>12.2f}{run['worker_peak_rss_mb']:>8.0f}{run['errors']:>7}"
              f"{run['machine_busy_pct']:>7.0f}%"
              f"  {after['devices']:,} / {after['history_points']:,}")  # fmt: skip
    for run in report["runs"]:
        if run.get("problems"):
            print(f"  PROBLEMS in {run['name']}: {'; '.join(run['problems'])}")
    print("  CPU ms/asset: the worker process (every thread); PG ms/asset: its PostgreSQL backend;")
    print(
        "  machine: how busy every core was meanwhile (other load too); the pump cloud's CPU is in the JSON"
    )


def _commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url",
                        default=os.environ.get("INTEGRATIONS_BENCH_DATABASE_URL", DEFAULT_URL))  # fmt: skip
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--assets", type=int, default=10_000, help="assets of the pump cloud")
    parser.add_argument("--page-size", type=int, default=1000, help="assets per page of GET /assets")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32],
                        help="INTEGRATIONS_CONCURRENCY of runs 1 and 2; each further value: one more run "
                             "like run 2 at that concurrency")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=600, help="seconds one sync may take")
    parser.add_argument("--wait-quiet", type=float, default=20,
                        help="wait up to this long for other load to stop before each run")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile the sync's main thread")
    parser.add_argument("--py-spy", metavar="PATH",
                        help="sample the sync's threads with this py-spy binary (slows it)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args()

    url = args.database_url
    _, name = fleet.split_url(url)
    if name in ("test", "postgres", "template0", "template1", *OTHER_BENCHES) or name.startswith("test"):
        raise SystemExit(f"refusing to recreate the {name!r} database; choose another --database-url")
    report: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": name,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "commit": _commit(),
        "load_average_at_start": os.getloadavg(),
        "config": {k: v for k, v in vars(args).items() if k not in ("database_url", "keep", "timeout")},
        "runs": [],
    }
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # cleanup runs
    workdir = Path(tempfile.mkdtemp(prefix="bench-integrations-"))
    started = time.monotonic()
    cloud = None
    failed = False
    try:
        log(f"recreating database {name}")
        fleet.recreate_database(url)
        # The parent and the children share the key that encrypts the integration's password.
        os.environ["SECRET_KEY"] = secrets.token_urlsafe(40)
        os.environ["MURANO_VAR_DIR"] = str(workdir / "var")
        os.environ["INTEGRATIONS_ALLOW_PRIVATE_HOSTS"] = "1"
        log(f"pump cloud: {args.assets:,} assets, {args.page_size} a page, in a process of its own")
        cloud = CloudProcess(args.assets, args.page_size, workdir / "pump-cloud.log")
        os.environ["INTEGRATIONS_CA_BUNDLE"] = cloud.ca_path
        fleet.setup_django(url)
        from django.core.management import call_command
        from django.db import connection

        from accounts.services import account_create
        from integrations.services import integration_put

        log("migrating")
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            report["postgresql"] = cursor.fetchone()[0]
        membership = account_create(email="integrations@example.com", password=secrets.token_urlsafe(12),
                                    business_name="Integrations", role="admin")  # fmt: skip
        connector = pump_connector(membership.business)
        integration_put(connector=connector, data=integration_body(cloud), user=membership.user)
        log(f"connector {connector.pk}: integration with {cloud.host} saved")
        expected = expected_states(args.assets)
        connection.close()  # the children's turn; this process only counts between runs

        env = server_env(database_url=url, redis_url=args.redis_url,
                         channel_prefix=f"intbench{secrets.token_hex(3)}", workdir=workdir)  # fmt: skip
        env.update({
            "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": "1",
            "INTEGRATIONS_CA_BUNDLE": cloud.ca_path,
            "SECRET_KEY": os.environ["SECRET_KEY"],
            # The child runs the task itself (as the worker): the message sync_start sends has
            # nobody to go to, and none is left behind in Redis.
            "CELERY_BROKER_URL": "memory://",
        })  # fmt: skip
        plan = [("run 1: first sync", args.concurrency[0]), ("run 2: existing devices", args.concurrency[0])]
        plan += [(f"run {3 + n}: existing devices", c) for n, c in enumerate(args.concurrency[1:])]
        points = 0
        for number, (run_name, concurrency) in enumerate(plan, start=1):
            busy = wait_quiet(args.wait_quiet)
            log(f"{run_name}, INTEGRATIONS_CONCURRENCY={concurrency} (machine {busy:.0f}% busy before)")
            run = sync_run(args, run_name, concurrency, env, connector.pk, cloud, workdir, expected, points)
            connection.close()
            points = run["after"]["history_points"]
            run["problems"] = checks(run, args.assets, number)
            run["machine_busy_pct_before"] = round(busy, 1)
            report["runs"].append(run)
            log(f"  {run['wall_s']} s: {run['assets_per_s']:,} assets/s, {run['values_written_per_s']:,} "
                f"values/s, {run['worker_cpu_ms_per_asset']} ms CPU/asset, peak RSS "
                f"{run['worker_peak_rss_mb']} MB, {run['errors']} errors"
                + (f"; PROBLEMS: {run['problems']}" if run["problems"] else ""))  # fmt: skip
            if "profile_tottime" in run:
                print(run["profile_tottime"])
            for kind in ("self_pct", "inclusive_pct"):
                for frame, pct in run.get("py_spy", {}).get(kind, [])[:15]:
                    print(f"    py-spy {kind[:-4]:<9} {pct:5.1f}%  {frame}")
    except BaseException:
        failed = True
        log(f"failed: the logs are in {workdir}")
        raise
    finally:
        if cloud is not None:
            cloud.stop()
        _redis_clean(args.redis_url)
        if not args.keep:
            from django.db import connections

            with contextlib.suppress(Exception):  # Django may not be set up yet
                connections.close_all()
            admin_url, _ = fleet.split_url(url)
            with fleet.psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name} (--keep keeps it)")
        if not failed and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["load_average_at_end"] = os.getloadavg()
    print_report(report)
    print(f"total time {report['elapsed_s']:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if any(run["problems"] for run in report["runs"]) else 0


def _redis_clean(redis_url: str) -> None:
    """The connector's recent events leave the bench's Redis db (the runs published them)."""
    try:
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter("murano:events:*", count=1000):
            client.delete(key)
    except Exception as exc:  # noqa: BLE001 - cleanup only
        log(f"  Redis cleanup failed: {exc}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-pump-cloud"]:
        serve_pump_cloud(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["--sync-child"]:
        run_sync_child(sys.argv[2], sys.argv[3], profile="--profile" in sys.argv[4:])
    else:
        sys.exit(main())
