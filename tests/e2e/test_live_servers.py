"""End to end: real Daphne servers, a real HTTP client, Redis between two server processes.

A device provisions, writes and reads against server A; it long-polls server A while a product
manager's cloud set is made through server B; the poll wakes because both processes share the
Redis channel layer.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis as redis_client

from tests.live import (
    ROOT,
    eventually,
    migrate_and_create_admin,
    own_database,
    start_daphne,
    stop,
    subscribed_channels,
    wait_until_up,
    wake_channels,
)

EMAIL, PASSWORD = "pm@example.com", "live-server-password-1"


@pytest.fixture(scope="module")
def platform_env(tmp_path_factory):
    """Environment for server processes: a database of their own and a Redis channel layer."""
    var_dir = tmp_path_factory.mktemp("live")
    env = {
        **os.environ,
        "MURANO_VAR_DIR": str(var_dir),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CHANNEL_PREFIX": f"e2e{uuid.uuid4().hex[:8]}",
        "DJANGO_SETTINGS_MODULE": "murano.settings",
        "PYTHONPATH": str(ROOT),
    }
    with own_database(env, "e2e", var_dir / "live.sqlite3"):
        migrate_and_create_admin(env, EMAIL, PASSWORD, "Live")
        yield env


@pytest.fixture(scope="module")
def daphnes(platform_env):
    """Two Daphne processes (A and B) sharing the database and Redis: ``[(url, process)]``."""
    var_dir = Path(platform_env["MURANO_VAR_DIR"])
    processes, urls, logs = [], [], []
    try:
        for name in "ab":
            logs.append(var_dir / f"daphne-{name}.log")
            url, process = start_daphne(platform_env, logs[-1])
            urls.append(url)
            processes.append(process)
        for url, process, log in zip(urls, processes, logs, strict=True):
            wait_until_up(url + "/healthz", process, log)
        yield list(zip(urls, processes, strict=True))
    finally:
        stop(*processes)


@pytest.fixture(scope="module")
def servers(daphnes):
    """The URLs of servers A and B."""
    return [url for url, _ in daphnes]


def test_device_lifecycle_and_cross_process_long_poll(servers, platform_env):
    server_a, server_b = servers
    auth = (EMAIL, PASSWORD)
    with httpx.Client(base_url=server_b, auth=auth, timeout=10) as pm:
        connector = pm.post("/api/v1/connectors/", json={"name": "Live", "protocol": {"devmode": True}})
        assert connector.status_code == 201, connector.text
        connector_id = connector.json()["id"]
        assert (
            pm.post(
                f"/api/v1/connectors/{connector_id}/resources/",
                json={"alias": "temp", "format": "float", "unit": "°C"},
            ).status_code
            == 201
        )
        assert (
            pm.post(
                f"/api/v1/connectors/{connector_id}/resources/",
                json={"alias": "mode", "format": "string", "settable": True, "allowed": ["eco", "boost"]},
            ).status_code
            == 201
        )

    host = {"Host": f"{connector_id}.devices.localhost"}
    with httpx.Client(base_url=server_a, headers=host, timeout=30) as device:
        activated = device.post("/provision/activate", data={"id": "00:11:22:33:44:55"})
        assert activated.status_code == 200
        token = activated.text
        assert len(token) == 40
        device.headers["X-Exosite-CIK"] = token

        assert device.post("/onep:v1/stack/alias", data={"temp": "21.5"}).status_code == 204
        read = device.get("/onep:v1/stack/alias?temp")
        assert (read.status_code, read.text) == (200, "temp=21.5")

        def long_poll():
            started = time.monotonic()
            response = device.get("/onep:v1/stack/alias?mode", headers={"Request-Timeout": "20000"})
            return response, time.monotonic() - started

        def subscribed() -> set:
            return subscribed_channels(platform_env["REDIS_URL"], wake_channels(platform_env))

        earlier = subscribed()
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(long_poll)
            # The poll waits on server A once A's wake subscription for the device is in Redis.
            eventually(lambda: subscribed() - earlier, "the long poll never subscribed on server A")
            assert not waiting.done()
            with httpx.Client(base_url=server_b, auth=auth, timeout=10) as pm:
                cloud_set = pm.patch(
                    f"/api/v1/connectors/{connector_id}/devices/00:11:22:33:44:55/state/",
                    json={"mode": "boost"},
                )
                assert cloud_set.status_code == 200, cloud_set.text
            response, waited = waiting.result(timeout=15)
        assert response.status_code == 200
        assert response.text == "mode=boost"
        assert "last-modified" in response.headers
        assert waited < 10  # woken by the set, not by the 20 s timeout

    with httpx.Client(base_url=server_b, auth=auth, timeout=10) as pm:
        state = pm.get(f"/api/v1/connectors/{connector_id}/devices/00:11:22:33:44:55/state/").json()
    assert state["temp"]["reported"] == "21.5"
    assert state["mode"] == {"reported": None, "set": "boost", "timestamp": state["mode"]["timestamp"]}


def test_logs_follow_prints_events_from_both_servers_as_they_happen(servers, platform_env):
    """``manage.py logs <connector> --follow`` against server A shows the recent events, then
    those a device causes on server A and on server B, live."""
    server_a, server_b = servers
    with httpx.Client(base_url=server_a, auth=(EMAIL, PASSWORD), timeout=10) as pm:
        created = pm.post("/api/v1/connectors/", json={"name": "Logs", "protocol": {"devmode": True}})
        assert created.status_code == 201, created.text
        connector_id = created.json()["id"]
        assert (
            pm.post(
                f"/api/v1/connectors/{connector_id}/resources/", json={"alias": "temp", "format": "string"}
            ).status_code
            == 201
        )
    host = {"Host": f"{connector_id}.devices.localhost"}
    with httpx.Client(base_url=server_a, headers=host, timeout=10) as device:
        token = device.post("/provision/activate", data={"id": "before-follow"}).text

    follower = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "logs", connector_id, "--follow", "--url", server_a],
        env=platform_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = follower.stdout.readline()
        assert "provisioned" in first and "before-follow" in first, first
        # One write at a time, each awaited on the stream: two servers publish independently, so
        # the order of events written a few milliseconds apart on different servers is not defined.
        lines = []
        for server in (server_a, server_b):
            with httpx.Client(
                base_url=server, headers={**host, "X-Exosite-CIK": token}, timeout=10
            ) as device:
                assert device.post("/onep:v1/stack/alias", data={"temp": server[-5:]}).status_code == 204
            lines.append(follower.stdout.readline())
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert [line.split()[2] for line in lines] == ["data_in", "data_in"]
    assert [line.split()[-1] for line in lines] == [f"temp={server_a[-5:]}", f"temp={server_b[-5:]}"]


def test_logs_without_follow_prints_the_recent_events_and_exits(servers, platform_env):
    server_a, _ = servers
    with httpx.Client(base_url=server_a, auth=(EMAIL, PASSWORD), timeout=10) as pm:
        connector_id = pm.post(
            "/api/v1/connectors/", json={"name": "Once", "protocol": {"devmode": True}}
        ).json()["id"]
    with httpx.Client(base_url=server_a, headers={"Host": f"{connector_id}.devices.localhost"}) as device:
        device.post("/provision/activate", data={"id": "one"})
        device.post("/provision/activate", data={"id": "one"})  # already provisioned: denied
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "logs", connector_id, "--url", server_a, "--json"],
        env=platform_env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["type"], e["identity"]) for e in events] == [
        ("provisioned", "one"),
        ("provision_denied", "one"),
    ]
    assert events[1]["payload"]["reason"] == "already_provisioned"

    missing = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "logs", "nosuchconnector00", "--url", server_a],
        env=platform_env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "No connector 'nosuchconnector00'" in missing.stderr


def test_a_waiting_long_poll_survives_its_servers_redis_connection_being_cut(daphnes, platform_env):
    """Server A's connection for wake-ups is killed in Redis while a device long-polls A: A
    reconnects and subscribes again by itself, and a cloud set made through server B still
    wakes the poll."""
    (server_a, daphne_a), (server_b, _) = daphnes
    auth = (EMAIL, PASSWORD)
    with httpx.Client(base_url=server_b, auth=auth, timeout=10) as pm:
        created = pm.post("/api/v1/connectors/", json={"name": "Cut", "protocol": {"devmode": True}})
        connector_id = created.json()["id"]
        resource = {"alias": "mode", "format": "string", "settable": True}
        assert pm.post(f"/api/v1/connectors/{connector_id}/resources/", json=resource).status_code == 201
    redis = redis_client.Redis.from_url(platform_env["REDIS_URL"])

    def subscribed_wake_channels() -> set:
        return subscribed_channels(platform_env["REDIS_URL"], wake_channels(platform_env))

    host = {"Host": f"{connector_id}.devices.localhost"}
    with httpx.Client(base_url=server_a, headers=host, timeout=30) as device:
        device.headers["X-Exosite-CIK"] = device.post("/provision/activate", data={"id": "cut-1"}).text
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                lambda: device.get("/onep:v1/stack/alias?mode", headers={"Request-Timeout": "20000"})
            )
            eventually(lambda: len(subscribed_wake_channels()) == 1, "the poll never subscribed")
            name = f"murano-wakes-{daphne_a.pid}"
            ids = [c["id"] for c in redis.client_list() if c.get("name") == name]
            assert len(ids) == 1, redis.client_list()
            assert redis.client_kill_filter(_id=ids[0]) == 1
            eventually(
                lambda: (
                    any(c.get("name") == name and c["id"] != ids[0] for c in redis.client_list())
                    and len(subscribed_wake_channels()) == 1
                ),
                "server A never subscribed again",
            )
            assert not waiting.done()
            with httpx.Client(base_url=server_b, auth=auth, timeout=10) as pm:
                cloud_set = pm.patch(
                    f"/api/v1/connectors/{connector_id}/devices/cut-1/state/", json={"mode": "eco"}
                )
                assert cloud_set.status_code == 200, cloud_set.text
            response = waiting.result(timeout=15)
    assert (response.status_code, response.text) == (200, "mode=eco")
