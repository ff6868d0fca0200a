#!/usr/bin/env python
"""Web UI benchmarks (issue #4): the Devices tab at fleet scale, and live Logs latency.

    .venv/bin/python bench/ui.py [--devices 1000000] [--requests 100] [--reuse] [--keep]
                                 [--rate 500] [--duration 20] [--skip-list] [--skip-logs]

What it does, in order:

1. recreates the PostgreSQL database ``murano_ui_bench`` (``--database-url``), migrates it and
   loads ``--devices`` devices (~3.2 tags each) into one connector with ``bench/fleet.py``'s
   COPY loader — or, with ``--reuse``, keeps what an earlier ``--keep`` run loaded;
2. **Devices tab** (``/connectors/<id>/devices/``, target: a filtered page in < 100 ms of server
   time): logs a member of the connector's business in through Django's authentication with
   the test client, in this process (the real stack: middleware, session, view, template), and
   GETs the tab ``--requests`` times per filter kind (no filter, status, search box, the tag
   column alone and with a value, two orderings), each with its own random value, then the
   page behind each page's own "Next" link. Every page must be a 200 listing devices. Then
   the device page of a device with 3 resources and 1,000 points of history each;
3. **Logs tab** (target: a device event reaches an open Logs tab in < 200 ms, p99, at 500
   events/s): starts gunicorn (device writes, pages — ``--write-server daphne`` sends the
   writes to Daphne instead) and one Daphne process (websockets) on PostgreSQL + Redis with a
   channel prefix of its own, logs in through the login form, opens the Logs tab's websocket
   (``/ws/connectors/<id>/logs/``, session cookie) with the ``websockets`` client, and from a
   second process writes ``temp=<n>`` through the device API (``POST /onep:v1/stack/alias``,
   one new connection per write, ``--devices-writing`` devices activated over HTTP first) at
   ``--rate`` writes/s, open loop, for ``--warmup`` + ``--duration`` s. Each write's
   ``data_in`` event is matched on the socket by its value: latency from the write's request
   (connect) to the event's arrival, from its response, and from the event's own server
   timestamp (``--tabs N``: N sockets, each event counted on each). Writes of the warm-up are
   left out. If the writes fall short of a single ``--rate`` (the machine has 2 shared cores),
   the phase runs again at 90% of the rate reached; ``--rate 500,400,300`` measures each;
4. prints the figures with the load average and writes ``bench/results/ui.json``; drops the
   database unless ``--keep``.

Clients run on the same cores as the servers, PostgreSQL and Redis: figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import logging
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: fleet.py, device_api.py

import fleet  # noqa: E402  (re-executes with the venv's Python if psycopg is missing)
from device_api import (  # noqa: E402
    DOMAIN,
    CpuMeter,
    Processes,
    free_port,
    http_call,
    server_env,
    start_servers,
    wait_http,
    wait_quiet,
)  # fmt: skip
from fleet import BATCHES, MODELS, REGIONS, SITES, identity_of, log, percentile, summary  # noqa: E402

ROOT = fleet.ROOT
RESULTS = ROOT / "bench" / "results" / "ui.json"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/murano_ui_bench"
PAGE_TARGET_MS = 100.0
LOGS_P99_TARGET_MS = 200.0
EMAIL, PASSWORD = "ui@example.com", "ui-bench-password-1"
CONNECTOR_NAME = "UI bench"
STATUSES = ["provisioned", "whitelisted", "expired", "locked", "devmode", "reprovision"]
TAGS = {"site": SITES, "batch": BATCHES, "model": MODELS, "region": REGIONS}
HISTORY_POINTS = 1000


# --- 1. the Devices tab ----------------------------------------------------------------------


def page_kinds(rng: random.Random, total: int) -> dict:
    """For each filter kind, a function giving the query string of one request (the names of
    the tab's own controls: ``q`` search box, ``status``, ``tag`` column, ``ordering``)."""

    def search() -> dict:
        # What a product manager types: the start of an identity (the box finds any part).
        return {"q": identity_of(rng.randrange(1, total + 1))[: rng.choice([2, 3, 4, 6])]}

    def tag_value() -> dict:
        name = rng.choice(list(TAGS))
        return {"tag": name, "q": rng.choice(TAGS[name])}

    return {
        "no filter": lambda: {},
        "status": lambda: {"status": rng.choice(STATUSES)},
        "search box (identity start)": search,
        "tag column": lambda: {"tag": rng.choice(list(TAGS))},
        "tag column = value": tag_value,
        "sort -last_seen": lambda: {"ordering": "-last_seen", **rng.choice([{}, {"status": "provisioned"}])},
        "sort -created_at": lambda: {"ordering": "-created_at"},
    }


_NEXT = re.compile(r'href="([^"]*)" rel="next"')
_COUNT = re.compile(r'role="status">(About )?([\d,]+) device')


def _rows(body: str, connector_id: str) -> int:
    return body.count(f'<td class="mono"><a href="/connectors/{connector_id}/devices/')


def measure_tab(client, connector_id: str, kinds: dict, requests: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"/connectors/{connector_id}/devices/"
    results = {}
    for kind, make_query in kinds.items():
        first, following, rows, counts, estimates = [], [], [], [], 0
        for n in range(requests + 5):
            query = make_query()
            started = time.perf_counter()
            response = client.get(url, query)
            elapsed = (time.perf_counter() - started) * 1000
            body = response.content.decode()
            if response.status_code != 200 or not _rows(body, connector_id):
                raise SystemExit(f"{kind} {query}: {response.status_code}, {_rows(body, connector_id)} rows")
            if n < 5:  # warm-up
                continue
            first.append(elapsed)
            rows.append(_rows(body, connector_id))
            count = _COUNT.search(body)
            if count:
                counts.append(int(count.group(2).replace(",", "")))
                estimates += bool(count.group(1))
            link = _NEXT.search(body)
            if link:
                started = time.perf_counter()
                response = client.get(url + html.unescape(link.group(1)))
                following.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or not _rows(response.content.decode(), connector_id):
                    raise SystemExit(f"{kind} next page of {query}: {response.status_code}")
        with CaptureQueriesContext(connection) as queries:  # one more, to count its queries
            client.get(url, make_query())
        sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        results[kind] = {
            "queries_per_page": len(queries),
            "sql_ms_of_one_page": round(sql_ms, 1),
            "first_page": summary(first),
            "next_page": summary(following) if following else None,
            "rows_per_page_median": int(statistics.median(rows)),
            "matches_median": int(statistics.median(counts)) if counts else None,
            "estimated_counts": estimates,
        }
        nxt = results[kind]["next_page"] or {}
        first = results[kind]["first_page"]
        log(
            f"  {kind:<28} p50 {first['p50_ms']:6.1f}  p95 {first['p95_ms']:6.1f}  max {first['max_ms']:6.1f}"
            f" ms   next p95 {nxt.get('p95_ms', float('nan')):6.1f} ms   {len(queries)} queries, "
            f"{sql_ms:.1f} ms of SQL"
        )
    return results


def history_device(connector, pick: int) -> tuple[str, dict]:
    """A provisioned device with 3 resources and ``HISTORY_POINTS`` points of history each,
    written through ``devices.services.device_write`` (kept by ``--reuse``)."""
    from connectors import runtime
    from connectors.models import Resource
    from connectors.services import resource_create
    from devices.models import Device, ValuePoint
    from devices.services import device_write

    for alias, fmt in (("temp", "float"), ("humidity", "number"), ("mode", "string")):
        if not Resource.objects.filter(connector=connector, alias=alias).exists():
            resource_create(connector=connector, alias=alias, format=fmt)
    connector.refresh_from_db()
    provisioned = Device.objects.filter(connector=connector, lifecycle="provisioned").order_by("identity")
    device = provisioned.filter(identity__gte=identity_of(pick)).first() or provisioned.first()
    points = ValuePoint.objects.filter(device=device).count()
    started = time.perf_counter()
    if points < 3 * HISTORY_POINTS:
        rules = runtime.resource_rules(connector.pk, connector.updated_at)
        rng = random.Random(5)
        for _ in range(HISTORY_POINTS):
            values = {
                "temp": f"{20 + rng.gauss(0, 2):.2f}",
                "humidity": str(rng.randrange(30, 70)),
                "mode": rng.choice(["eco", "comfort", "off"]),
            }
            device_write(device=device, values=values, rules=rules, ip="10.0.0.1")
        points = ValuePoint.objects.filter(device=device).count()
    return device.identity, {"points": points, "written_s": round(time.perf_counter() - started, 1)}


def measure_device_page(client, connector_id: str, identity: str, requests: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = f"/connectors/{connector_id}/devices/{identity}/"
    times = []
    for n in range(requests + 5):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or identity not in response.content.decode():
            raise SystemExit(f"device page {url}: {response.status_code}")
        if n >= 5:
            times.append(elapsed)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    return {**summary(times), "queries_per_page": len(queries), "sql_ms_of_one_page": round(sql_ms, 1)}


# --- 2. the Logs tab -------------------------------------------------------------------------


async def _generate(config: dict) -> None:
    """The write generator (its own process, started with ``--generate``): ``rate`` writes/s,
    open loop, each on a new connection, ``temp=<sequence number>`` of device ``n % devices``."""
    tokens = config["tokens"]
    rate, total = config["rate"], int(config["rate"] * (config["warmup"] + config["duration"]))
    in_flight = asyncio.Semaphore(config["max_in_flight"])
    records: list = [None] * total
    headers = {"Host": config["host"], "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    async def write(seq: int, scheduled: float) -> None:
        async with in_flight:
            sent = time.monotonic()
            try:
                status, _, _ = await http_call(
                    config["port"],
                    "POST",
                    "/onep:v1/stack/alias",
                    {**headers, "X-Exosite-CIK": tokens[seq % len(tokens)]},
                    f"temp={seq}".encode(),
                    timeout=30,
                )
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                status = f"{type(exc).__name__}"
            records[seq] = (seq, scheduled, sent, time.monotonic(), status)

    sys.stdin.readline()  # "go": the Logs socket is open
    start = time.monotonic()
    tasks = []
    for seq in range(total):
        scheduled = start + seq / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(write(seq, scheduled)))
    await asyncio.gather(*tasks)
    Path(config["out"]).write_text(json.dumps({"start": start, "records": records}))


def generate_main(config_path: str) -> None:
    asyncio.run(_generate(json.loads(Path(config_path).read_text())))


def login_cookie(port: int) -> str:
    """The session cookie of the login form (as a browser gets it), after checking that the
    Logs tab's page opens with it."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        form = http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        answer = http.post(
            "/accounts/login/", data={"csrfmiddlewaretoken": token, "username": EMAIL, "password": PASSWORD}
        )
        if answer.status_code != 302 or "sessionid" not in http.cookies:
            raise SystemExit(f"login failed: {answer.status_code}")
        return f"sessionid={http.cookies['sessionid']}"


async def logs_run(
    *,
    ws_url: str,
    origin: str,
    cookie: str,
    prefix: str,
    tabs: int,
    generator_argv: list[str],
    procs: Processes,
    meter: CpuMeter,
    grace: float,
) -> dict:
    """Open ``tabs`` Logs sockets, start the generator, collect each ``data_in`` event's arrival
    on each socket."""
    import websockets

    arrivals: list[dict[int, tuple[float, float]]] = [{} for _ in range(tabs)]
    counts = {"recent": 0, "other_events": 0, "duplicates": 0, "open_ms": []}

    async def receive(ws, seen: dict) -> None:
        async for raw in ws:
            arrived, wall_us = time.monotonic(), time.time_ns() // 1000
            event = json.loads(raw).get("event") or {}
            if event.get("type") != "data_in" or not str(event.get("identity", "")).startswith(prefix):
                counts["other_events"] += 1
                continue
            for point in event.get("payload") or []:
                seq = int((point.get("values") or {}).get("temp", -1))
                if seq in seen:
                    counts["duplicates"] += 1
                else:
                    seen[seq] = (arrived, (wall_us - event["timestamp"]) / 1000)

    async with contextlib.AsyncExitStack() as stack:
        receivers = []
        for seen in arrivals:
            opened = time.monotonic()
            ws = await stack.enter_async_context(
                websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": origin})
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if first.get("kind") != "recent":
                raise SystemExit(f"the Logs socket sent {str(first)[:200]} first")
            counts["recent"] = len(first["events"])
            counts["open_ms"].append(round((time.monotonic() - opened) * 1000, 1))
            receivers.append(asyncio.create_task(receive(ws, seen)))
        generator = subprocess.Popen(generator_argv, cwd=ROOT, stdin=subprocess.PIPE, start_new_session=True)
        procs.procs.append(("generator", generator))
        await asyncio.sleep(0.5)  # the generator's imports
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        meter.start()
        generator.stdin.write(b"go\n")
        generator.stdin.flush()
        while generator.poll() is None:
            for receiver in receivers:
                if receiver.done():
                    raise SystemExit(f"a Logs socket closed: {receiver.exception()!r}")
            await asyncio.sleep(0.1)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the generator, reaped by poll()
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu = meter.stop({"generator": used})
        await asyncio.sleep(grace)  # stragglers
        for receiver in receivers:
            receiver.cancel()
    procs.procs.remove(("generator", generator))
    if generator.returncode != 0:
        raise SystemExit(f"the write generator failed ({generator.returncode})")
    return {"arrivals": arrivals, "counts": counts, "cpu": cpu}


def logs_figures(generated: dict, received: dict, warmup: float, rate: float) -> dict:
    start, records = generated["start"], generated["records"]
    measured = [r for r in records if r[1] - start >= warmup]
    ok = [r for r in measured if isinstance(r[4], int) and 200 <= r[4] < 300]
    from_send, from_response, from_emit = [], [], []
    for arrivals in received["arrivals"]:  # each open tab
        for seq, _, sent, answered, _ in ok:
            if seq in arrivals:
                arrived, emit_ms = arrivals[seq]
                from_send.append((arrived - sent) * 1000)
                from_response.append((arrived - answered) * 1000)
                from_emit.append(emit_ms)
    span = max(r[3] for r in measured) - min(r[2] for r in measured)
    statuses: dict[str, int] = {}
    for r in measured:
        statuses[str(r[4])] = statuses.get(str(r[4]), 0) + 1

    def stats(values: list[float]) -> dict:
        if not values:
            return {}
        return {
            "p50_ms": round(percentile(values, 0.50), 1),
            "p95_ms": round(percentile(values, 0.95), 1),
            "p99_ms": round(percentile(values, 0.99), 1),
            "max_ms": round(max(values), 1),
            "min_ms": round(min(values), 1),
        }

    write_ms = [(r[3] - r[2]) * 1000 for r in ok]
    lag_ms = [(r[2] - r[1]) * 1000 for r in measured]
    return {
        "target_rate": rate,
        "writes": len(measured),
        "writes_ok": len(ok),
        "statuses": statuses,
        "achieved_writes_per_s": round(len(ok) / span, 1) if span else 0.0,
        "events_received": len(from_send),
        "tabs": len(received["arrivals"]),
        "events_lost": len(ok) * len(received["arrivals"]) - len(from_send),
        "duplicates": received["counts"]["duplicates"],
        "latency_from_request": stats(from_send),
        "latency_from_response": stats(from_response),
        "latency_from_event_timestamp": stats(from_emit),
        "write_response": stats(write_ms),
        "generator_lag": stats(lag_ms),
        "socket": {k: v for k, v in received["counts"].items() if k != "duplicates"},
        "cpu": received["cpu"],
    }


def logs_phase(args, url: str, business, workdir: Path, procs: Processes) -> dict:
    """Servers on PostgreSQL + Redis, a connector with devices writing, the Logs socket."""
    from connectors.services import connector_create, connector_delete, resource_create

    run = secrets.token_hex(3)
    connector = connector_create(business=business, name=f"UI logs bench {run}", settings={"devmode": True})
    resource_create(connector=connector, alias="temp", format="number")
    prefix = f"logs-{run}-"
    channel_prefix = f"uibench{run}"
    env = server_env(
        database_url=url, redis_url=args.redis_url, channel_prefix=channel_prefix, workdir=workdir
    )
    wsgi_port, asgi_port = free_port(), free_port()
    gunicorn, daphne = start_servers(
        procs, wsgi_port=wsgi_port, asgi_port=asgi_port, workers=args.workers,
        wsgi_env={**env, "DB_CONN_MAX_AGE": "600"},
        asgi_env={**env, "DB_POOL_MAX_SIZE": "24", "DEVICE_API_THREADS": "16"},
    )  # fmt: skip
    write_port = asgi_port if args.write_server == "daphne" else wsgi_port
    log(
        f"  gunicorn ({args.workers} workers) :{wsgi_port}, Daphne :{asgi_port}; writes to "
        f"{args.write_server}; channel prefix {channel_prefix}"
    )
    results: dict = {
        "write_server": args.write_server,
        "gunicorn_workers": args.workers,
        "devices_writing": args.devices_writing,
        "tabs": args.tabs,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "attempts": [],
    }
    try:
        wait_http(wsgi_port, "/healthz", 60, procs)
        wait_http(asgi_port, "/healthz", 60, procs)
        host = f"{connector.pk}.{DOMAIN}"

        async def activate_all() -> list[str]:
            gate = asyncio.Semaphore(8)

            async def one(n: int) -> str:
                async with gate:
                    status, _, body = await http_call(
                        wsgi_port,
                        "POST",
                        "/provision/activate",
                        {"Host": host, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                        f"id={prefix}{n:04d}".encode(),
                    )
                if status != 200:
                    raise SystemExit(f"activation of {prefix}{n:04d}: {status} {body[:200]!r}")
                return body.decode()

            return await asyncio.gather(*(one(n) for n in range(args.devices_writing)))

        tokens = asyncio.run(activate_all())
        log(f"  {len(tokens)} devices activated over HTTP")
        cookie = login_cookie(wsgi_port)
        answer = http_get(wsgi_port, f"/connectors/{connector.pk}/logs/", cookie)
        ws_path = re.search(r'data-ws-path="([^"]+)"', answer)
        ws_path = html.unescape(ws_path.group(1)) if ws_path else f"/ws/connectors/{connector.pk}/logs/"
        meter = CpuMeter({"gunicorn": gunicorn.pid, "daphne": daphne.pid})
        rates = [float(r) for r in args.rate.split(",")]
        pending = list(rates)
        while pending:
            rate = pending.pop(0)
            config = {
                "port": write_port,
                "host": host,
                "tokens": tokens,
                "rate": rate,
                "warmup": args.warmup,
                "duration": args.duration,
                "max_in_flight": 256,
                "out": str(workdir / f"writes-{rate}.json"),
            }
            config_path = workdir / f"generator-{rate}.json"
            config_path.write_text(json.dumps(config))
            busy = wait_quiet(args.wait_quiet)
            log(
                f"  Logs socket open; {rate:g} writes/s for {args.warmup:g} + {args.duration:g} s "
                f"(the machine was {busy:.0f}% busy before)"
            )
            received = asyncio.run(
                logs_run(
                    ws_url=f"ws://127.0.0.1:{asgi_port}{ws_path}",
                    origin=f"http://127.0.0.1:{asgi_port}",
                    cookie=cookie,
                    prefix=prefix,
                    tabs=args.tabs,
                    procs=procs,
                    meter=meter,
                    grace=args.grace,
                    generator_argv=[
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--generate",
                        str(config_path),
                    ],
                )
            )
            procs.check_alive()
            figures = logs_figures(json.loads(Path(config["out"]).read_text()), received, args.warmup, rate)
            figures["background_busy_pct_before"] = round(busy, 1)
            results["attempts"].append(figures)
            lat = figures["latency_from_request"]
            log(
                f"  {figures['achieved_writes_per_s']:,.0f} writes/s, {figures['events_received']:,} events, "
                f"{figures['events_lost']} lost; request→event p50 {lat.get('p50_ms')} "
                f"p99 {lat.get('p99_ms')} max {lat.get('max_ms')} ms"
            )
            reached = figures["achieved_writes_per_s"]
            if len(rates) == 1 and len(results["attempts"]) == 1 and reached < 0.95 * rate:
                pending.append(max(10, int(reached * 0.9 / 10) * 10))
                log(f"  the writes reached {reached:,.0f}/s of {rate:g}: again at {pending[0]:g}/s")
    finally:
        procs.stop_all()
        try:
            import redis

            redis.Redis.from_url(args.redis_url).delete(f"murano:events:{connector.pk}")
        except Exception:  # noqa: BLE001 - cleanup only
            pass
        connector_delete(connector=connector)
    return results


def http_get(port: int, path: str, cookie: str) -> str:
    import httpx

    answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie}, timeout=30)
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code}")
    return answer.text


# --- main ------------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    tab = report.get("devices_tab")
    if tab:
        print(
            f"\nDevices tab, {report['fleet_devices']:,} devices in one connector: server time (ms), "
            f"{tab['requests_per_kind']} requests per kind"
        )
        print(
            f"{'filter kind':<30}{'p50':>8}{'p95':>8}{'max':>8}{'next p50':>10}{'next p95':>10}"
            f"{'next max':>10}{'rows':>6}{'matches':>11}{'SQL':>5}"
        )
        for kind, r in tab["kinds"].items():
            first, nxt = r["first_page"], r["next_page"] or {}
            matches = f"{'~' if r['estimated_counts'] else ''}{r['matches_median'] or 0:,}"
            print(
                f"{kind:<30}{first['p50_ms']:>8.1f}{first['p95_ms']:>8.1f}{first['max_ms']:>8.1f}"
                f"{nxt.get('p50_ms', float('nan')):>10.1f}{nxt.get('p95_ms', float('nan')):>10.1f}"
                f"{nxt.get('max_ms', float('nan')):>10.1f}{r['rows_per_page_median']:>6}{matches:>11}"
                f"{r['queries_per_page']:>5}"
            )
        page = tab["device_page"]
        label = "device page (history)"
        print(
            f"{label:<30}{page['p50_ms']:>8.1f}{page['p95_ms']:>8.1f}{page['max_ms']:>8.1f}{'':>47}"
            f"{page['queries_per_page']:>5}"
        )
        print(
            f"worst p95: {tab['worst_p95_ms']:.1f} ms (target: a filtered page < {PAGE_TARGET_MS:.0f} ms); "
            f"the machine was {tab['background_busy_pct_before']:.0f}% busy before"
        )
    logs = report.get("logs_tab")
    if logs:
        print(
            f"\nLogs tab: each write's data_in event on {logs['tabs']} open Logs socket(s); writes on "
            f"{logs['write_server']}, {logs['duration_s']:g} s per rate after {logs['warmup_s']:g} s "
            "of warm-up; ms"
        )
        print(
            f"{'writes/s':>8}{'reached':>8}{'lost':>6}{'request→event':>22}{'response→event':>16}"
            f"{'emitted→event':>15}{'write':>7}{'busy':>8}"
        )
        print(
            f"{'target':>8}{'':>14}{'p50':>8}{'p99':>7}{'max':>7}{'p99':>16}{'p50':>8}{'p99':>7}{'p99':>7}{'before':>8}"
        )
        for m in logs["attempts"]:
            req, resp = m["latency_from_request"], m["latency_from_response"]
            emit, write = m["latency_from_event_timestamp"], m["write_response"]
            print(
                f"{m['target_rate']:>8g}{m['achieved_writes_per_s']:>8.0f}{m['events_lost']:>6}"
                f"{req['p50_ms']:>8.1f}{req['p99_ms']:>7.1f}{req['max_ms']:>7.1f}{resp['p99_ms']:>16.1f}"
                f"{emit['p50_ms']:>8.1f}{emit['p99_ms']:>7.1f}{write['p99_ms']:>7.1f}"
                f"{m['background_busy_pct_before']:>7.0f}%"
            )
        for m in logs["attempts"]:
            cpu = m["cpu"]
            print(
                f"at {m['target_rate']:g}/s: machine {cpu['machine_busy_pct']:.0f}% busy; CPU s: "
                + ", ".join(f"{k} {v:.1f}" for k, v in cpu["cpu_s"].items())
            )
        print(
            f"target: p99 < {LOGS_P99_TARGET_MS:.0f} ms at 500 events/s; events lost in all: "
            f"{sum(m['events_lost'] for m in logs['attempts'])}"
        )
    print(
        f"load average (1, 5, 15 min) at start {report['load_average_at_start']}, "
        f"at end {report['load_average_at_end']}"
    )


def _exit_on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100, help="requests per filter kind")
    parser.add_argument("--reuse", action="store_true", help="keep the database an earlier --keep run loaded")
    parser.add_argument("--keep", action="store_true", help="keep the database for a --reuse run")
    parser.add_argument("--skip-list", action="store_true", help="skip the Devices tab")
    parser.add_argument("--skip-logs", action="store_true", help="skip the Logs tab")
    parser.add_argument(
        "--rate", default="500", help="device writes per second; a list (500,300) measures each in turn"
    )
    parser.add_argument("--duration", type=float, default=20, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of writes before the measured ones")
    parser.add_argument("--grace", type=float, default=3, help="seconds to wait for late events")
    parser.add_argument("--devices-writing", type=int, default=100)
    parser.add_argument("--tabs", type=int, default=1, help="Logs sockets open on the connector")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--write-server", choices=["gunicorn", "daphne"], default="gunicorn")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--wait-quiet", type=float, default=30, help="wait up to this long for the machine to calm down"
    )
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        return generate_main(args.generate)

    url = args.database_url
    _, name = fleet.split_url(url)
    if name in ("test", "postgres", "template0", "template1", "murano_fleet_bench"):
        raise SystemExit(f"refusing to recreate the {name!r} database; choose another --database-url")
    report: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": name,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    signal.signal(signal.SIGTERM, _exit_on_signal)  # stop the servers and drop the database
    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    procs = Processes(workdir)
    try:
        if not args.reuse:
            log(f"recreating database {name}")
            fleet.recreate_database(url)
        os.environ["MURANO_VAR_DIR"] = str(workdir / "var")  # no collectstatic here: an empty static root
        (workdir / "var" / "staticfiles").mkdir(parents=True)
        fleet.setup_django(url)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from accounts.services import account_create
        from connectors.models import Connector
        from connectors.services import connector_create

        log("migrating")
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            report["postgresql"] = cursor.fetchone()[0]
            cursor.execute("SHOW shared_buffers")
            report["shared_buffers"] = cursor.fetchone()[0]
        connector = Connector.objects.filter(name=CONNECTOR_NAME).first() if args.reuse else None
        if connector is None:
            membership = account_create(email=EMAIL, password=PASSWORD, business_name="UI", role="admin")
            connector = connector_create(business=membership.business, name=CONNECTOR_NAME)
            log(f"loading {args.devices:,} devices (~3.2 tags each) with bench/fleet.py's COPY loader")
            loaded = fleet.load_fleet(connector.pk, args.devices)
            log(f"  {loaded['devices']:,} devices + {loaded['tags']:,} tags in {loaded['total_s']} s")
            report["load"] = {k: v for k, v in loaded.items() if k != "sample_ips"}
        total = connector.devices.count()
        report["fleet_devices"] = total

        if not args.skip_list:
            client = Client(HTTP_HOST="localhost")
            if not client.login(username=EMAIL, password=PASSWORD):
                raise SystemExit(f"{EMAIL} cannot log in")
            busy = wait_quiet(args.wait_quiet)
            log(f"Devices tab: {args.requests} requests per filter kind, {total:,} devices in the connector")
            kinds = measure_tab(client, connector.pk, page_kinds(random.Random(3), total), args.requests)
            identity, history = history_device(connector, total // 2)
            log(f"device page of {identity} ({history['points']:,} points of history)")
            device_page = measure_device_page(client, connector.pk, identity, args.requests)
            log(f"  p50 {device_page['p50_ms']:.1f}  p95 {device_page['p95_ms']:.1f} ms")
            report["devices_tab"] = {
                "requests_per_kind": args.requests,
                "background_busy_pct_before": round(busy, 1),
                "page_size": 50,
                "kinds": kinds,
                "worst_p95_ms": max(
                    max(r["first_page"]["p95_ms"], (r["next_page"] or {}).get("p95_ms", 0))
                    for r in kinds.values()
                ),
                "device_page": {**device_page, "history": history},
                "client": "django.test.Client in this process (middleware, session, view, template)",
            }
        if not args.skip_logs:
            log("Logs tab: gunicorn + Daphne on PostgreSQL + Redis")
            report["logs_tab"] = logs_phase(args, url, connector.business, workdir, procs)
    except BaseException:
        log(f"failed: the servers' logs are in {workdir}")
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        procs.stop_all()
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin_url, _ = fleet.split_url(url)
            import psycopg

            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name} (--keep keeps it for --reuse)")
    report["load_average_at_end"] = os.getloadavg()
    print_report(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
