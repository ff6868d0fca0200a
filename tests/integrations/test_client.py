"""How the platform calls the third party (docs/integrations.md, "Authentication towards the third
party"), seen from both ends: what the pump cloud received (``cloud.requests``) and what the
platform's client sees (its JSON, its logs).

- HTTP Basic from the configuration, or a token in the path or the query;
- only public addresses unless ``INTEGRATIONS_ALLOW_PRIVATE_HOSTS`` (no SSRF): a spec naming a
  loopback, private or link-local host is refused, and one stored while they were allowed is
  never called once they are not;
- redirects followed to the same host only; timeouts counted and retried;
- secrets never in an answer, a log line or the database in clear.
"""

import base64
import hashlib
import json
import logging

import pytest
import yaml
from django.db import connection

from tests.integrations.conftest import integration_body
from tests.integrations.pump_cloud import asset_state, pump_cloud_spec


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def integrate(owner_api, base, pump_cloud, pump_resources):
    def put(auth="basic", **sync) -> dict:
        response = owner_api.put(base, integration_body(pump_cloud, auth=auth, **sync), format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return put


@pytest.fixture
def run(owner_api, base, django_capture_on_commit_callbacks):
    """``run()`` → the finished run as the integration's JSON shows it."""

    def sync() -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_api.post(base + "sync/")
        assert response.status_code == 202, response.content
        return owner_api.get(base).json()["last_sync"]

    return sync


# --- authentication -----------------------------------------------------------------------------


def test_basic_authentication_from_the_configuration(pump_cloud, integrate, run):
    pump_cloud.add_assets(1)
    integrate()

    last = run()

    assert (last["created"], last["error_count"]) == (1, 0)
    expected = "Basic " + base64.b64encode(b"pump-user:pump-Secret-123").decode()
    assert {r["headers"].get("authorization") for r in pump_cloud.requests} == {expected}
    assert {r["headers"]["host"] for r in pump_cloud.requests} == {pump_cloud.host}


def test_a_token_in_the_path(pump_cloud, integrate, run, owner_api, base):
    pump_cloud.add_assets(1)
    shown = integrate(auth="token_path")

    last = run()

    assert (last["created"], last["error_count"]) == (1, 0)
    paths = {r["path"] for r in pump_cloud.requests}
    assert paths == {
        f"/api/v1.0/t/{pump_cloud.token}/assets",
        f"/api/v1.0/t/{pump_cloud.token}/assets/P-0001",
        f"/api/v1.0/t/{pump_cloud.token}/assets/P-0001/state",
    }
    assert all("authorization" not in r["headers"] for r in pump_cloud.requests)
    assert shown["config"] == {"token": {"set": True}}
    assert pump_cloud.token not in json.dumps(owner_api.get(base).json())


def test_a_token_in_the_query(pump_cloud, integrate, run, owner_api, base):
    pump_cloud.add_assets(1)
    integrate(auth="token_query")

    last = run()

    assert (last["created"], last["error_count"]) == (1, 0)
    assert {r["query"].get("token") for r in pump_cloud.requests} == {pump_cloud.token}
    assert pump_cloud.token not in json.dumps(owner_api.get(base).json())


def test_wrong_credentials_fail_the_list(pump_cloud, owner_api, base, integrate, run):
    pump_cloud.add_assets(1)
    body = integration_body(pump_cloud)
    body["config"]["password"] = "not-the-password"
    assert owner_api.put(base, body, format="json").status_code == 200

    last = run()

    assert last["state"] == "failed"
    assert last["detail"] == "Listing the assets failed: listAssets answered 401"
    assert "not-the-password" not in json.dumps(last)


# --- no SSRF ------------------------------------------------------------------------------------


def spec_for(host: str) -> str:
    document = yaml.safe_load(pump_cloud_spec("api.pumpcloud.example"))
    document["host"] = host
    return yaml.safe_dump(document, sort_keys=False)


@pytest.fixture
def private_hosts_refused(settings, pump_cloud):
    """The platform as deployed: only public hosts (the pump cloud is on loopback)."""
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False
    return settings


@pytest.mark.parametrize(
    "host",
    ["localhost:{port}", "127.0.0.1:{port}", "10.0.0.1", "169.254.169.254", "192.168.1.10:8443", "[::1]"],
)
def test_a_spec_naming_a_private_host_is_refused(owner_api, base, pump_cloud, private_hosts_refused, host):
    body = integration_body(pump_cloud)
    body["spec"] = spec_for(host.format(port=pump_cloud.port))

    response = owner_api.put(base, body, format="json")

    assert response.status_code == 400
    problems = response.json()["spec"]
    assert problems and all(problem.startswith("host: ") for problem in problems)
    assert owner_api.get(base).status_code == 404
    assert pump_cloud.requests == []


@pytest.mark.parametrize(
    "host, why",
    [
        ("localhost:{port}", "localhost resolves to a loopback address (127.0.0.1)"),
        ("10.0.0.1", "10.0.0.1 resolves to a private address (10.0.0.1)"),
        ("169.254.169.254", "169.254.169.254 resolves to a link-local address (169.254.169.254)"),
    ],
)
def test_the_refusal_says_why(owner_api, base, pump_cloud, private_hosts_refused, host, why):
    body = integration_body(pump_cloud)
    body["spec"] = spec_for(host.format(port=pump_cloud.port))

    response = owner_api.put(base, body, format="json")

    assert response.json()["spec"] == [f"host: {why}: the platform only calls public hosts"]


@pytest.fixture
def stored_then_refused(integrate, pump_cloud, settings):
    """An integration with the pump cloud saved while private hosts were allowed, then the
    platform set to refuse them."""
    pump_cloud.add_assets(2)
    integrate()
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = False
    return pump_cloud


def test_a_stored_private_host_is_not_synced(stored_then_refused, run, owner_api, connector):
    last = run()

    assert last["state"] == "failed"
    assert last["detail"] == (
        "Listing the assets failed: localhost resolves to a loopback address (127.0.0.1): "
        "the platform only calls public hosts"
    )
    assert stored_then_refused.requests == []
    assert owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/").json()["results"] == []


def test_a_stored_private_host_is_not_called_by_an_operation(stored_then_refused, owner_api, base):
    response = owner_api.post(
        base + "operations/getAssetState/call/", {"params": {"id": "P-0001"}}, format="json"
    )

    assert response.status_code == 502
    assert "loopback" in response.json()["detail"]
    assert stored_then_refused.requests == []


def test_a_stored_private_host_is_unhealthy_unasked(stored_then_refused, owner_api, base):
    response = owner_api.post(base + "health/")

    assert response.status_code == 200
    assert response.json()["status"] == "unhealthy"
    assert "loopback" in response.json()["error"]
    assert stored_then_refused.requests == []


# --- redirects ----------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_not_followed(pump_cloud, integrate, run, owner_api, connector):
    pump_cloud.add_assets(2)
    pump_cloud.state_failures = {"P-0002": "redirect_other_host"}
    integrate()

    last = run()

    assert last["state"] == "finished"
    (error,) = last["errors"]
    assert error["asset"] == "P-0002"
    assert error["reason"] == (
        "getAssetState: GET /api/v1.0/assets/P-0002/state redirected to another host "
        f"(https://127.0.0.1:{pump_cloud.port}): not followed"
    )
    assert all(r["headers"]["host"] == pump_cloud.host for r in pump_cloud.requests)
    state = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/{sha256('P-0001')}/state/").json()
    assert state["battery"]["reported"] == str(asset_state(1)["battery"])


def test_a_redirect_of_the_list_to_another_host_fails_the_run(pump_cloud, integrate, run):
    pump_cloud.add_assets(1)
    pump_cloud.redirect_list_to = "https://example.com/assets"
    integrate()

    last = run()

    assert last["state"] == "failed"
    assert "redirected to another host (https://example.com)" in last["detail"]
    assert len(pump_cloud.requests) == 1


def test_a_redirect_to_the_same_host_is_followed(pump_cloud, integrate, run, owner_api, connector):
    pump_cloud.add_assets(1)
    pump_cloud.state_failures = {"P-0001": "redirect_same_host"}
    integrate()

    last = run()

    assert (last["created"], last["error_count"]) == (1, 0)
    followed = pump_cloud.requests_to("/assets/P-0001/state")
    assert [r["query"] for r in followed] == [{}, {"r": "1"}]
    state = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/{sha256('P-0001')}/state/").json()
    assert state["battery"]["reported"] == str(asset_state(1)["battery"])


# --- timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1])
def test_a_timeout_is_that_assets_error_retried_and_the_run_goes_on(
    pump_cloud, integrate, run, settings, retries
):
    settings.INTEGRATIONS_TIMEOUT = 0.3
    settings.INTEGRATIONS_RETRIES = retries
    pump_cloud.slow_seconds = 2
    pump_cloud.add_assets(3)
    pump_cloud.state_failures = {"P-0002": "timeout"}
    integrate()

    last = run()

    assert last["state"] == "finished"
    assert (last["assets"], last["created"], last["error_count"]) == (3, 3, 1)
    assert last["errors"] == [
        {"asset": "P-0002", "reason": "getAssetState: GET /api/v1.0/assets/P-0002/state: timed out"}
    ]
    assert len(pump_cloud.requests_to("/assets/P-0002/state")) == 1 + retries
    assert len(pump_cloud.requests_to("/assets/P-0001/state")) == 1


# --- secrets ------------------------------------------------------------------------------------


def test_a_token_is_never_shown_logged_or_stored_in_clear(
    pump_cloud, owner_api, base, pump_resources, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    pump_cloud.add_assets(2)
    pump_cloud.state_failures = {"P-0002": "500"}  # an error message naming the path
    answers = []

    def keep(response):
        answers.append(response.content.decode())
        return response

    body = integration_body(pump_cloud, auth="token_path")
    keep(owner_api.put(base, body, format="json"))
    with django_capture_on_commit_callbacks(execute=True):
        job = keep(owner_api.post(base + "sync/"))
    keep(owner_api.get(job["Location"]))
    keep(owner_api.get("/api/v1/jobs/"))
    keep(owner_api.get(base))
    keep(owner_api.get(base + "operations/"))
    called = keep(
        owner_api.post(base + "operations/getAssetState/call/", {"params": {"id": "P-0001"}}, format="json")
    )
    keep(owner_api.post(base + "operations/getAssetState/call/", {"params": {"id": "P-0002"}}, format="json"))
    keep(owner_api.post(base + "operations/getAssetState/call/", {"params": {"token": "x"}}, format="json"))
    keep(owner_api.post(base + "health/"))
    keep(owner_api.get(base + "health/"))

    assert called.json() == {"status": 200, "body": asset_state(1)}
    assert any(r["path"].endswith(f"/t/{pump_cloud.token}/assets/P-0002/state") for r in pump_cloud.requests)
    assert "•••" in caplog.text  # its calls were logged, the token redacted
    for text in [caplog.text, *answers]:
        assert pump_cloud.token not in text
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets, config FROM integrations_integration")
        (secrets, config) = (str(value) for value in cursor.fetchone())
    assert secrets and pump_cloud.token not in secrets
    assert pump_cloud.token not in config


def test_a_password_is_never_shown_logged_or_stored_in_clear(
    pump_cloud, owner_api, base, pump_resources, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    pump_cloud.add_assets(1)
    pump_cloud.healthy = False
    answers = [owner_api.put(base, integration_body(pump_cloud), format="json").content.decode()]
    with django_capture_on_commit_callbacks(execute=True):
        answers.append(owner_api.post(base + "sync/").content.decode())
        answers.append(owner_api.post(base + "health/").content.decode())
    answers.append(owner_api.get(base).content.decode())
    payload = {"params": {"id": "P-0001"}, "body": {"command": "start"}}
    call = owner_api.post(base + "operations/sendCommand/call/", payload, format="json")
    answers.append(call.content.decode())

    assert call.json() == {"status": 202, "body": {"accepted": True, "command": "start"}}
    for text in [caplog.text, *answers]:
        assert pump_cloud.password not in text
        assert base64.b64encode(b"pump-user:pump-Secret-123").decode() not in text
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets, config FROM integrations_integration")
        (secrets, config) = (str(value) for value in cursor.fetchone())
    assert pump_cloud.password not in secrets and pump_cloud.password not in config
