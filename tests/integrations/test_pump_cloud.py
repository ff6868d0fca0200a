"""The pump cloud itself: the third party the integration tests and the benchmark talk to must
behave like one (real TLS, its own CA, Basic and token auth, paging, each failure mode), and the
example spec and its variants must be valid Swagger 2.0 that follows the seed's rules."""

import base64
import ssl
import threading
import time

import httpx
import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from tests.integrations.pump_cloud import SPEC_PATH, PumpCloud, asset_state, pump_cloud_spec


@pytest.fixture(scope="module")
def running_cloud():
    with PumpCloud() as cloud:
        yield cloud


@pytest.fixture
def cloud(running_cloud):
    running_cloud.reset()
    return running_cloud


def trusting(cloud: PumpCloud) -> ssl.SSLContext:
    """A client TLS context that trusts the pump cloud's CA and nothing else."""
    return ssl.create_default_context(cafile=cloud.ca_path)


@pytest.fixture
def client(cloud):
    """A client with the right Basic credentials."""
    with httpx.Client(verify=trusting(cloud), auth=(cloud.username, cloud.password), timeout=10) as c:
        yield c


@pytest.fixture
def anonymous(cloud):
    with httpx.Client(verify=trusting(cloud), timeout=10) as c:
        yield c


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- TLS and authentication ----------------------------------------------------------------


def test_tls_verifies_against_its_own_ca_for_localhost_and_127_0_0_1(cloud, client):
    assert cloud.host == f"localhost:{cloud.port}"
    assert client.get(f"https://localhost:{cloud.port}/api/v1.0/health").json() == {"status": "ok"}
    assert client.get(f"https://127.0.0.1:{cloud.port}/api/v1.0/health").status_code == 200


def test_a_client_that_does_not_trust_its_ca_is_refused(cloud):
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(cloud.url("/health"), auth=(cloud.username, cloud.password))
    # The server goes on serving those who trust it.
    with httpx.Client(verify=trusting(cloud), auth=(cloud.username, cloud.password)) as c:
        assert c.get(cloud.url("/health")).status_code == 200


def test_basic_auth_is_checked(cloud, anonymous):
    cloud.add_assets(1)
    assert anonymous.get(cloud.url("/assets"), auth=(cloud.username, cloud.password)).status_code == 200
    for auth in [(cloud.username, "wrong"), ("someone", cloud.password), None]:
        response = anonymous.get(cloud.url("/assets"), auth=auth)
        assert response.status_code == 401
        assert response.json() == {"error": "unauthorized"}
    garbled = anonymous.get(cloud.url("/assets"), headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401


def test_a_token_in_the_path_is_accepted_and_a_wrong_one_refused(cloud, anonymous):
    (asset_id,) = cloud.add_assets(1)
    good = anonymous.get(cloud.url(f"/t/{cloud.token}/assets/{asset_id}/state"))
    assert good.status_code == 200
    assert good.json() == asset_state(1)
    assert anonymous.get(cloud.url(f"/t/{cloud.token}/health")).json() == {"status": "ok"}
    wrong = anonymous.get(cloud.url(f"/t/tok-wrong/assets/{asset_id}/state"))
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "unauthorized"}


def test_a_token_in_the_query_is_accepted_and_a_wrong_one_refused(cloud, anonymous):
    cloud.add_assets(2)
    good = anonymous.get(cloud.url("/assets"), params={"token": cloud.token})
    assert [a["id"] for a in good.json()["assets"]] == ["P-0001", "P-0002"]
    assert anonymous.get(cloud.url("/assets"), params={"token": "tok-wrong"}).status_code == 401
    assert anonymous.get(cloud.url("/health"), params={"token": ""}).status_code == 401


def test_requests_are_recorded_as_sent(cloud, client):
    (asset_id,) = cloud.add_assets(1)
    client.post(cloud.url(f"/assets/{asset_id}/commands"), params={"x": "1"}, json={"command": "stop"})
    (seen,) = cloud.requests
    assert seen["method"] == "POST"
    assert seen["path"] == f"/api/v1.0/assets/{asset_id}/commands"
    assert seen["query"] == {"x": "1"}
    expected = base64.b64encode(f"{cloud.username}:{cloud.password}".encode()).decode()
    assert seen["headers"]["authorization"] == f"Basic {expected}"
    assert seen["headers"]["host"] == cloud.host
    assert seen["body"] == '{"command":"stop"}'
    assert cloud.requests_to(f"/assets/{asset_id}/commands", "POST") == [seen]


def test_many_requests_share_one_keep_alive_connection(cloud, client):
    ids = cloud.add_assets(20)
    for i in range(200):
        assert client.get(cloud.url(f"/assets/{ids[i % 20]}/state")).json() == asset_state(i % 20 + 1)
    assert len(cloud.requests) == 200


# -- assets, paging, commands -----------------------------------------------------------------


def test_without_a_page_size_every_asset_is_in_one_page(cloud, client):
    cloud.add_assets(3)
    cloud.add_assets(2, prefix="Q-")
    body = client.get(cloud.url("/assets")).json()
    assert [a["id"] for a in body["assets"]] == ["P-0001", "P-0002", "P-0003", "Q-0001", "Q-0002"]
    assert body["assets"][0] == {"id": "P-0001", "name": "Pump P-0001", "model": "PX-350"}
    assert body["next"] is None


def test_pages_follow_next_until_null(cloud, client):
    cloud.add_assets(5)
    cloud.page_size = 2
    pages, page = [], 1
    while page is not None:
        body = client.get(cloud.url("/assets"), params={"page": page}).json()
        pages.append([a["id"] for a in body["assets"]])
        page = body["next"]
    assert pages == [["P-0001", "P-0002"], ["P-0003", "P-0004"], ["P-0005"]]
    assert client.get(cloud.url("/assets")).json()["next"] == 2  # no page: the first
    assert client.get(cloud.url("/assets"), params={"page": 9}).json() == {"assets": [], "next": None}
    assert client.get(cloud.url("/assets"), params={"page": "zero"}).status_code == 400


def test_the_list_can_be_a_bare_array(cloud, client):
    cloud.add_assets(2)
    cloud.list_as_array = True
    assert [a["id"] for a in client.get(cloud.url("/assets")).json()] == ["P-0001", "P-0002"]


def test_an_asset_is_described_and_an_unknown_one_is_404(cloud, client):
    cloud.add_assets(2)
    detail = client.get(cloud.url("/assets/P-0002")).json()
    assert detail == {
        "id": "P-0002",
        "name": "Pump P-0002",
        "model": "HX-900",
        "serial": "SN-000002",
        "site": "East Reservoir",
        "installed": "2018-01-03",
    }
    assert client.get(cloud.url("/assets/P-0002/state")).json() == {
        "temperature": 22.0,
        "battery": 98,
        "vibration": 0.02,
        "running": True,
    }
    for path in ["/assets/P-9999", "/assets/P-9999/state"]:
        response = client.get(cloud.url(path))
        assert response.status_code == 404
        assert response.json() == {"error": "no such asset"}


def test_commands_start_and_stop_a_pump(cloud, client):
    (asset_id,) = cloud.add_assets(1)  # asset 1: not running
    url = cloud.url(f"/assets/{asset_id}/commands")
    response = client.post(url, json={"command": "start"})
    assert response.status_code == 202
    assert response.json() == {"accepted": True, "command": "start"}
    assert client.get(cloud.url(f"/assets/{asset_id}/state")).json()["running"] is True
    assert client.post(url, json={"command": "stop"}).json() == {"accepted": True, "command": "stop"}
    assert client.get(cloud.url(f"/assets/{asset_id}/state")).json()["running"] is False
    for bad in [{"command": "explode"}, {}, ["start"]]:
        assert client.post(url, json=bad).status_code == 400
    assert client.post(url, content=b"{not json").status_code == 400
    unknown = client.post(cloud.url("/assets/P-9999/commands"), json={"command": "start"})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no such asset"}
    assert client.get(url).status_code == 405


# -- failure modes --------------------------------------------------------------------------


def test_unhealthy_answers_503_on_health_and_the_base_path(cloud, client, anonymous):
    assert client.get(cloud.url("/health")).status_code == 200
    for path in ["", "/"]:
        assert anonymous.get(cloud.url(path)).json() == {"ok": True}
    cloud.healthy = False
    assert client.get(cloud.url("/health")).status_code == 503
    assert anonymous.get(cloud.url("")).status_code == 503
    assert client.get(cloud.url("/assets")).status_code == 200


def test_down_answers_503_everywhere(cloud, client, anonymous):
    (asset_id,) = cloud.add_assets(1)
    cloud.down = True
    for path in ["", "/health", "/assets", f"/assets/{asset_id}", f"/assets/{asset_id}/state"]:
        assert client.get(cloud.url(path)).status_code == 503
    assert anonymous.get(cloud.url("/assets")).status_code == 503
    assert (
        client.post(cloud.url(f"/assets/{asset_id}/commands"), json={"command": "start"}).status_code == 503
    )


def test_state_failures_500_404_and_bad_json(cloud, client):
    a, b, c, d = cloud.add_assets(4)
    cloud.state_failures = {a: "500", b: "404", c: "bad_json"}
    assert client.get(cloud.url(f"/assets/{a}/state")).status_code == 500
    assert client.get(cloud.url(f"/assets/{b}/state")).status_code == 404
    bad = client.get(cloud.url(f"/assets/{c}/state"))
    assert bad.status_code == 200
    assert bad.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        bad.json()
    assert client.get(cloud.url(f"/assets/{d}/state")).json() == asset_state(4)
    # Only the state fails: the asset is still listed and described.
    assert client.get(cloud.url(f"/assets/{a}")).status_code == 200


def test_a_slow_state_times_a_client_out_then_answers(cloud, client):
    (asset_id,) = cloud.add_assets(1)
    cloud.state_failures = {asset_id: "timeout"}
    cloud.slow_seconds = 5.0
    with pytest.raises(httpx.ReadTimeout):
        client.get(cloud.url(f"/assets/{asset_id}/state"), timeout=0.2)
    cloud.slow_seconds = 0.1
    assert client.get(cloud.url(f"/assets/{asset_id}/state")).json() == asset_state(1)


def test_a_redirect_to_another_host_name(cloud, client):
    (asset_id,) = cloud.add_assets(1)
    cloud.state_failures = {asset_id: "redirect_other_host"}
    response = client.get(cloud.url(f"/assets/{asset_id}/state"))
    assert response.status_code == 302
    assert response.headers["location"] == f"https://127.0.0.1:{cloud.port}/api/v1.0/assets/{asset_id}/state"
    # Whoever follows it lands on the same server, under the other name, and is answered.
    followed = client.get(response.headers["location"])
    assert followed.json() == asset_state(1)
    assert cloud.requests[-1]["headers"]["host"] == f"127.0.0.1:{cloud.port}"


def test_a_redirect_to_the_same_host_is_answered_once_followed(cloud, client):
    (asset_id,) = cloud.add_assets(1)
    cloud.state_failures = {asset_id: "redirect_same_host"}
    response = client.get(cloud.url(f"/assets/{asset_id}/state"), follow_redirects=True)
    assert response.json() == asset_state(1)
    first, second = cloud.requests
    assert response.history[0].headers["location"] == (
        f"https://localhost:{cloud.port}/api/v1.0/assets/{asset_id}/state?r=1"
    )
    assert (first["query"], second["query"]) == ({}, {"r": "1"})
    # A token in the query survives the redirect.
    token_url = cloud.url(f"/assets/{asset_id}/state")
    via_token = httpx.get(token_url, params={"token": cloud.token}, verify=trusting(cloud))
    assert via_token.headers["location"].endswith(f"?token={cloud.token}&r=1")


def test_the_list_can_redirect(cloud, client):
    cloud.redirect_list_to = "https://elsewhere.example/assets"
    response = client.get(cloud.url("/assets"))
    assert response.status_code == 302
    assert response.headers["location"] == "https://elsewhere.example/assets"


def test_stop_ends_open_connections_and_joins_its_threads():
    threads_before = set(threading.enumerate())
    cloud = PumpCloud().start()
    (asset_id,) = cloud.add_assets(1)
    cloud.state_failures = {asset_id: "timeout"}
    cloud.slow_seconds = 60.0
    failures = []

    def slow_request():
        try:
            with httpx.Client(verify=trusting(cloud), auth=(cloud.username, cloud.password), timeout=60) as c:
                c.get(cloud.url(f"/assets/{asset_id}/state"))
        except httpx.TransportError as exc:
            failures.append(exc)

    client_thread = threading.Thread(target=slow_request)
    client_thread.start()
    wait_for(lambda: cloud.requests)
    cloud.stop()
    client_thread.join(timeout=30)
    assert not client_thread.is_alive()
    assert len(failures) == 1  # cut off, not answered after a minute
    assert set(threading.enumerate()) - threads_before == set()


# -- the spec -------------------------------------------------------------------------------


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _schema_problems(spec: dict, schema: dict, where: str) -> list[str]:
    """The seed's rules for a schema: `type` and `description` at every level."""
    schema = _resolve(spec, schema)
    problems = [f"{where}: no {key}" for key in ("type", "description") if key not in schema]
    for name, prop in schema.get("properties", {}).items():
        problems += _schema_problems(spec, prop, f"{where}.{name}")
    if "items" in schema:
        problems += _schema_problems(spec, schema["items"], f"{where}[]")
    return problems


def _rule_problems(spec: dict) -> list[str]:
    problems = [f"info: no {key}" for key in ("title", "version", "description") if key not in spec["info"]]
    for key, allowed in [
        ("schemes", ["https"]),
        ("consumes", ["application/json"]),
        ("produces", ["application/json"]),
    ]:
        if spec[key] != allowed:
            problems.append(f"{key}: {spec[key]}")
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            problems += [
                f"{where}: no {key}" for key in ("operationId", "description") if key not in operation
            ]
            for parameter in operation.get("parameters", []):
                if "description" not in parameter:
                    problems.append(f"{where} {parameter['name']}: no description")
                if "schema" in parameter:
                    problems += _schema_problems(spec, parameter["schema"], f"{where} {parameter['name']}")
            for status, response in operation["responses"].items():
                if "schema" in response:
                    problems += _schema_problems(spec, response["schema"], f"{where} {status}")
    return problems


@pytest.mark.parametrize("auth", ["basic", "token_path", "token_query"])
@pytest.mark.parametrize("health_path", [True, False])
def test_the_spec_and_its_variants_are_valid_swagger_that_follows_the_seeds_rules(auth, health_path):
    spec = yaml.safe_load(pump_cloud_spec("localhost:8443", auth=auth, health_path=health_path))
    validate(spec, cls=OpenAPIV2SpecValidator)
    assert _rule_problems(spec) == []
    assert spec["host"] == "localhost:8443"
    assert spec["basePath"] == "/api/v1.0"
    assert ("x-exosite-health-path" in spec) is health_path
    operations = {op["operationId"]: (path, op) for path, ops in spec["paths"].items() for op in ops.values()}
    assert set(operations) == {"getHealth", "listAssets", "getAsset", "getAssetState", "sendCommand"}
    config = {p["name"]: p for p in spec["x-exosite-config-parameters"]}
    if auth == "basic":
        assert set(config) == {"username", "password"}
        assert spec["securityDefinitions"]["basicAuth"]["x-exosite-secret-field"] == "password"
        assert spec["security"] == [{"basicAuth": []}]
        return
    assert set(config) == {"token"}
    assert config["token"]["format"] == "password"
    assert "securityDefinitions" not in spec and "security" not in spec
    where = "path" if auth == "token_path" else "query"
    for path, operation in operations.values():
        assert {"name": "token", "in": where} in [
            {"name": p["name"], "in": p["in"]} for p in operation["parameters"]
        ]
        assert path.startswith("/t/{token}/") is (where == "path")


def test_the_basic_spec_is_the_example_file_with_its_host_replaced():
    text = pump_cloud_spec("localhost:8443")
    assert text == SPEC_PATH.read_text().replace("host: api.pumpcloud.example", "host: localhost:8443")


@pytest.mark.parametrize("auth", ["basic", "token_path", "token_query"])
def test_each_spec_variant_reaches_the_cloud_with_its_own_auth(cloud, auth):
    """The paths each variant's spec describes, filled in the way it says, are served."""
    (asset_id,) = cloud.add_assets(1)
    spec = yaml.safe_load(pump_cloud_spec(cloud.host, auth=auth))
    (path,) = [
        p for p, ops in spec["paths"].items() if ops.get("get", {}).get("operationId") == "getAssetState"
    ]
    url = f"https://{spec['host']}{spec['basePath']}{path}".replace("{id}", asset_id)
    url = url.replace("{token}", cloud.token)
    kwargs = {"auth": (cloud.username, cloud.password)} if auth == "basic" else {}
    if auth == "token_query":
        kwargs["params"] = {"token": cloud.token}
    response = httpx.get(url, verify=trusting(cloud), **kwargs)
    assert response.json() == asset_state(1)
