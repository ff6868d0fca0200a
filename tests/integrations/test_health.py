"""The third party's health (docs/integrations.md, "Health"): ``GET`` on
``x-exosite-health-path`` (else the ``basePath``), any 2XX healthy; one e-mail to the maintainer
(else the business's admins) on each change to unhealthy and back, none for the same outcome
again nor for the first check going well. Checked on demand (``POST …/integration/health/``) and
by the beat task ``integrations.health_all``."""

import json
import socket

import pytest
import yaml

from integrations.tasks import health_all
from tests.factories import make_member
from tests.integrations.conftest import integration_body


@pytest.fixture
def integrate(owner_api, base, pump_cloud):
    def put(body=None, **changes) -> dict:
        body = {**(body or integration_body(pump_cloud)), **changes}
        response = owner_api.put(base, body, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return put


@pytest.fixture
def check(owner_api, base, django_capture_on_commit_callbacks):
    """``check()`` → the health the API answers to "check now" (its e-mails sent on commit)."""

    def post() -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_api.post(base + "health/")
        assert response.status_code == 200, response.content
        assert owner_api.get(base + "health/").json() == response.json()
        assert owner_api.get(base).json()["health"] == response.json()
        return response.json()

    return post


def test_a_2xx_is_healthy_and_the_first_check_sends_nothing(pump_cloud, integrate, check, mailoutbox):
    integrate()

    health = check()

    assert health["status"] == "healthy"
    assert health["error"] == ""
    assert health["checked_at"] and health["changed_at"]
    (request,) = pump_cloud.requests_to("/health")
    assert request["headers"]["authorization"].startswith("Basic ")
    assert mailoutbox == []


def test_one_email_on_each_change_and_none_while_it_stays(
    pump_cloud, integrate, check, mailoutbox, connector
):
    integrate()
    assert check()["status"] == "healthy"

    pump_cloud.healthy = False
    down = check()
    assert down["status"] == "unhealthy"
    assert down["error"] == "GET /api/v1.0/health answered 503"
    (email,) = mailoutbox
    assert email.to == ["ops@example.com"]
    assert email.subject == f"[{connector.name}] Pump Cloud is unreachable"
    assert "GET /api/v1.0/health answered 503" in email.body

    again = check()
    assert again["status"] == "unhealthy"
    assert again["changed_at"] == down["changed_at"]
    assert again["checked_at"] > down["checked_at"]
    assert len(mailoutbox) == 1

    pump_cloud.healthy = True
    up = check()
    assert up["status"] == "healthy"
    assert up["error"] == ""
    assert len(mailoutbox) == 2
    assert mailoutbox[1].to == ["ops@example.com"]
    assert mailoutbox[1].subject == f"[{connector.name}] Pump Cloud has recovered"

    check()
    assert len(mailoutbox) == 2


def test_unknown_to_unhealthy_sends_one_email(pump_cloud, integrate, check, mailoutbox):
    integrate()
    pump_cloud.down = True

    assert check()["status"] == "unhealthy"
    assert len(mailoutbox) == 1


def test_without_a_maintainer_the_business_admins_are_told(
    pump_cloud, integrate, check, mailoutbox, owner, business, developer, viewer
):
    other_admin = make_member(business_name=business.name, role="admin").user
    make_member(business_name="Globex", role="admin")
    integrate(maintainer_email="")
    pump_cloud.healthy = False

    check()

    (email,) = mailoutbox
    assert sorted(email.to) == sorted([owner.email, other_admin.email])


def test_without_a_health_path_the_base_path_is_checked(pump_cloud, integrate, check, mailoutbox):
    body = integration_body(pump_cloud)
    body["spec"] = yaml.safe_dump(
        {k: v for k, v in yaml.safe_load(body["spec"]).items() if k != "x-exosite-health-path"},
        sort_keys=False,
    )
    assert integrate(body)["health_path"] == "/api/v1.0"

    assert check()["status"] == "healthy"
    assert [r["path"] for r in pump_cloud.requests] == ["/api/v1.0"]
    pump_cloud.healthy = False
    assert check()["status"] == "unhealthy"


def test_an_api_that_cannot_be_reached_is_unhealthy(owner_api, base, pump_cloud, check, mailoutbox):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = integration_body(pump_cloud)
    body["spec"] = body["spec"].replace(f"host: {pump_cloud.host}", f"host: localhost:{port}")
    assert owner_api.put(base, body, format="json").status_code == 200

    health = check()

    assert health["status"] == "unhealthy"
    assert health["error"] == "GET /api/v1.0/health: could not connect"
    assert len(mailoutbox) == 1


def test_wrong_credentials_are_unhealthy(pump_cloud, integrate, check):
    body = integration_body(pump_cloud)
    body["config"]["password"] = "wrong"
    integrate(body)

    health = check()

    assert (health["status"], health["error"]) == ("unhealthy", "GET /api/v1.0/health answered 401")


def test_a_viewer_reads_health_but_does_not_check_it(api, viewer, base, pump_cloud, integrate):
    integrate()

    assert api(viewer).get(base + "health/").json()["status"] == "unknown"
    assert api(viewer).post(base + "health/").status_code == 403
    assert pump_cloud.requests == []


def test_a_new_host_forgets_the_old_ones_health(pump_cloud, integrate, check):
    integrate()
    pump_cloud.healthy = False
    assert check()["status"] == "unhealthy"
    body = integration_body(pump_cloud)
    body["spec"] = body["spec"].replace(f"host: {pump_cloud.host}", f"host: 127.0.0.1:{pump_cloud.port}")

    assert integrate(body)["health"] == {
        "status": "unknown",
        "checked_at": None,
        "changed_at": None,
        "error": "",
    }


# --- the beat task ------------------------------------------------------------------------------


def test_the_beat_task_checks_those_due(
    pump_cloud, integrate, check, owner_api, base, business, django_capture_on_commit_callbacks, mailoutbox
):
    from tests.factories import make_connector

    integrate()
    assert check()["status"] == "healthy"  # just checked: not due
    other = make_connector(business=business, name="Second")
    other_base = f"/api/v1/connectors/{other.pk}/integration/"
    assert owner_api.put(other_base, integration_body(pump_cloud), format="json").status_code == 200
    pump_cloud.reset()
    pump_cloud.healthy = False

    with django_capture_on_commit_callbacks(execute=True):
        health_all.delay()

    # Only the one never checked (a 503 is retried once).
    assert len(pump_cloud.requests_to("/health")) == 2
    assert owner_api.get(other_base + "health/").json()["status"] == "unhealthy"
    assert owner_api.get(base + "health/").json()["status"] == "healthy"
    (email,) = mailoutbox
    assert email.subject == "[Second] Pump Cloud is unreachable"


def test_the_beat_task_checks_again_after_the_interval(
    pump_cloud, integrate, check, owner_api, base, settings
):
    integrate()
    check()
    settings.HEALTH_INTERVAL = 0  # every check is now older than the interval
    pump_cloud.healthy = False

    health_all.delay()

    assert len(pump_cloud.requests_to("/health")) == 3  # the first check, this one's 503 and its retry
    assert owner_api.get(base + "health/").json()["status"] == "unhealthy"


# --- token authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["token_path", "token_query"])
def test_a_token_api_is_checked_with_its_token(pump_cloud, integrate, check, auth):
    body = integration_body(pump_cloud, auth=auth)
    # As JSON: pump_cloud_spec's YAML for token auth repeats its token parameter as YAML aliases.
    body["spec"] = json.dumps(yaml.safe_load(body["spec"]))
    integrate(body)

    health = check()

    assert (health["status"], health["error"]) == ("healthy", "")
    (request,) = pump_cloud.requests
    if auth == "token_path":
        assert request["path"] == f"/api/v1.0/t/{pump_cloud.token}/health"
    else:
        assert (request["path"], request["query"]) == ("/api/v1.0/health", {"token": pump_cloud.token})
    pump_cloud.healthy = False
    health = check()
    assert health["status"] == "unhealthy"
    assert pump_cloud.token not in json.dumps(health)
