"""Faults in the background work of a running platform: real processes, as ``manage.py
runplatform`` starts them (Daphne and a Celery worker with its beat), and real faults.

- The worker is killed with SIGKILL (all its processes) in the middle of a CSV import, on the
  embedded stack whose file broker has already dropped the task's message, and in the middle of
  a firmware rollout's wave; once a worker runs again, the import resumes from its last committed
  batch and finishes with the counts of one run, its upload deleted, and the wave goes out to
  the rest of its devices: nothing stays ``running`` or ``QUEUED``.
- Redis (a throwaway server of the test's own, never the machine's shared one) is killed while
  the platform runs: an import, a firmware update and a connector delete answer success (never
  a 500), ``/readyz`` says Redis is unavailable and the Logs websocket closes cleanly with 4503
  (try again later); once Redis is started again on the same port, the queued import runs, the
  rollout's wave goes out and everything reads as it should.

Leases, the recovery task and the scheduler run at test speed (``FAST``) so that each test takes
seconds. Whichever database the suite runs on (SQLite or PostgreSQL) the platform gets one of
its own (``tests.live.own_database``).
"""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest
from django.core import signing
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect

from murano import embedded_redis
from tests.live import (
    ROOT,
    ThrowawayRedis,
    eventually,
    free_port,
    migrate_and_create_admin,
    own_database,
    start_daphne,
    stop,
    wait_for,
)

EMAIL, PASSWORD = "faults@example.com", "fault-tests-password-1"
SECRET_KEY = "fault-tests-" + uuid.uuid4().hex  # the platform's, so that the test can sign Logs tickets
FAST = {
    "JOB_HEARTBEAT_SECONDS": "0.2",
    "JOB_LEASE_SECONDS": "2",
    "JOB_RECOVER_SECONDS": "1",
    "JOB_REQUEUE_SECONDS": "3",
    "FIRMWARE_TICK_SECONDS": "1",
    "FIRMWARE_SEND_BATCH": "20",
}

logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per poll would bury a failure's story


class Platform:
    """Daphne and a Celery worker (with beat) sharing a database, as ``runplatform`` runs them.

    Like ``runplatform`` (and systemd in production), it starts the worker again when the worker
    exits by itself: Celery's worker gives up and exits when it loses Redis while holding
    prefetched tasks ("Unrecoverable error"), and a supervisor is what brings it back. A worker
    the test kills stays dead until the test starts one."""

    def __init__(self, env: dict, var_dir: Path):
        self.env, self.var_dir = env, var_dir
        self.url, self.daphne, self.worker = "", None, None
        self.workers_started = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.supervisor = threading.Thread(target=self._supervise, daemon=True)

    def start(self) -> None:
        self.url, self.daphne = start_daphne(self.env, self.var_dir / "daphne.log")
        wait_for(lambda: httpx.get(self.url + "/healthz", timeout=1).status_code == 200, "Daphne",
                 self.daphne, log=self.var_dir / "daphne.log")  # fmt: skip
        self.start_worker()
        self.supervisor.start()

    def _supervise(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:
                if self.worker is not None and self.worker.poll() is not None:
                    _kill_group(self.worker)  # whatever of it may be left
                    self._start_worker(wait=False)  # it may have to wait for the broker

    def start_worker(self) -> None:
        """A Celery worker with its embedded beat, in a session of its own so that it can be
        killed as a whole (main process, pool process and beat alike)."""
        with self.lock:
            self._start_worker()

    def _start_worker(self, wait: bool = True) -> None:
        self.workers_started += 1
        log = self.var_dir / f"worker-{self.workers_started}.log"
        with log.open("wb") as output:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "murano", "worker", "-B", "--loglevel", "INFO",
                 "--concurrency", "1", "--schedule", str(self.var_dir / "celerybeat-schedule")],
                env=self.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if wait:
            ready = lambda: b" ready." in log.read_bytes()  # noqa: E731
            wait_for(ready, "the Celery worker", self.worker, log=log, timeout=60)

    def kill_worker(self) -> None:
        """``kill -9`` of every process of the worker: nothing gets to clean up, and nobody
        starts it again."""
        with self.lock:
            _kill_group(self.worker)
            self.worker.wait(timeout=10)
            self.worker = None

    def stop(self) -> None:
        self.stopping.set()
        if self.supervisor.is_alive():
            self.supervisor.join()
        if self.worker is not None and self.worker.poll() is None:
            self.kill_worker()  # a warm shutdown would only make the tests wait
        if self.daphne is not None:
            stop(self.daphne)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", auth=(EMAIL, PASSWORD), timeout=30)

    def logs_socket(self, connector_id: str):
        """The Logs tab's websocket, opened with a ticket as ``manage.py logs`` opens it."""
        ticket = signing.dumps(
            {"connector": connector_id}, key=SECRET_KEY, salt="murano.devices.logs-ticket", compress=True
        )
        return websocket_connect(
            self.url.replace("http", "ws", 1) + f"/ws/connectors/{connector_id}/logs/",
            additional_headers={"X-Murano-Logs-Ticket": ticket}, origin=self.url, open_timeout=10,
        )  # fmt: skip


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def platform_env(var_dir: Path, **extra) -> dict:
    env = {
        **os.environ, **FAST, **extra,
        "MURANO_VAR_DIR": str(var_dir), "SECRET_KEY": SECRET_KEY, "DJANGO_SETTINGS_MODULE": "murano.settings",
        "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    for name in ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "MEDIA_ROOT", "AWS_STORAGE_BUCKET_NAME",
                 "EMBEDDED_REDIS_SOCKET"):  # fmt: skip
        env.pop(name, None)
    if "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)  # the embedded stack: file broker, private Redis for pushes
    return env


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """The platform on the embedded stack, as ``runplatform`` starts it: the Celery worker takes
    tasks from files, pushes go through the private Redis on a Unix socket."""
    var_dir = tmp_path_factory.mktemp("faults-embedded")
    env = platform_env(var_dir)
    socket_path = str(var_dir / "redis.sock")
    pubsub = embedded_redis.start(socket_path, log_file=str(var_dir / "redis.log"))
    try:
        with own_database(env, "faults", var_dir / "platform.sqlite3"):
            migrate_and_create_admin(env, EMAIL, PASSWORD, "Faults")
            platform = Platform(env, var_dir)
            try:
                platform.start()
                yield platform
            finally:
                platform.stop()
    finally:
        embedded_redis.stop(pubsub, socket_path)


@pytest.fixture(scope="module")
def with_redis(tmp_path_factory):
    """The platform on Redis (channel layer, broker, event buffer): ``(platform, redis)``."""
    var_dir = tmp_path_factory.mktemp("faults-redis")
    server = ThrowawayRedis(var_dir)
    server.start()
    env = platform_env(var_dir, REDIS_URL=server.url, CHANNEL_PREFIX=f"faults{uuid.uuid4().hex[:6]}")
    try:
        with own_database(env, "faults", var_dir / "platform.sqlite3"):
            migrate_and_create_admin(env, EMAIL, PASSWORD, "Faults")
            platform = Platform(env, var_dir)
            try:
                platform.start()
                yield platform, server
            finally:
                if not server.answers():
                    server.start()  # let the worker stop cleanly
                platform.stop()
    finally:
        server.kill()


# --- helpers --------------------------------------------------------------------------------------


def connector_create(pm: httpx.Client, name: str, *, firmware: bool = False) -> str:
    created = pm.post("/connectors/", json={"name": name, "protocol": {"devmode": True}})
    assert created.status_code == 201, created.text
    connector_id = created.json()["id"]
    if firmware:
        enabled = pm.patch(f"/connectors/{connector_id}/", json={"firmware": {"enabled": True}})
        assert enabled.status_code == 200, enabled.text
    return connector_id


def csv_of(identities) -> bytes:
    """A CSV import of these devices, each with two tags (rows that cost a little to apply)."""
    lines = ["ID,Tags"]
    for n, identity in enumerate(identities):
        tags = json.dumps([{"name": "batch", "value": str(n // 1000)}, {"name": "site", "value": "plant-7"}])
        lines.append(f'{identity},"{tags.replace(chr(34), chr(34) * 2)}"')
    return ("\n".join(lines) + "\n").encode()


def import_start(pm: httpx.Client, connector_id: str, content: bytes) -> dict:
    response = pm.post(
        f"/connectors/{connector_id}/devices/import/", files={"file": ("fleet.csv", io.BytesIO(content))}
    )
    assert response.status_code == 202, response.text
    return response.json()


def job_of(pm: httpx.Client, job_id: str) -> dict:
    response = pm.get(f"/jobs/{job_id}/")
    assert response.status_code == 200, response.text
    return response.json()


def job_over(pm: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    return eventually(
        lambda: (job := job_of(pm, job_id))["state"] in ("finished", "failed") and job,
        f"job {job_id} to end", timeout=timeout,
    )  # fmt: skip


def uploads_of(platform: Platform, job_id: str) -> list[Path]:
    folder = platform.var_dir / "media" / "jobs" / job_id
    return sorted(folder.iterdir()) if folder.exists() else []


def rollout_of(pm: httpx.Client, connector_id: str, rollout_id: int) -> dict:
    response = pm.get(f"/connectors/{connector_id}/firmware/rollouts/{rollout_id}/")
    assert response.status_code == 200, response.text
    return response.json()


def firmware_update(pm: httpx.Client, connector_id: str, identities: list[str]) -> httpx.Response:
    message = {"version": "2.0.0", "name": "Release 2.0.0", "description": None, "type": "URL_LIST",
               "payload": ["https://example.com/fw-2.0.0.bin"]}  # fmt: skip
    update = {"message": message, "devices": identities}
    return pm.post(f"/connectors/{connector_id}/firmware/update/", json=update)


# --- the worker killed --------------------------------------------------------------------------


def test_an_import_whose_worker_was_killed_resumes_and_ends_with_one_runs_counts(embedded):
    total = 10_000  # the device list counts exactly up to 10,000
    with embedded.api() as pm:
        connector_id = connector_create(pm, "Killed mid-import")
        job_id = import_start(pm, connector_id, csv_of(f"kill-{n:06d}" for n in range(total)))["id"]
        assert uploads_of(embedded, job_id)

        # Some batches committed, not all: then kill -9 the whole worker.
        midway = eventually(
            lambda: (job := job_of(pm, job_id))["state"] != "queued" and 0 < job["done"] and job,
            "the import to be under way", every=0.02,
        )  # fmt: skip
        embedded.kill_worker()
        assert midway["done"] < total, "the import ended before the worker could be killed"
        stuck = job_of(pm, job_id)
        assert stuck["state"] == "running" and stuck["done"] < total
        assert uploads_of(embedded, job_id)  # nobody deleted it: the worker is gone

        embedded.start_worker()
        job = job_over(pm, job_id)

        assert job["state"] == "finished", job["detail"]
        assert (job["total"], job["done"], job["created"], job["updated"], job["unchanged"]) == (
            total, total, total, 0, 0,
        )  # fmt: skip
        assert (job["error_count"], job["errors"]) == (0, [])
        assert job["detail"].startswith("Its worker stopped after ")
        assert job["detail"].endswith(f" of {total:,} rows; the job was resumed from there.")
        assert uploads_of(embedded, job_id) == []
        devices = pm.get(f"/connectors/{connector_id}/devices/", params={"limit": 1}).json()
        assert devices["count"] == total
        tags = pm.get(f"/connectors/{connector_id}/devices/kill-{total - 1:06d}/").json()["tags"]
        assert sorted((t["name"], t["value"]) for t in tags) == [("batch", str((total - 1) // 1000)),
                                                                 ("site", "plant-7")]  # fmt: skip
        assert pm.get("/jobs/", params={"state": "running"}).json()["results"] == []


def test_a_wave_whose_worker_was_killed_is_sent_to_the_rest_by_the_scheduler(embedded):
    count = 1200
    identities = [f"wave-{n:05d}" for n in range(count)]
    with embedded.api() as pm:
        connector_id = connector_create(pm, "Killed mid-wave", firmware=True)
        assert job_over(pm, import_start(pm, connector_id, csv_of(identities))["id"])["state"] == "finished"

        started = firmware_update(pm, connector_id, identities)
        assert started.status_code == 201, started.text
        rollout_id = started.json()["id"]
        eventually(lambda: rollout_of(pm, connector_id, rollout_id)["counts"].get("SENT"),
                   "the wave to go out", every=0.02)  # fmt: skip
        embedded.kill_worker()
        cut_short = rollout_of(pm, connector_id, rollout_id)
        assert cut_short["state"] == "running"
        assert cut_short["counts"].get("QUEUED"), "the wave was sent whole before the worker was killed"

        embedded.start_worker()
        sent = eventually(
            lambda: (r := rollout_of(pm, connector_id, rollout_id))["counts"].get("SENT") == count and r,
            "the rest of the wave to go out",
        )  # fmt: skip
        assert sent["counts"] == {"SENT": count}
        assert sent["state"] == "running"  # waiting for the devices' reports, as it should
        state = pm.get(f"/connectors/{connector_id}/devices/{identities[-1]}/state/").json()
        assert json.loads(state["config_otau"]["set"])["version"] == "2.0.0"


# --- Redis killed and started again ----------------------------------------------------------------


def test_with_redis_down_actions_succeed_and_catch_up_once_it_is_back(with_redis):
    platform, server = with_redis
    with platform.api() as pm:
        connector_id = connector_create(pm, "Redis faults", firmware=True)
        doomed_id = connector_create(pm, "Deleted while Redis is down")
        first = import_start(pm, connector_id, csv_of(f"early-{n:05d}" for n in range(20_000)))
        with platform.logs_socket(connector_id) as socket:
            assert json.loads(socket.recv(timeout=10))["kind"] == "recent"
        eventually(lambda: job_of(pm, first["id"])["done"], "the first import to be under way", every=0.02)

        server.kill()  # mid-import

        ready = httpx.get(platform.url + "/readyz", timeout=10)
        assert (ready.status_code, ready.json()) == (503, {"database": "ok", "redis": "unavailable"})

        second = pm.post(
            f"/connectors/{connector_id}/devices/import/",
            files={"file": ("late.csv", io.BytesIO(csv_of(f"late-{n:03d}" for n in range(100))))},
        )
        assert second.status_code == 202, second.text
        assert second.json()["state"] == "queued"

        update = firmware_update(pm, connector_id, ["early-00000", "early-00001"])
        assert update.status_code == 201, update.text
        rollout_id = update.json()["id"]

        deleted = pm.delete(f"/connectors/{doomed_id}/")
        assert deleted.status_code == 204, deleted.text

        with platform.logs_socket(connector_id) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4503

        # The import under way when Redis went needs only the database: it finishes.
        assert job_over(pm, first["id"])["state"] == "finished"
        assert job_of(pm, second.json()["id"])["state"] == "queued"

        server.start()  # same port, empty: the broker's queues and the event buffers are gone

        assert httpx.get(platform.url + "/readyz", timeout=10).json() == {"database": "ok", "redis": "ok"}
        late = job_over(pm, second.json()["id"])
        assert (late["state"], late["created"], late["error_count"]) == ("finished", 100, 0)
        assert eventually(lambda: rollout_of(pm, connector_id, rollout_id)["counts"] == {"SENT": 2},
                          "the rollout's wave to go out")  # fmt: skip
        assert pm.get(f"/connectors/{doomed_id}/").status_code == 404
        done = job_of(pm, first["id"])
        assert (done["done"], done["created"], done["error_count"]) == (20_000, 20_000, 0)
        with platform.logs_socket(connector_id) as socket:
            assert json.loads(socket.recv(timeout=10))["kind"] == "recent"
        assert pm.get("/jobs/", params={"state": "queued"}).json()["results"] == []
        assert pm.get("/jobs/", params={"state": "running"}).json()["results"] == []


# --- readiness, in process ----------------------------------------------------------------------


def test_readiness_names_a_redis_that_does_not_answer(db, web, settings):
    settings.PUBSUB_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = web().get("/readyz")

    assert (response.status_code, response.json()) == (503, {"database": "ok", "redis": "unavailable"})


def test_readiness_with_redis_answering(db, web):
    """The operator's Redis, or on the embedded stack the private one (the test run's own)."""
    response = web().get("/readyz")

    assert (response.status_code, response.json()) == (200, {"database": "ok", "redis": "ok"})


# --- a wave cut short, in process -----------------------------------------------------------------


def test_a_wave_left_half_sent_is_finished_by_the_next_tick_and_nobody_gets_it_twice(db, settings):
    """What a worker killed mid-wave leaves in the database (one batch of the wave committed,
    the rest queued), and what the scheduler's tick then does with it."""
    from django.db import transaction

    from connectors.services import connector_update
    from devices.models import DeviceState
    from firmware import services as firmware
    from firmware.models import DeviceUpdate, Rollout
    from tests.factories import make_connector, make_device, make_member

    settings.FIRMWARE_SEND_BATCH = 2
    business = make_member(business_name="Acme", role="admin").user.businesses.get()
    connector = make_connector(business=business, devmode=True)
    connector_update(connector=connector, changes={"firmware_update_enabled": True})
    identities = [make_device(connector=connector, identity=f"half-{n}").identity for n in range(5)]
    message = {"version": "2.0.0", "name": "Release 2.0.0", "description": None, "type": "URL_LIST",
               "payload": ["https://example.com/fw-2.0.0.bin"]}  # fmt: skip
    # The test's own transaction never commits: the advance queued on commit does not run.
    rollout = firmware.rollout_start(connector=connector, config_otau=message, devices=identities)
    with transaction.atomic():  # the one batch the dead worker committed
        firmware._rollout_step(Rollout.objects.select_for_update().get(pk=rollout.pk))
    updates = DeviceUpdate.objects.filter(rollout=rollout)
    statuses = lambda: sorted(updates.values_list("status", flat=True))  # noqa: E731
    assert statuses() == ["QUEUED", "QUEUED", "QUEUED", "SENT", "SENT"]
    first_sent = dict(updates.filter(status="SENT").values_list("id", "sent_at"))

    firmware.rollouts_tick()

    assert statuses() == ["SENT"] * 5
    assert dict(DeviceUpdate.objects.filter(pk__in=first_sent).values_list("id", "sent_at")) == first_sent
    sets = DeviceState.objects.filter(device__connector=connector, alias="config_otau")
    assert sets.count() == 5 and {json.loads(s.set)["version"] for s in sets} == {"2.0.0"}
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_wave) == ("running", 0)
