"""The spec's operations through the management API (docs/integrations.md, "Calling
operations"): listed with their parameters, called with parameters checked against the spec,
the third party's status and JSON passed through, 502 when it cannot be reached."""

import json
import socket

import pytest
import yaml

from tests.integrations.conftest import integration_body
from tests.integrations.pump_cloud import asset_state


@pytest.fixture
def integrate(owner_api, base, pump_cloud):
    def put(auth="basic", spec=None) -> dict:
        body = integration_body(pump_cloud, auth=auth)
        if auth != "basic":  # pump_cloud_spec's YAML for token auth has aliases: send JSON
            body["spec"] = json.dumps(yaml.safe_load(body["spec"]))
        if spec is not None:
            body["spec"] = spec
        response = owner_api.put(base, body, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return put


@pytest.fixture
def call(owner_api, base):
    """``call(operation_id, params=…, body=…)`` → the API's response to calling it."""

    def post(operation_id, **payload):
        return owner_api.post(base + f"operations/{operation_id}/call/", payload, format="json")

    return post


def test_the_operations_are_listed_with_their_parameters(owner_api, base, integrate):
    integrate()

    response = owner_api.get(base + "operations/")

    assert response.status_code == 200
    operations = {o["operation_id"]: o for o in response.json()}
    assert set(operations) == {"getHealth", "listAssets", "getAsset", "getAssetState", "sendCommand"}
    assert {k: v for k, v in operations["listAssets"].items() if k != "description"} == {
        "operation_id": "listAssets",
        "method": "GET",
        "path": "/assets",
        "parameters": [
            {"name": "page", "in": "query", "description": "The page to return, from 1 (the default).",
             "required": False, "type": "integer", "enum": [], "from_config": False},
        ],
    }  # fmt: skip
    assert operations["listAssets"]["description"].startswith("The assets (pumps) this account can see")
    command = operations["sendCommand"]
    assert (command["method"], command["path"]) == ("POST", "/assets/{id}/commands")
    assert [(p["name"], p["in"], p["required"], p["type"]) for p in command["parameters"]] == [
        ("id", "path", True, "string"),
        ("command", "body", True, "object"),
    ]


def test_the_operations_are_listed_in_the_documents_order(owner_api, base, integrate):
    integrate()

    listed = [o["operation_id"] for o in owner_api.get(base + "operations/").json()]

    assert listed == ["getHealth", "listAssets", "getAsset", "getAssetState", "sendCommand"]


def test_a_token_parameter_is_listed_as_filled_from_the_configuration(owner_api, base, integrate):
    integrate(auth="token_query")

    operations = {o["operation_id"]: o for o in owner_api.get(base + "operations/").json()}

    token, id_ = operations["getAssetState"]["parameters"]
    assert (token["name"], token["in"], token["from_config"]) == ("token", "query", True)
    assert (id_["name"], id_["in"], id_["from_config"]) == ("id", "path", False)


def test_a_viewer_lists_them_but_does_not_call_them(api, viewer, base, integrate, pump_cloud):
    pump_cloud.add_assets(1)
    integrate()
    client = api(viewer)

    assert client.get(base + "operations/").status_code == 200
    response = client.post(base + "operations/sendCommand/call/", {"params": {"id": "P-0001"},
                           "body": {"command": "stop"}}, format="json")  # fmt: skip
    assert response.status_code == 403
    assert pump_cloud.requests == []


def test_a_call_answers_the_third_partys_status_and_json(pump_cloud, integrate, call):
    pump_cloud.add_assets(2)
    integrate()

    response = call("getAssetState", params={"id": "P-0002"})

    assert response.status_code == 200
    assert response.json() == {"status": 200, "body": asset_state(2)}
    (request,) = pump_cloud.requests
    assert (request["method"], request["path"]) == ("GET", "/api/v1.0/assets/P-0002/state")


def test_a_query_parameter_is_sent_and_coerced_to_its_type(pump_cloud, integrate, call):
    pump_cloud.add_assets(3)
    pump_cloud.page_size = 2
    integrate()

    response = call("listAssets", params={"page": "2"})

    assert response.status_code == 200
    assert response.json()["body"] == {"assets": [{"id": "P-0003", "name": "Pump P-0003", "model": "PX-200"}],
                                       "next": None}  # fmt: skip
    assert pump_cloud.requests[0]["query"] == {"page": "2"}


def test_a_body_is_sent_as_json_and_a_202_passes_through(pump_cloud, integrate, call):
    pump_cloud.add_assets(1)
    integrate()

    response = call("sendCommand", params={"id": "P-0001"}, body={"command": "start"})

    assert response.status_code == 200
    assert response.json() == {"status": 202, "body": {"accepted": True, "command": "start"}}
    (request,) = pump_cloud.requests
    assert request["method"] == "POST"
    assert json.loads(request["body"]) == {"command": "start"}
    assert request["headers"]["content-type"] == "application/json"


def test_the_third_partys_404_passes_through(pump_cloud, integrate, call):
    integrate()

    response = call("getAsset", params={"id": "nope"})

    assert response.status_code == 200
    assert response.json() == {"status": 404, "body": {"error": "no such asset"}}


def test_an_answer_that_is_not_json_comes_back_as_text(pump_cloud, integrate, call):
    pump_cloud.add_assets(1)
    pump_cloud.state_failures = {"P-0001": "bad_json"}
    integrate()

    response = call("getAssetState", params={"id": "P-0001"})

    assert response.json() == {"status": 200, "body": '{"temperature": '}


def test_a_path_parameter_is_escaped(pump_cloud, integrate, call):
    integrate()

    call("getAsset", params={"id": "../../health"})

    (request,) = pump_cloud.requests
    assert request["path"] == "/api/v1.0/assets/..%2F..%2Fhealth"


# --- what is refused before calling --------------------------------------------------------------


def test_bad_parameters_and_body_are_all_listed(pump_cloud, integrate, call):
    integrate()

    response = call("sendCommand", params={"colour": "blue"}, body={"command": "jump", "extra": 1})

    assert response.status_code == 400
    errors = response.json()
    assert errors["params"] == ["colour: sendCommand has no such parameter", "id: is required"]
    assert errors["body"] == ["command: 'jump' is not one of ['start', 'stop']"]
    assert pump_cloud.requests == []


def test_a_missing_body_is_refused(pump_cloud, integrate, call):
    integrate()

    response = call("sendCommand", params={"id": "P-0001"})

    assert response.status_code == 400
    assert response.json() == {"body": ["is required (The command to send.)"]}
    assert pump_cloud.requests == []


def test_a_body_the_operation_does_not_take_is_refused(pump_cloud, integrate, call):
    integrate()

    response = call("getAsset", params={"id": "P-0001"}, body={"x": 1})

    assert response.status_code == 400
    assert response.json() == {"body": ["getAsset takes no body"]}


@pytest.mark.parametrize(
    "page, problem",
    [("two", "must be a whole number"), (1.5, "must be a whole number"), ([1], "must be a single value")],
)
def test_a_parameter_of_the_wrong_type_is_refused(pump_cloud, integrate, call, page, problem):
    integrate()

    response = call("listAssets", params={"page": page})

    assert response.status_code == 400
    assert response.json() == {"params": [f"page: {problem}"]}
    assert pump_cloud.requests == []


def test_a_parameter_filled_from_the_configuration_cannot_be_overridden(pump_cloud, integrate, call):
    integrate(auth="token_query")

    response = call("getAssetState", params={"id": "P-0001", "token": "someone-elses-token"})

    assert response.status_code == 400
    assert response.json() == {"params": ["token: filled from the configuration; it cannot be set here"]}
    assert pump_cloud.requests == []


def test_the_configurations_token_is_sent(pump_cloud, integrate, call):
    pump_cloud.add_assets(1)
    integrate(auth="token_path")

    response = call("getAssetState", params={"id": "P-0001"})

    assert response.json() == {"status": 200, "body": asset_state(1)}
    assert pump_cloud.requests[0]["path"] == f"/api/v1.0/t/{pump_cloud.token}/assets/P-0001/state"


def test_unknown_fields_of_the_call_are_refused(integrate, owner_api, base, pump_cloud):
    integrate()

    response = owner_api.post(base + "operations/getHealth/call/", {"parameters": {}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"parameters": ["unknown field"]}
    assert pump_cloud.requests == []


def test_an_unknown_operation_is_not_found(integrate, call, pump_cloud):
    integrate()

    response = call("deleteEverything")

    assert response.status_code == 404
    assert response.json() == {"detail": "The spec has no operation deleteEverything."}
    assert pump_cloud.requests == []


def test_without_an_integration_there_is_nothing_to_call(owner_api, base, call):
    assert owner_api.get(base + "operations/").status_code == 404
    assert call("getHealth").status_code == 404


# --- the third party out of reach ---------------------------------------------------------------


def test_an_api_that_cannot_be_reached_answers_502(pump_cloud, integrate, call):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    integrate(
        spec=integration_body(pump_cloud)["spec"].replace(
            f"host: {pump_cloud.host}", f"host: localhost:{port}"
        )
    )

    response = call("getAssetState", params={"id": "P-0001"})

    assert response.status_code == 502
    assert response.json() == {"detail": "GET /api/v1.0/assets/P-0001/state: could not connect"}


def test_a_call_that_times_out_answers_502(pump_cloud, integrate, call, settings):
    settings.INTEGRATIONS_TIMEOUT = 0.3
    pump_cloud.slow_seconds = 2
    pump_cloud.add_assets(1)
    pump_cloud.state_failures = {"P-0001": "timeout"}
    integrate()

    response = call("getAssetState", params={"id": "P-0001"})

    assert response.status_code == 502
    assert response.json() == {"detail": "GET /api/v1.0/assets/P-0001/state: timed out"}
    assert len(pump_cloud.requests) == 1  # a call on demand is not retried
