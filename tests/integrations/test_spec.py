"""What ``PUT /api/v1/connectors/<id>/integration/`` refuses, as its client sees it: 400 with
every problem of the spec, the configuration and the sync settings at once, each located in the
document (docs/integrations.md, "Creating one"). Nothing is stored when it is refused."""

import copy
import json

import pytest
import yaml

from integrations.models import Integration
from tests.integrations.conftest import integration_body

# Where the answer of getAsset is described.
ASSET_SCHEMA = 'paths["/assets/{id}"].get.responses["200"].schema'


@pytest.fixture
def put(api, owner, connector, pump_cloud):
    """``put(body)`` → the response to the owner's PUT of ``body`` (the pump cloud's by default)."""
    url = f"/api/v1/connectors/{connector.pk}/integration/"

    def send(body=None, **changes):
        body = {**(body or integration_body(pump_cloud)), **changes}
        return api(owner).put(url, body, format="json")

    return send


@pytest.fixture
def document(pump_cloud):
    """The pump cloud's spec as a document to change (a fresh copy)."""
    return copy.deepcopy(yaml.safe_load(integration_body(pump_cloud)["spec"]))


def refused(response, field="spec") -> list[str]:
    """The problems a 400 lists for ``field``; nothing was stored."""
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert not Integration.objects.exists()
    problems = response.json()[field]
    assert isinstance(problems, list) and problems
    return problems


def spec_problems(put, document) -> list[str]:
    return refused(put(spec=yaml.safe_dump(document, sort_keys=False)))


def test_the_example_spec_is_accepted_as_yaml_and_as_json(put, document):
    assert put().status_code == 200
    Integration.objects.all().delete()
    assert put(spec=json.dumps(document)).status_code == 200


# --- the seed's rules, each located --------------------------------------------------------------


def test_info_needs_a_description(put, document):
    del document["info"]["description"]
    assert spec_problems(put, document) == ["info.description: is required"]


def test_info_needs_a_title_and_a_version(put, document):
    del document["info"]["title"]
    document["info"]["version"] = " "

    problems = spec_problems(put, document)

    assert "info.title: is required" in problems
    assert "info.version: is required" in problems


def test_every_operation_needs_a_description(put, document):
    del document["paths"]["/assets"]["get"]["description"]
    assert spec_problems(put, document) == ['paths["/assets"].get: needs a description']


def test_every_operation_needs_an_operation_id(put, document):
    del document["paths"]["/health"]["get"]["operationId"]
    assert spec_problems(put, document) == ['paths["/health"].get: needs an operationId']


def test_every_parameter_needs_a_description(put, document):
    del document["paths"]["/assets"]["get"]["parameters"][0]["description"]
    assert spec_problems(put, document) == [
        'paths["/assets"].get.parameters[0]: every parameter needs a description'
    ]


def test_a_schema_needs_a_type_at_the_top(put, document):
    del document["paths"]["/assets/{id}/commands"]["post"]["responses"]["202"]["schema"]["type"]
    assert spec_problems(put, document) == [
        'paths["/assets/{id}/commands"].post.responses["202"].schema: every schema level needs a type'
    ]


def test_a_nested_property_needs_a_type_and_a_description(put, document):
    status = document["paths"]["/health"]["get"]["responses"]["200"]["schema"]["properties"]["status"]
    del status["type"], status["description"]

    where = 'paths["/health"].get.responses["200"].schema.properties.status'
    assert spec_problems(put, document) == [
        f"{where}: every schema level needs a type",
        f"{where}: every schema level needs a description",
    ]


def test_a_schema_reached_through_a_ref_is_checked_where_it_is_defined(put, document):
    del document["definitions"]["AssetState"]["properties"]["battery"]["description"]
    assert spec_problems(put, document) == [
        "definitions.AssetState.properties.battery: every schema level needs a description"
    ]


def test_items_of_an_array_need_a_description(put, document):
    assets = document["paths"]["/assets"]["get"]["responses"]["200"]["schema"]["properties"]["assets"]
    assets["items"] = {"type": "object"}

    assert spec_problems(put, document) == [
        'paths["/assets"].get.responses["200"].schema.properties.assets.items: '
        "every schema level needs a description"
    ]


def test_a_body_parameters_schema_is_checked_too(put, document):
    body = document["paths"]["/assets/{id}/commands"]["post"]["parameters"][1]
    del body["schema"]["properties"]["command"]["description"]

    assert spec_problems(put, document) == [
        'paths["/assets/{id}/commands"].post.parameters[1].schema.properties.command: '
        "every schema level needs a description"
    ]


def test_only_https(put, document):
    document["schemes"] = ["http"]
    assert spec_problems(put, document) == [
        "schemes: must be [https]: the API must be reached over HTTPS only"
    ]


def test_an_operation_may_not_allow_http_either(put, document):
    document["paths"]["/health"]["get"]["schemes"] = ["https", "http"]
    assert spec_problems(put, document) == ['paths["/health"].get.schemes: must be [https]']


@pytest.mark.parametrize("key", ["consumes", "produces"])
def test_only_json_is_consumed_and_produced(put, document, key):
    document[key] = ["application/json", "text/xml"]
    assert spec_problems(put, document) == [f"{key}: must be [application/json]"]


def test_an_operation_that_produces_something_else_is_refused(put, document):
    document["paths"]["/health"]["get"]["produces"] = ["text/plain"]
    assert spec_problems(put, document) == [
        'paths["/health"].get.produces: only application/json is supported'
    ]


def test_form_parameters_are_refused(put, document):
    document["paths"]["/assets/{id}/commands"]["post"]["parameters"][1] = {
        "name": "command", "in": "formData", "type": "string", "description": "The command.",
    }  # fmt: skip

    problems = spec_problems(put, document)

    assert (
        'paths["/assets/{id}/commands"].post.parameters[1]: form parameters are not supported (JSON only)'
        in problems
    )


def test_two_operations_may_not_share_an_id(put, document):
    document["paths"]["/assets/{id}"]["get"]["operationId"] = "getAssetState"

    problems = spec_problems(put, document)

    assert any(
        p.startswith('paths["/assets/{id}/state"].get.operationId: getAssetState is already used')
        for p in problems
    )


# --- valid Swagger 2.0 (a maintained validator) --------------------------------------------------


def test_not_swagger_2(put, document):
    document["swagger"] = "3.0"
    assert spec_problems(put, document) == ['swagger: must be "2.0" (an OpenAPI 2 document)']


def test_an_invalid_swagger_document_is_refused_where_it_is_wrong(put, document):
    document["paths"]["/assets"]["get"]["parameters"][0]["in"] = "cookie"

    (problem,) = spec_problems(put, document)

    assert problem.startswith('paths["/assets"].get.parameters[0]: ')
    assert "cookie" in problem


def test_a_ref_to_a_url_is_refused(put, document, pump_cloud):
    schema = document["paths"]["/assets/{id}"]["get"]["responses"]["200"]["schema"]
    schema["$ref"] = f"https://{pump_cloud.host}/api/v1.0/health"

    assert spec_problems(put, document) == [
        f"{ASSET_SCHEMA}: only references inside the document (#/…) are allowed"
    ]
    assert pump_cloud.requests == []  # never fetched


def test_a_ref_to_nothing_is_refused(put, document):
    document["paths"]["/assets/{id}"]["get"]["responses"]["200"]["schema"]["$ref"] = "#/definitions/Nope"
    assert spec_problems(put, document) == [
        f"{ASSET_SCHEMA}: #/definitions/Nope points at nothing in the document"
    ]


def test_yaml_aliases_are_refused(put):
    text = "swagger: '2.0'\nlaugh: &a [lol, lol]\nlaughs: [*a, *a]\n"
    (problem,) = refused(put(spec=text))
    assert problem == "line 3, column 10: not valid YAML (YAML aliases (*name) are not allowed)"


def test_text_that_is_not_yaml(put):
    (problem,) = refused(put(spec="swagger: '2.0'\n  info: : ["))
    assert problem.startswith("line 2, column 3: not valid YAML")


def test_text_that_is_not_json(put):
    (problem,) = refused(put(spec='{"swagger": '))
    assert problem.startswith("line 1, column 13: not valid JSON")


def test_a_document_that_is_not_an_object(put):
    assert refused(put(spec="- a\n- b\n")) == [
        "spec: the document must be an object (swagger, info, paths, …)"
    ]


def test_a_huge_document_is_refused_unread(put, document):
    document["x-padding"] = "x" * (1024 * 1024)
    assert refused(put(spec=yaml.safe_dump(document))) == ["spec: the document is larger than 1024 KB"]


def test_every_problem_is_reported_at_once(put, document):
    del document["info"]["description"]
    document["schemes"] = ["http"]
    del document["paths"]["/health"]["get"]["operationId"]
    del document["paths"]["/assets"]["get"]["parameters"][0]["description"]
    del document["definitions"]["Asset"]["properties"]["name"]["type"]

    problems = spec_problems(put, document)

    assert problems == [
        "info.description: is required",
        "schemes: must be [https]: the API must be reached over HTTPS only",
        'paths["/health"].get: needs an operationId',
        'paths["/assets"].get.parameters[0]: every parameter needs a description',
        "definitions.Asset.properties.name: every schema level needs a type",
    ]


def test_problems_of_the_spec_config_and_sync_come_together(put, pump_cloud):
    body = integration_body(pump_cloud, interval_seconds=5)
    body["spec"] = body["spec"].replace("  title: Pump Cloud\n", "", 1)
    body["maintainer_email"] = "not an address"

    response = put(body)

    assert response.status_code == 400
    errors = response.json()
    assert "info.title: is required" in errors["spec"]
    assert errors["maintainer_email"] == ["must be an e-mail address"]
    assert any(p.startswith("interval_seconds:") for p in errors["sync"])


# --- the configuration --------------------------------------------------------------------------


def test_a_required_configuration_field_is_named(put, pump_cloud):
    body = integration_body(pump_cloud)
    del body["config"]["password"]
    assert refused(put(body), "config") == ["password: is required (Pump Cloud API password)"]


def test_an_unknown_configuration_field_is_refused(put, pump_cloud):
    body = integration_body(pump_cloud)
    body["config"]["colour"] = "blue"
    assert refused(put(body), "config") == ["colour: not a configuration field of this spec"]


def test_a_configuration_value_of_the_wrong_type(put, pump_cloud):
    body = integration_body(pump_cloud)
    body["config"]["username"] = 42
    assert refused(put(body), "config") == ["username: must be a text"]


def test_the_token_field_of_a_token_spec_is_required(put, pump_cloud):
    body = integration_body(pump_cloud, auth="token_query")
    # As JSON: pump_cloud_spec's YAML for token auth has aliases (its shared token parameter).
    body["spec"] = json.dumps(yaml.safe_load(body["spec"]))
    body["config"] = {}
    assert refused(put(body), "config") == ["token: is required (Pump Cloud API token)"]


def test_an_unknown_top_level_field_is_refused(put, pump_cloud):
    assert refused(put(integration_body(pump_cloud), colour="blue"), "colour") == ["unknown field"]


# --- the sync settings --------------------------------------------------------------------------


def test_the_list_operation_is_required(put, pump_cloud):
    body = integration_body(pump_cloud)
    del body["sync"]["list_operation"]
    assert refused(put(body), "sync") == ["list_operation: is required (the operation that lists the assets)"]


def test_sync_operations_must_exist_in_the_spec(put, pump_cloud):
    body = integration_body(pump_cloud, list_operation="listPumps", state_operation="getPumpState")

    assert refused(put(body), "sync") == [
        "list_operation: the spec has no operation listPumps",
        "state_operation: the spec has no operation getPumpState",
    ]


def test_the_state_operation_must_take_the_asset_id(put, pump_cloud):
    body = integration_body(pump_cloud, state_operation="getHealth")
    assert refused(put(body), "sync") == ["state_operation: getHealth must take the asset id as a parameter"]


def test_the_detail_operation_must_take_the_asset_id(put, pump_cloud):
    body = integration_body(pump_cloud, detail_operation="listAssets", id_parameter="id")
    assert refused(put(body), "sync") == [
        "detail_operation: listAssets has no parameter id to take the asset id"
    ]


def test_the_page_parameter_must_be_one_of_the_list_operation(put, pump_cloud):
    body = integration_body(pump_cloud, page_parameter="cursor")
    assert refused(put(body), "sync") == ["page_parameter: listAssets has no parameter cursor"]


@pytest.mark.parametrize("interval", [9, 0, -60, "60", 10.5, True])
def test_the_interval_is_at_least_10_seconds(put, pump_cloud, interval):
    body = integration_body(pump_cloud, interval_seconds=interval)
    assert refused(put(body), "sync") == [
        "interval_seconds: must be a whole number of seconds from 10 to 604800"
    ]


def test_an_interval_of_10_seconds_is_accepted(put, pump_cloud):
    response = put(integration_body(pump_cloud, interval_seconds=10))
    assert response.status_code == 200, response.content
    assert response.json()["sync"]["interval_seconds"] == 10


def test_an_unknown_identity_kind_and_setting(put, pump_cloud):
    body = integration_body(pump_cloud, identity="md5", colour="blue")

    problems = refused(put(body), "sync")

    assert "identity: must be one of sha256, asset_id" in problems
    assert "colour: unknown setting" in problems
