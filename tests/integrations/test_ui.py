"""The Integration tab of a connector, as a product manager uses it in a browser (Django's test
client against the real pump cloud): the spec pasted or uploaded (problems listed by location,
what was typed kept), the configuration form generated from it (secrets never shown), the sync
settings, Check now, Sync now and its counts, the operation tester, removing the integration,
and what a viewer and an outsider may do."""

import html as html_lib
import json
import re

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from devices.models import Device
from integrations.models import Integration
from integrations.selectors import integration_json
from integrations.services import integration_put
from integrations.sync import ASSET_TAG, asset_identity
from jobs.models import Job, JobKind
from tests.integrations.conftest import integration_body
from tests.integrations.pump_cloud import pump_cloud_spec
from tests.web.conftest import page_text


def tab(connector, path: str = "") -> str:
    return f"/connectors/{connector.pk}/integration/{path}"


def form_fields(cloud, *, password=None, **changes) -> dict:
    """The tab's form, filled as for ``integration_body(cloud)``."""
    body = integration_body(cloud)
    sync = body["sync"]
    fields = {
        "spec": body["spec"],
        "config_username": cloud.username,
        "config_password": cloud.password if password is None else password,
        "list_operation": sync["list_operation"],
        "state_operation": sync["state_operation"],
        "detail_operation": sync["detail_operation"],
        "id_field": sync["id_field"],
        "id_parameter": "",
        "list_field": "",
        "page_parameter": sync["page_parameter"],
        "next_field": "next",
        "identity": sync["identity"],
        "interval_seconds": str(sync["interval_seconds"]),
        "config_io": "",
        "enabled": "on",
        "maintainer_email": body["maintainer_email"],
    }
    fields.update(changes)
    # The page names the configuration and sync fields it showed.
    fields["shown"] = [name for name in fields if name not in ("spec", "maintainer_email")]
    return fields


@pytest.fixture
def integrated(pump_cloud, pump_resources, owner):
    """The connector integrated with the pump cloud (three assets), through the service."""
    pump_cloud.add_assets(3)
    integration_put(connector=pump_resources, data=integration_body(pump_cloud), user=owner)
    return pump_resources


def token_spec(cloud, auth: str) -> str:
    """The pump cloud's spec with its token in the path or query, as JSON text (the YAML that
    ``pump_cloud_spec`` writes for these variants repeats the token parameter as an alias)."""
    return json.dumps(yaml.safe_load(pump_cloud_spec(cloud.host, auth=auth)), indent=2)


def select_options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"', select)


def textarea(html: str, name: str) -> str:
    return html_lib.unescape(
        re.search(rf'<textarea name="{name}"[^>]*>\n?(.*?)</textarea>', html, re.S).group(1)
    )


# --- the page -------------------------------------------------------------------------------------


def test_a_connector_without_integration_offers_to_paste_a_spec(web, owner, connector):
    response = web(owner).get(tab(connector))

    html = page_text(response)
    assert response.status_code == 200
    assert 'aria-current="page">Integration</a>' in html
    assert "No integration yet" in html
    assert 'name="spec"' in html and 'name="spec_file"' in html
    assert "The configuration form and the sync settings follow from a valid spec." in html
    assert "Check the spec" in html
    assert "Sync now" not in html and "Check now" not in html


def test_every_connector_page_links_to_the_tab(web, owner, connector):
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/devices/"))

    assert f'href="/connectors/{connector.pk}/integration/">Integration</a>' in html


# --- the spec, then its configuration form ------------------------------------------------------


def test_a_new_spec_comes_back_with_its_configuration_form_and_operations(web, owner, connector, pump_cloud):
    spec = pump_cloud_spec(pump_cloud.host)

    response = web(owner).post(tab(connector), {"spec": spec})

    html = page_text(response)
    assert response.status_code == 400
    assert not Integration.objects.filter(connector=connector).exists()
    assert "The spec is valid: Pump Cloud 1.0.0 (5 operations at " + pump_cloud.host in html
    assert "not saved yet" in html
    assert textarea(html, "spec") == spec  # what was pasted is kept
    # One input per x-exosite-config-parameters field; the secret one is a password input.
    assert re.search(r'<input type="text" name="config_username"', html)
    assert re.search(r'<input type="password" name="config_password"', html)
    assert "Pump Cloud API user name" in html
    assert "is required (Pump Cloud API user name)" in html  # the missing required values
    # The sync settings choose among the spec's operations.
    assert select_options(html, "list_operation") == ["", "getHealth", "listAssets", "getAsset",
                                                      "getAssetState", "sendCommand"]  # fmt: skip
    assert select_options(html, "identity") == ["sha256", "asset_id"]
    # The settings it had not shown start from their defaults.
    assert re.search(r'<input type="text" name="id_field" value="id"', html)
    assert re.search(r'<input type="number" name="interval_seconds" value="300"', html)
    assert re.search(r'<input type="checkbox" name="enabled"[^>]* checked', html)
    assert "is required (the operation that lists the assets)" in html


def test_the_filled_form_creates_the_integration(web, owner, pump_resources, pump_cloud):
    client = web(owner)

    response = client.post(tab(pump_resources), form_fields(pump_cloud))

    assert response.status_code == 302, page_text(response)[:3000]
    integration = Integration.objects.get(connector=pump_resources)
    info = integration_json(integration)
    assert info["config"] == {"username": pump_cloud.username, "password": {"set": True}}
    assert info["sync"]["list_operation"] == "listAssets"
    assert info["sync"]["page_parameter"] == "page"
    assert info["sync"]["enabled"] is True
    assert info["maintainer_email"] == "ops@example.com"
    html = page_text(client.get(response["Location"]))
    assert "Integration created." in html
    assert "Pump Cloud" in html and "1.0.0" in html and pump_cloud.host + "/api/v1.0" in html
    assert "not saved yet" not in html
    assert "set: leave empty to keep it" in html
    assert pump_cloud.password not in html


def test_spec_problems_are_listed_by_location_and_the_text_is_kept(web, owner, connector, pump_cloud):
    spec = (
        pump_cloud_spec(pump_cloud.host)
        .replace(
            "      description: The details of one asset (pump), as registered when it was installed.\n", ""
        )
        .replace("schemes:\n  - https", "schemes:\n  - http")
    )

    response = web(owner).post(tab(connector), {"spec": spec})

    html = page_text(response)
    assert response.status_code == 400
    problems = re.search(r'<ul class="errorlist spec-problems"[^>]*>(.*?)</ul>', html, re.S).group(1)
    items = [
        html_lib.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", problems)
    ]
    assert any(item.startswith('paths["/assets/{id}"].get: ') and "description" in item for item in items), (
        items
    )
    assert any(item.startswith("schemes") and "https" in item for item in items), items
    assert textarea(html, "spec") == spec
    assert not Integration.objects.filter(connector=connector).exists()


def test_yaml_that_does_not_parse_names_its_line(web, owner, connector):
    response = web(owner).post(tab(connector), {"spec": "swagger: '2.0'\ninfo: [unclosed\n"})

    html = html_lib.unescape(page_text(response))
    assert response.status_code == 400
    assert re.search(r"line \d+, column \d+</code>: not valid YAML", html)


def test_an_uploaded_spec_file_is_read_and_shown(web, owner, connector, pump_cloud):
    spec = pump_cloud_spec(pump_cloud.host)
    upload = SimpleUploadedFile("pump-cloud.yaml", spec.encode(), content_type="application/yaml")

    response = web(owner).post(tab(connector), {"spec": "", "spec_file": upload})

    html = page_text(response)
    assert response.status_code == 400  # the configuration is still to fill in
    assert "The spec is valid: Pump Cloud 1.0.0" in html
    assert textarea(html, "spec") == spec


def test_a_file_that_is_not_text_is_refused_on_its_field(web, owner, connector):
    upload = SimpleUploadedFile("spec.yaml", b"\xff\xfe\x00binary", content_type="application/octet-stream")

    response = web(owner).post(tab(connector), {"spec": "", "spec_file": upload})

    assert response.status_code == 400
    assert "The file is not UTF-8 text (YAML or JSON)." in page_text(response)


def test_config_and_sync_problems_show_on_their_fields(web, owner, pump_resources, pump_cloud):
    fields = form_fields(
        pump_cloud, config_username="", list_operation="noSuchOperation", interval_seconds="5",
        config_io="{not json", maintainer_email="not an address",
    )  # fmt: skip

    response = web(owner).post(tab(pump_resources), fields)

    html = html_lib.unescape(page_text(response))
    assert response.status_code == 400
    for field, problem in [
        ("config_username", "is required (Pump Cloud API user name)"),
        ("interval_seconds", "must be a whole number of seconds from 10 to 604800"),
        ("config_io", "is not valid JSON"),
        ("maintainer_email", "must be an e-mail address"),
    ]:
        assert re.search(rf'id="id_{field}_error"[^>]*><li>{re.escape(problem)}', html), field
    assert "Type it again: secrets are never shown back." in html
    assert pump_cloud.password not in html
    assert not Integration.objects.filter(connector=pump_resources).exists()
    # (The service checks the operations once the settings' values are well formed.)
    response = web(owner).post(tab(pump_resources), {**fields, "interval_seconds": "60", "config_io": ""})
    html = html_lib.unescape(page_text(response))
    assert re.search(r'id="id_list_operation_error"[^>]*><li>the spec has no operation noSuchOperation', html)


def test_bad_values_of_every_kind_are_problems_not_errors(web, owner, integrated):
    client = web(owner)
    for fields in (
        {"interval_seconds": "ten", "identity": "md5"},
        {"enabled": "maybe", "state_operation": "x" * 300},
        {"config_io": "[1, 2]", "id_field": ""},
        {"spec": "\x00"},
        {"spec": "{]"},
        {"spec": "- a list"},
    ):
        response = client.post(tab(integrated), {**form_fields(integrated_cloud(integrated)), **fields})
        assert response.status_code in (302, 400), fields
        if response.status_code == 400:
            assert 'class="errorlist' in page_text(response), fields


def integrated_cloud(connector):
    """The pump cloud the connector's saved spec names (for ``form_fields``)."""

    class Cloud:
        pass

    cloud = Cloud()
    integration = Integration.objects.get(connector=connector)
    cloud.host = integration.spec["host"]
    cloud.username = integration.config["username"]
    cloud.password = ""
    return cloud


def test_an_empty_secret_keeps_the_stored_one(web, owner, integrated, pump_cloud):
    client = web(owner)

    response = client.post(tab(integrated), form_fields(pump_cloud, password="", interval_seconds="120"))

    assert response.status_code == 302, page_text(response)[:3000]
    integration = Integration.objects.get(connector=integrated)
    assert integration.sync["interval_seconds"] == 120
    # The stored password still authenticates: the health check passes.
    response = client.post(tab(integrated, "health/"))
    assert response.status_code == 302
    assert "Healthy</span>" in page_text(client.get(tab(integrated)))


def test_a_changed_spec_with_other_configuration_comes_back_to_be_filled(web, owner, integrated, pump_cloud):
    fields = form_fields(pump_cloud, password="", spec=token_spec(pump_cloud, "token_query"))

    response = web(owner).post(tab(integrated), fields)

    html = page_text(response)
    assert response.status_code == 400
    assert re.search(r'<input type="password" name="config_token"', html)
    assert 'name="config_username"' not in html
    assert "is required (Pump Cloud API token)" in html
    assert "The spec is valid" in html
    assert Integration.objects.get(connector=integrated).spec.get("securityDefinitions")  # unchanged

    fields["config_token"] = pump_cloud.token
    response = web(owner).post(tab(integrated), fields)

    assert response.status_code == 302, page_text(response)[:3000]
    assert integration_json(Integration.objects.get(connector=integrated))["config"] == {
        "token": {"set": True}
    }


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_never_appear_in_any_page(
    web, owner, integrated, pump_cloud, django_capture_on_commit_callbacks
):
    client = web(owner)
    token_connector_pages = []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(tab(integrated, "sync/"))
    pages = [
        client.get(tab(integrated)),
        client.get(tab(integrated) + "?operation=getAsset"),
        client.post(tab(integrated, "try/"), {"operation": "getAssetState", "param_id": "P-0001"}),
        client.post(tab(integrated, "try/"), {"operation": "listAssets", "param_page": "x"}),
        client.post(tab(integrated), form_fields(pump_cloud, interval_seconds="1")),  # refused
        client.post(tab(integrated), form_fields(pump_cloud, password="")),  # saved
        client.get(tab(integrated, "delete/")),
    ]
    token_connector_pages.append(client.post(tab(integrated, "health/"), follow=True))
    for response in pages + token_connector_pages:
        html = page_text(response)
        assert response.status_code < 500
        assert pump_cloud.password not in html
        assert pump_cloud.token not in html


# --- health -------------------------------------------------------------------------------------


def test_check_now_updates_the_health_badge(web, owner, integrated, pump_cloud):
    client = web(owner)
    assert "Unknown</span>" in page_text(client.get(tab(integrated)))

    response = client.post(tab(integrated, "health/"), follow=True)

    html = page_text(response)
    assert 'id="health-status">Healthy</span>' in html
    assert "The API is healthy." in html
    assert '<dd id="health-checked"><time' in html

    pump_cloud.healthy = False
    html = page_text(client.post(tab(integrated, "health/"), follow=True))

    assert 'id="health-status">Unhealthy</span>' in html
    assert "GET /api/v1.0/health answered 503" in html


# --- sync ---------------------------------------------------------------------------------------


def test_sync_now_runs_a_job_and_the_page_shows_its_counts(
    web, owner, integrated, pump_cloud, django_capture_on_commit_callbacks
):
    pump_cloud.state_failures["P-0002"] = "500"
    client = web(owner)
    assert "No sync has run yet." in page_text(client.get(tab(integrated)))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(tab(integrated, "sync/"))

    assert response.status_code == 302
    assert response["Location"].endswith("/integration/#last-run")
    job = Job.objects.get(connector=integrated, kind=JobKind.INTEGRATION_SYNC)
    assert job.state == "finished"
    html = page_text(client.get(response["Location"]))
    assert "Sync started." in html
    assert f'data-job-id="{job.pk}" data-job-state="finished"' in html
    assert '<progress id="sync-bar" max="3" value="3">' in html
    assert "3 of 3 assets" in html
    counts = dict(re.findall(r'<dd data-count="(\w+)">(\d+)</dd>', html))
    assert counts == {"assets": "3", "created": "3", "updated": "0", "unchanged": "0", "error_count": "1"}
    errors = re.search(r'<table class="data" id="sync-errors">(.*?)</table>', html, re.S).group(1)
    assert '<td class="mono">P-0002</td><td>getAssetState: answered 500</td>' in errors
    assert Device.objects.filter(connector=integrated, tags__name=ASSET_TAG).count() == 3


def test_sync_now_while_a_run_is_queued_shows_that_run(web, owner, integrated):
    client = web(owner)
    client.post(tab(integrated, "sync/"))  # queued: its transaction never commits in this test

    response = client.post(tab(integrated, "sync/"), follow=True)

    html = page_text(response)
    assert "A sync is already under way" in html
    assert Job.objects.filter(connector=integrated, kind=JobKind.INTEGRATION_SYNC).count() == 1
    assert 'data-job-state="queued"' in html
    assert re.search(r"<button [^>]*disabled data-sync-button>Sync now</button>", html)


# --- the operation tester -----------------------------------------------------------------------


def test_an_operation_is_chosen_and_its_parameters_shown(web, owner, integrated):
    html = page_text(web(owner).get(tab(integrated) + "?operation=sendCommand"))

    assert '<option value="sendCommand" selected>' in html
    assert 'name="param_id"' in html
    assert re.search(r'<textarea name="body"', html)
    assert "Call sendCommand" in html


def test_the_tester_shows_the_third_partys_status_and_json(web, owner, integrated, pump_cloud):
    pump_cloud.assets["P-0001"]["name"] = "<script>alert(1)</script>"
    client = web(owner)

    response = client.post(tab(integrated, "try/"), {"operation": "getAsset", "param_id": "P-0001"})

    html = page_text(response)
    assert response.status_code == 200
    assert '<strong id="operation-status" class="integration-ok">200</strong>' in html
    body = html_lib.unescape(
        re.search(r'<pre class="integration-body"[^>]*>(.*?)</pre>', html, re.S).group(1)
    )
    assert '  "name": "<script>alert(1)</script>",' in body  # pretty-printed
    assert "<script>alert(1)</script>" not in html  # and escaped

    response = client.post(tab(integrated, "try/"), {"operation": "getAssetState", "param_id": "nope"})
    assert response.status_code == 200
    assert '<strong id="operation-status" class="integration-not-ok">404</strong>' in page_text(response)


def test_the_tester_lists_parameter_problems(web, owner, integrated):
    client = web(owner)

    missing = client.post(tab(integrated, "try/"), {"operation": "getAssetState"})
    bad_page = client.post(tab(integrated, "try/"), {"operation": "listAssets", "param_page": "two"})
    bad_json = client.post(tab(integrated, "try/"), {"operation": "sendCommand", "param_id": "P-0001",
                                                    "body": "{nope"})  # fmt: skip
    bad_body = client.post(tab(integrated, "try/"), {"operation": "sendCommand", "param_id": "P-0001",
                                                    "body": '{"command": "jump"}'})  # fmt: skip
    unknown = client.post(tab(integrated, "try/"), {"operation": "dropTables"})

    assert missing.status_code == 400
    assert re.search(r'id="id_try_param_id_error"[^>]*><li>is required', page_text(missing))
    assert bad_page.status_code == 400
    assert re.search(r'id="id_try_param_page_error"[^>]*><li>must be a whole number', page_text(bad_page))
    assert bad_json.status_code == 400 and "not valid JSON" in page_text(bad_json)
    assert bad_body.status_code == 400 and "command: &#x27;jump&#x27; is not one of" in page_text(bad_body)
    assert unknown.status_code == 400 and "The spec has no operation dropTables." in page_text(unknown)


def test_the_tester_sends_a_json_body(web, owner, integrated, pump_cloud):
    response = web(owner).post(
        tab(integrated, "try/"),
        {"operation": "sendCommand", "param_id": "P-0001", "body": '{"command": "start"}'},
    )

    html = html_lib.unescape(page_text(response))
    assert response.status_code == 200
    assert 'class="integration-ok">202</strong>' in html
    assert '"accepted": true' in html


def test_config_filled_parameters_are_shown_not_editable(web, owner, pump_resources, pump_cloud):
    pump_cloud.add_assets(1)
    body = {**integration_body(pump_cloud, auth="token_path"), "spec": token_spec(pump_cloud, "token_path")}
    integration_put(connector=pump_resources, data=body, user=owner)
    client = web(owner)

    html = page_text(client.get(tab(pump_resources) + "?operation=getAssetState"))
    assert "token (path)" in html and 'value="from configuration" disabled' in html
    assert 'name="param_token"' not in html
    response = client.post(tab(pump_resources, "try/"), {"operation": "getAssetState", "param_id": "P-0001"})
    assert response.status_code == 200
    assert 'class="integration-ok">200</strong>' in page_text(response)
    assert pump_cloud.token not in page_text(response)

    # A forged value for it is no field of the form: the configured token is sent.
    response = client.post(tab(pump_resources, "try/"), {"operation": "getAssetState", "param_id": "P-0001",
                                                         "param_token": "forged"})  # fmt: skip
    assert response.status_code == 200
    assert len(pump_cloud.requests_to(f"/t/{pump_cloud.token}/assets/P-0001/state")) == 2
    assert pump_cloud.requests_to("/t/forged/assets/P-0001/state") == []


def test_the_tester_says_when_the_third_party_cannot_be_reached(web, owner, integrated, settings):
    settings.INTEGRATIONS_CA_BUNDLE = ""  # the pump cloud's certificate is no longer trusted

    response = web(owner).post(tab(integrated, "try/"), {"operation": "getAssetState", "param_id": "P-0001"})

    assert response.status_code == 502
    assert (
        "The third party could not be reached: GET /api/v1.0/assets/P-0001/state: the certificate could not "
        "be verified" in page_text(response)
    )


# --- removing -----------------------------------------------------------------------------------


def test_removing_asks_first_and_keeps_the_devices(
    web, owner, integrated, django_capture_on_commit_callbacks
):
    client = web(owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(tab(integrated, "sync/"))

    confirm = page_text(client.get(tab(integrated, "delete/")))
    assert "Remove the integration with Pump Cloud?" in confirm
    assert "The devices stay." in confirm and "The 3 devices it created keep their" in confirm

    response = client.post(tab(integrated, "delete/"), follow=True)

    assert "Integration removed. Its devices stay, with their values." in page_text(response)
    assert not Integration.objects.filter(connector=integrated).exists()
    assert Device.objects.filter(connector=integrated, identity=asset_identity("P-0001", "sha256")).exists()
    assert "No integration yet" in page_text(response)


# --- who may do what ----------------------------------------------------------------------------


def test_a_viewer_sees_the_tab_read_only(web, viewer, integrated, pump_cloud):
    client = web(viewer)

    html = page_text(client.get(tab(integrated)))

    assert "Pump Cloud" in html
    assert "Save integration" not in html and "Sync now" not in html and "Check now" not in html
    assert "Remove integration" not in html and "Call getHealth" not in html
    assert re.search(r'<fieldset disabled id="spec">', html)
    for path, data in [
        ("", form_fields(pump_cloud)),
        ("sync/", {}),
        ("health/", {}),
        ("try/", {"operation": "getHealth"}),
        ("delete/", {}),
    ]:
        response = client.post(tab(integrated, path), data)
        assert response.status_code == 403, path
        assert "Not allowed" in page_text(response)
    assert client.get(tab(integrated, "delete/")).status_code == 403
    assert not Job.objects.filter(connector=integrated).exists()
    assert Integration.objects.filter(connector=integrated).exists()


def test_a_developer_edits_it(web, developer, integrated, pump_cloud):
    response = web(developer).post(
        tab(integrated), form_fields(pump_cloud, password="", interval_seconds="30")
    )

    assert response.status_code == 302
    assert Integration.objects.get(connector=integrated).sync["interval_seconds"] == 30


def test_someone_elses_connector_is_not_found(web, outsider, integrated, pump_cloud):
    client = web(outsider)
    for method, path, data in [
        ("get", "", None), ("post", "", form_fields(pump_cloud)), ("post", "sync/", {}),
        ("post", "health/", {}), ("post", "try/", {"operation": "getHealth"}),
        ("get", "delete/", None), ("post", "delete/", {}),
    ]:  # fmt: skip
        response = getattr(client, method)(tab(integrated, path), data or {})
        assert response.status_code == 404, path
        assert integrated.name not in page_text(response)


def test_actions_on_a_connector_without_integration_are_not_found(web, owner, connector):
    client = web(owner)
    for path in ("sync/", "health/", "try/", "delete/"):
        assert client.post(tab(connector, path), {"operation": "x"}).status_code == 404, path
