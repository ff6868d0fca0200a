"""Queries per list page: they must not grow with the number of items listed (no N+1), and they
must equal the committed baseline in tests/query_counts.json, per database vendor (SQLite and
PostgreSQL may count differently: savepoints, vendor-specific SQL).

Each test lists a few items, then three times as many, and counts the queries of the second of
two identical requests: the first fills what a running server keeps warm (caches such as a
connector's resource rules), so that the count does not depend on which test ran before.

After a deliberate change, rewrite the baselines of the stack you run on with
``UPDATE_QUERY_BASELINES=1 pytest -n0 tests/test_query_counts.py`` (once on SQLite, once with
``DATABASE_URL=postgres://...``), and commit tests/query_counts.json with the change.
"""

import fcntl
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from connectors.runtime import connector_rules
from connectors.services import connector_update
from devices.services import device_state_set
from firmware.services import rollout_start
from jobs.models import JobKind
from jobs.services import job_create
from tests.api_world import FIRMWARE
from tests.factories import make_connector, make_device, make_resource

BASELINES = Path(__file__).with_name("query_counts.json")
UPDATE = os.environ.get("UPDATE_QUERY_BASELINES") == "1"
FEW, MANY = 3, 9
UPDATE_NOTE = (
    "After a deliberate change: UPDATE_QUERY_BASELINES=1 pytest -n0 tests/test_query_counts.py, on SQLite "
    "and with DATABASE_URL=postgres://... (tests/test_query_counts.py)"
)

pytestmark = pytest.mark.django_db


def _queries(client: Client, url: str, shown: list[str]) -> list[str]:
    """The SQL of a warm request to ``url``, which must answer 200 and list every item of ``shown``."""
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    missing = [name for name in shown if name not in response.content.decode()]
    assert missing == [], "the page does not list every item"
    return [query["sql"] for query in captured.captured_queries]


def _baselines() -> dict:
    return json.loads(BASELINES.read_text()) if BASELINES.exists() else {}


def _record(name: str, count: int) -> None:
    """Write ``count`` as ``name``'s baseline for this database vendor (parallel workers take turns)."""
    with open(Path(tempfile.gettempdir(), "murano-query-counts.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        baselines = _baselines()
        baselines.setdefault(connection.vendor, {})[name] = count
        ordered = {"_update": UPDATE_NOTE} | {
            vendor: dict(sorted(counts.items()))
            for vendor, counts in sorted(baselines.items())
            if vendor != "_update"
        }
        BASELINES.write_text(json.dumps(ordered, indent=2) + "\n")


def assert_constant_and_baseline(name: str, client: Client, url: str, add: Callable[[int], list[str]]):
    """``url`` lists what ``add(n)`` creates (and names): as many queries for FEW items as for
    MANY, and as many as the baseline says."""
    shown = add(FEW)
    few = _queries(client, url, shown)
    shown += add(MANY - FEW)
    many = _queries(client, url, shown)

    assert len(many) == len(few), "queries grow with the items listed:\n" + "\n".join(many)
    if UPDATE:
        _record(name, len(many))
        return
    expected = _baselines().get(connection.vendor, {}).get(name)
    assert expected is not None, f"no {connection.vendor} baseline for {name}: see this module's docstring"
    assert len(many) == expected, (
        f"{name}: {len(many)} queries, the baseline says {expected} (after a deliberate change, update "
        "the baseline as this module's docstring says)\n" + "\n".join(many)
    )


@pytest.fixture
def client(owner) -> Client:
    """The owner, logged in with a session, as the web UI and its scripts are."""
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def add_devices(connector):
    """``add_devices(n)``: n more devices, each with two tags and a cloud value; their identities."""
    make_resource(connector=connector, alias="mode", format="string", settable=True)
    rules = connector_rules(connector)
    made = iter(range(1, 10_000))

    def add(n: int) -> list[str]:
        identities = []
        for _ in range(n):
            i = next(made)
            tags = [{"name": "site", "value": f"s{i}"}, {"name": "model", "value": "t1"}]
            device = make_device(connector=connector, identity=f"dev-{i:03}", tags=tags)
            device_state_set(device=device, values={"mode": f"m{i}"}, rules=rules)
            identities.append(device.identity)
        return identities

    return add


def test_device_list_api(client, connector, add_devices):
    url = f"/api/v1/connectors/{connector.pk}/devices/"
    assert_constant_and_baseline("api device list", client, url, add_devices)


def test_device2_identity_list(client, connector, add_devices):
    url = f"/api:1/service/{connector.pk}/device2/identity/"
    assert_constant_and_baseline("device2 identity list", client, url, add_devices)


def test_devices_tab(client, connector, add_devices):
    url = f"/connectors/{connector.pk}/devices/"
    assert_constant_and_baseline("devices tab page", client, url, add_devices)


def test_connector_list_api(client, business):
    made = iter(range(1, 10_000))

    def add(n: int) -> list[str]:
        hostnames = []
        for _ in range(n):
            hostnames.append(f"c{next(made)}.example.com")
            connector = make_connector(business=business, name=hostnames[-1], hostnames=hostnames[-1:])
            make_resource(connector=connector, alias="temp", format="number")
        return hostnames

    assert_constant_and_baseline("api connector list", client, "/api/v1/connectors/", add)


def test_connectors_page(client, business):
    """The connector list: each connector's devices counted by status, and their last activity,
    read for all of them at once."""
    made = iter(range(1, 10_000))

    def add(n: int) -> list[str]:
        names = []
        for _ in range(n):
            names.append(f"Model {next(made)}")
            connector = make_connector(business=business, name=names[-1])
            make_device(connector=connector, identity="d-1")
            make_device(connector=connector, identity="d-2", locked=True)
        return names

    assert_constant_and_baseline("connectors page", client, "/connectors/", add)


def test_job_list_api(client, owner, business, connector):
    def add(n: int) -> list[str]:
        jobs = [
            job_create(kind=JobKind.DEVICE_IMPORT, business=business, connector=connector, created_by=owner)
            for _ in range(n)
        ]
        return [str(job.pk) for job in jobs]

    assert_constant_and_baseline("api job list", client, "/api/v1/jobs/", add)


def test_rollout_list_api(client, owner, connector, add_devices):
    connector_update(connector=connector, changes={"firmware_update_enabled": True})
    add_devices(2)

    def add(n: int) -> list[str]:
        rollouts = [
            rollout_start(connector=connector, config_otau=FIRMWARE, devices=["dev-001", "dev-002"],
                          created_by=owner)
            for _ in range(n)
        ]  # fmt: skip
        return [f'"id":{rollout.pk},' for rollout in rollouts]

    url = f"/api/v1/connectors/{connector.pk}/firmware/rollouts/"
    assert_constant_and_baseline("api rollout list", client, url, add)
