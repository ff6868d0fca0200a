"""The integration's management API as its client sees it: ``PUT``/``GET``/``DELETE``
``/api/v1/connectors/<id>/integration/`` — the JSON's shape, secrets shown only as
``{"set": true}``, who may do what, and what stays when it is removed."""

import pytest

from integrations.models import Integration
from tests.factories import make_connector
from tests.integrations.conftest import integration_body

KEYS = {
    "connector", "title", "version", "host", "base_path", "health_path", "spec", "config", "config_fields",
    "sync", "maintainer_email", "health", "last_sync", "created_at", "updated_at",
}  # fmt: skip


def url(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/integration/"


@pytest.fixture
def integrated(owner_api, connector, pump_cloud):
    """The connector integrated with the pump cloud by its owner (PUT answered 200)."""
    response = owner_api.put(url(connector), integration_body(pump_cloud), format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_put_answers_the_integration(owner_api, connector, pump_cloud):
    body = integration_body(pump_cloud, config_io={"channels": {}})

    response = owner_api.put(url(connector), body, format="json")

    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == KEYS
    assert data["connector"] == connector.pk
    assert (data["title"], data["version"]) == ("Pump Cloud", "1.0.0")
    assert (data["host"], data["base_path"]) == (pump_cloud.host, "/api/v1.0")
    assert data["health_path"] == "/api/v1.0/health"
    assert data["spec"] == body["spec"]  # the text as it was given
    assert data["config"] == {"username": "pump-user", "password": {"set": True}}
    assert data["config_fields"] == [
        {"name": "username", "description": "Pump Cloud API user name", "type": "string", "format": "",
         "required": True, "secret": False},
        {"name": "password", "description": "Pump Cloud API password", "type": "string",
         "format": "password", "required": True, "secret": True},
    ]  # fmt: skip
    assert data["sync"] == {
        "list_operation": "listAssets", "state_operation": "getAssetState", "detail_operation": "getAsset",
        "id_field": "id", "id_parameter": "", "identity": "sha256", "interval_seconds": 60,
        "config_io": {"channels": {}}, "list_field": "", "page_parameter": "page", "next_field": "next",
        "enabled": True,
    }  # fmt: skip
    assert data["maintainer_email"] == "ops@example.com"
    assert data["health"] == {"status": "unknown", "checked_at": None, "changed_at": None, "error": ""}
    assert data["last_sync"] is None
    assert pump_cloud.password not in response.content.decode()
    assert pump_cloud.requests == []  # saving calls nobody


def test_get_answers_what_put_answered(owner_api, connector, integrated):
    response = owner_api.get(url(connector))

    assert response.status_code == 200
    assert response.json() == integrated


def test_a_viewer_reads_it(api, viewer, connector, integrated):
    response = api(viewer).get(url(connector))

    assert response.status_code == 200
    assert response.json()["config"]["password"] == {"set": True}


def test_a_connector_without_one_answers_404(owner_api, connector):
    response = owner_api.get(url(connector))

    assert response.status_code == 404
    assert response.json() == {"detail": "This connector has no integration."}


def test_a_viewer_may_not_put_or_delete(api, viewer, connector, pump_cloud):
    response = api(viewer).put(url(connector), integration_body(pump_cloud), format="json")

    assert response.status_code == 403
    assert not Integration.objects.exists()


def test_a_viewer_may_not_delete(api, viewer, connector, integrated):
    assert api(viewer).delete(url(connector)).status_code == 403
    assert Integration.objects.filter(connector=connector).exists()


def test_a_developer_may_put(api, developer, connector, pump_cloud):
    response = api(developer).put(url(connector), integration_body(pump_cloud), format="json")
    assert response.status_code == 200, response.content


def test_another_business_sees_nothing(api, outsider, connector, integrated, pump_cloud):
    client = api(outsider)

    assert client.get(url(connector)).status_code == 404
    assert client.put(url(connector), integration_body(pump_cloud), format="json").status_code == 404
    assert client.delete(url(connector)).status_code == 404
    assert client.post(url(connector) + "sync/").status_code == 404
    assert client.get(url(connector) + "operations/").status_code == 404
    assert Integration.objects.filter(connector=connector).exists()


def test_an_outsider_cannot_integrate_our_connector_without_one(api, outsider, connector, pump_cloud):
    response = api(outsider).put(url(connector), integration_body(pump_cloud), format="json")

    assert response.status_code == 404
    assert not Integration.objects.exists()


def test_an_anonymous_client_must_log_in(api, connector, integrated):
    response = api().get(url(connector))
    assert response.status_code == 401


def test_put_again_keeps_the_stored_secret_when_it_is_left_out(owner_api, connector, pump_cloud, integrated):
    body = integration_body(pump_cloud, interval_seconds=120)
    del body["config"]["password"]

    response = owner_api.put(url(connector), body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["config"]["password"] == {"set": True}
    assert response.json()["sync"]["interval_seconds"] == 120
    # The kept password still works: the third party accepts the health check.
    checked = owner_api.post(url(connector) + "health/")
    assert checked.json()["status"] == "healthy"
    (request,) = pump_cloud.requests_to("/health")
    assert request["headers"]["authorization"].startswith("Basic ")


def test_put_again_with_an_empty_secret_asks_for_it(owner_api, connector, pump_cloud, integrated):
    body = integration_body(pump_cloud)
    body["config"]["password"] = ""

    response = owner_api.put(url(connector), body, format="json")

    assert response.status_code == 400
    assert response.json()["config"] == ["password: is required (Pump Cloud API password)"]


def test_a_put_replaces_the_spec_so_it_must_send_one(owner_api, connector, pump_cloud, integrated):
    for missing in ({}, {"spec": None}):
        body = {**integration_body(pump_cloud), "maintainer_email": "pumps@example.com"}
        del body["spec"]

        response = owner_api.put(url(connector), {**body, **missing}, format="json")

        assert response.status_code == 400, response.content
        assert "spec" in response.json()
        kept = owner_api.get(url(connector)).json()
        assert (
            kept["spec"] == integrated["spec"] and kept["maintainer_email"] == integrated["maintainer_email"]
        )


def test_a_body_that_is_not_an_object_is_refused(owner_api, connector, pump_cloud):
    response = owner_api.put(url(connector), ["spec"], format="json")

    assert response.status_code == 400
    assert not Integration.objects.exists()


def test_delete_removes_it_and_its_devices_stay(owner_api, connector, pump_cloud, pump_resources,
                                                 django_capture_on_commit_callbacks, integrated):  # fmt: skip
    pump_cloud.add_assets(2)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.post(url(connector) + "sync/").status_code == 202
    devices = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/").json()["results"]
    assert len(devices) == 2

    response = owner_api.delete(url(connector))

    assert response.status_code == 204
    assert owner_api.get(url(connector)).status_code == 404
    assert owner_api.get(url(connector) + "operations/").status_code == 404
    assert owner_api.post(url(connector) + "sync/").status_code == 404
    after = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/").json()["results"]
    assert [d["identity"] for d in after] == [d["identity"] for d in devices]
    state = owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/{devices[0]['identity']}/state/")
    assert state.json()["temperature"]["reported"] is not None


def test_delete_twice_answers_404(owner_api, connector, integrated):
    assert owner_api.delete(url(connector)).status_code == 204
    assert owner_api.delete(url(connector)).status_code == 404


def test_each_connector_has_its_own(owner_api, connector, business, pump_cloud, integrated):
    other = make_connector(business=business)

    assert owner_api.get(url(other)).status_code == 404
    response = owner_api.put(url(other), integration_body(pump_cloud, interval_seconds=30), format="json")
    assert response.status_code == 200
    assert owner_api.get(url(connector)).json()["sync"]["interval_seconds"] == 60
