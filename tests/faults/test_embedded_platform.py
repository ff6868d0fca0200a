"""The embedded default as ``make run`` starts it: ``manage.py runplatform`` with no services set
(SQLite, the private Redis on a Unix socket, a Celery worker with a filesystem broker).

What one process does must reach the others: a firmware rollout run by the Celery worker wakes
a device's long poll waiting on Daphne; events of another process reach the live Logs stream.
And the platform keeps itself whole: a worker or embedded Redis killed with SIGKILL is started
again, and the wakes flow again afterwards.
"""

import json
import os
import queue
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import redis

from tests.live import MANAGE, ROOT, free_port, migrate_and_create_admin, stop, wait_for, wait_until_up

EMAIL, PASSWORD = "pm@example.com", "embedded-platform-password-1"
ALIAS = "/onep:v1/stack/alias"
# A poll's own timeout: far longer than any wake takes, so an answer before it means a wake.
POLL_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """``manage.py runplatform`` on the embedded default: ``(base URL, process, env)``."""
    var_dir = tmp_path_factory.mktemp("embedded")
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "REDIS_URL",
            "DATABASE_URL",
            "EMBEDDED_REDIS_SOCKET",
            "CHANNEL_PREFIX",
            "CELERY_TASK_ALWAYS_EAGER",
        )
    }
    port = free_port()
    env.update(
        MURANO_VAR_DIR=str(var_dir),
        MURANO_URL=f"http://127.0.0.1:{port}",
        PORT=str(port),
        DJANGO_SETTINGS_MODULE="murano.settings",
        PYTHONPATH=str(ROOT),
        # The rollout scheduler runs often, so a wave starts soon after it is asked for.
        FIRMWARE_TICK_SECONDS="1",
    )
    migrate_and_create_admin(env, EMAIL, PASSWORD, "Embedded")
    log = var_dir / "runplatform.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*MANAGE, "runplatform"], env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/healthz", process, log, timeout=60)
        yield url, process, env
    finally:
        stop(process)
        assert not (var_dir / "redis.sock").exists(), "the embedded Redis was not stopped"


def _children(process: subprocess.Popen) -> list[tuple[int, str]]:
    """The platform's child processes: ``[(pid, command line)]``."""
    return [(pid, cmdline) for pid, cmdline, parent in _processes_with("") if parent == process.pid]


def _processes_with(word: str) -> list[tuple[int, str, int]]:
    """Every process whose command line holds ``word``: ``[(pid, command line, parent pid)]``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if word in cmdline:
            found.append((int(entry.name), cmdline, int(stat.rsplit(")", 1)[1].split()[1])))
    return found


def _child(process: subprocess.Popen, word: str) -> int:
    pids = [pid for pid, cmdline in _children(process) if word in cmdline]
    assert len(pids) == 1, _children(process)
    return pids[0]


def _connector_with_firmware(pm: httpx.Client) -> str:
    created = pm.post("/api/v1/connectors/", json={"name": "Embedded", "protocol": {"devmode": True}})
    assert created.status_code == 201, created.text
    connector_id = created.json()["id"]
    enabled = pm.patch(f"/api/v1/connectors/{connector_id}/", json={"firmware": {"enabled": True}})
    assert enabled.status_code == 200, enabled.text
    image = bytes(range(256)) * 64
    package = {
        "product": "Thermostat",
        "config_otau": {"version": "2.0.0", "name": "Release 2.0.0", "description": None, "type": "FILE",
                        "payload": "fw-2.0.0.bin"},
    }  # fmt: skip
    for content_id, name, data, file_type in [
        ("fw-2.0.0.bin", "fw.bin", image, "application/octet-stream"),
        ("package_fw_2.0.0", "package.json", json.dumps(package).encode(), "application/json"),
    ]:
        uploaded = pm.post(
            f"/api/v1/connectors/{connector_id}/content/",
            data={"id": content_id},
            files={"file": (name, data, file_type)},
        )
        assert uploaded.status_code == 201, uploaded.text
    return connector_id


def _device(url: str, connector_id: str, identity: str) -> httpx.Client:
    device = httpx.Client(base_url=url, headers={"Host": f"{connector_id}.devices.localhost"}, timeout=90)
    activated = device.post("/provision/activate", data={"id": identity})
    assert activated.status_code == 200, activated.text
    device.headers["X-Exosite-CIK"] = activated.text
    return device


def _long_poll(device: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = device.get(f"{ALIAS}?config_otau", headers={"Request-Timeout": str(POLL_TIMEOUT_MS)})
    return response, time.monotonic() - started


def _wait_until_polling(env: dict, connector_id: str, identity: str) -> None:
    """The device's poll waits: Daphne's wake hub has subscribed to the device's wake channel in
    the embedded Redis (its value check follows at once)."""
    var_dir = Path(env["MURANO_VAR_DIR"])
    with sqlite3.connect(var_dir / "murano.sqlite3") as db:
        (device_id,) = db.execute(
            "SELECT id FROM devices_device WHERE connector_id = ? AND identity = ?", (connector_id, identity)
        ).fetchone()
    channel = f"murano__group__device_wake.{device_id}"
    with redis.Redis(unix_socket_path=str(var_dir / "redis.sock")) as client:
        deadline = time.monotonic() + 30
        while not client.pubsub_numsub(channel)[0][1]:
            assert time.monotonic() < deadline, "the long poll never started waiting"
            time.sleep(0.02)


def _rollout_wakes_a_waiting_poll(env: dict, pm: httpx.Client, connector_id: str, identity: str) -> None:
    """A rollout for ``identity`` (run by the worker) answers its waiting long poll at once."""
    device = _device(env["MURANO_URL"], connector_id, identity)
    with closing(device), ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(_long_poll, device)
        _wait_until_polling(env, connector_id, identity)
        started = pm.post(
            f"/api/v1/connectors/{connector_id}/firmware/update/",
            json={"package": "package_fw_2.0.0", "devices": [identity]},
        )
        assert started.status_code == 201, started.text
        response, waited = waiting.result(timeout=90)
    assert response.status_code == 200, response.text
    assert response.text.startswith("config_otau=")
    assert waited < POLL_TIMEOUT_MS / 2000, "the poll was answered at its timeout, not by a wake"


def test_a_rollout_run_by_the_worker_wakes_a_long_poll_waiting_on_daphne(platform):
    url, _process, env = platform
    with httpx.Client(base_url=url, auth=(EMAIL, PASSWORD), timeout=30) as pm:
        connector_id = _connector_with_firmware(pm)
        _rollout_wakes_a_waiting_poll(env, pm, connector_id, "dev-1")


def test_events_of_another_process_reach_the_live_logs(platform):
    url, _process, env = platform
    with httpx.Client(base_url=url, auth=(EMAIL, PASSWORD), timeout=30) as pm:
        created = pm.post("/api/v1/connectors/", json={"name": "Logs", "protocol": {"devmode": True}})
        connector_id = created.json()["id"]
        _device(url, connector_id, "gone-soon").close()
    follow = subprocess.Popen(
        [*MANAGE, "logs", connector_id, "--follow", "--json", "--identity", "gone-soon"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follow.stdout], daemon=True).start()
    try:
        # The recent buffer comes first: the provisioning event, then the stream is live.
        first = json.loads(lines.get(timeout=60))
        assert first["type"] == "provisioned"
        # A separate process (not Daphne, not the worker) deletes the device.
        script = (
            "from devices.models import Device; from devices.services import device_delete; "
            f"device_delete(device=Device.objects.get(connector_id='{connector_id}', identity='gone-soon'))"
        )
        subprocess.run([*MANAGE, "shell", "-c", script], env=env, cwd=ROOT, check=True)
        event = json.loads(lines.get(timeout=60))
        assert (event["type"], event["identity"]) == ("deleted", "gone-soon")
    finally:
        # Cleanup, not an assertion of this test: Ctrl-C, then a kill if a loaded machine
        # keeps the command from ending soon.
        follow.send_signal(signal.SIGINT)
        try:
            follow.wait(30)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait(10)


def test_a_killed_worker_and_embedded_redis_are_started_again(platform):
    url, process, env = platform
    redis_pid = _child(process, "redis-server")
    worker_pid = _child(process, "celery")
    os.kill(redis_pid, signal.SIGKILL)
    os.kill(worker_pid, signal.SIGKILL)
    socket_path = Path(env["MURANO_VAR_DIR"]) / "redis.sock"

    def restarted() -> bool:
        pids = {pid for pid, _ in _children(process)}
        if redis_pid in pids or worker_pid in pids:
            return False
        with redis.Redis(unix_socket_path=str(socket_path), socket_connect_timeout=1) as client:
            return bool(client.ping())

    wait_for(restarted, "the restarted embedded Redis", process, timeout=30)
    _child(process, "celery")  # one worker again
    # Nothing of the killed worker is left: its embedded beat would be a second scheduler.
    schedule = str(Path(env["MURANO_VAR_DIR"]) / "celerybeat-schedule")
    new_worker = _child(process, "celery")

    def only_the_new_workers_processes() -> bool:
        return not [
            pid for pid, cmdline, parent in _processes_with(schedule) if new_worker not in (pid, parent)
        ]

    wait_for(only_the_new_workers_processes, "the killed worker's children to end", process, timeout=30)

    with httpx.Client(base_url=url, auth=(EMAIL, PASSWORD), timeout=30) as pm:
        connector_id = _connector_with_firmware(pm)
        _rollout_wakes_a_waiting_poll(env, pm, connector_id, "dev-2")
