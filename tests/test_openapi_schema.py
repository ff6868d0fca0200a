"""The OpenAPI 3 schema at ``/api/schema/`` documents the management API and is valid."""

import json

import pytest
import yaml
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

# Every management route that exists, with its methods (management-api.md).
DOCUMENTED = {
    "/api/v1/connectors/": {"get", "post"},
    "/api/v1/connectors/{connector_id}/": {"get", "patch", "delete"},
    "/api/v1/connectors/{connector_id}/resources/": {"get", "post"},
    "/api/v1/connectors/{connector_id}/resources/{alias}/": {"get", "put", "patch", "delete"},
    "/api/v1/connectors/{connector_id}/devices/": {"get", "post"},
    "/api/v1/connectors/{connector_id}/devices/{identity}/": {"get", "patch", "delete"},
    "/api/v1/connectors/{connector_id}/devices/{identity}/state/": {"get", "patch"},
    "/api/v1/connectors/{connector_id}/devices/{identity}/history/": {"get"},
    "/api/v1/tokens/": {"get", "post"},
    "/api/v1/tokens/{token_id}/": {"delete"},
    "/api:1/service/{connector_id}/device2/identity/{identity}": {"get", "put", "patch", "delete"},
    "/api:1/service/{connector_id}/device2/identity/{identity}/state": {"get", "patch"},
}
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


@pytest.fixture
def generated():
    """The schema as the generator builds it, and the warnings and errors it reported."""
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    problems = {**GENERATOR_STATS._warn_cache, **GENERATOR_STATS._error_cache}
    GENERATOR_STATS.reset()
    return schema, problems


def test_the_generated_schema_is_valid_openapi_3(generated):
    schema, _ = generated

    validate_schema(schema)  # raises on an invalid document
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]


def test_the_schema_is_generated_without_warnings_or_errors(generated):
    _, problems = generated

    assert problems == {}


def test_every_route_is_documented_with_its_methods(generated):
    schema, _ = generated

    documented = {path: set(item) & HTTP_METHODS for path, item in schema["paths"].items()}

    assert documented == DOCUMENTED


def test_operation_ids_are_unique(generated):
    schema, _ = generated

    ids = [
        op["operationId"] for item in schema["paths"].values() for m, op in item.items() if m in HTTP_METHODS
    ]

    assert len(ids) == len(set(ids))


def test_the_three_ways_to_authenticate_are_documented(generated):
    schema, _ = generated

    schemes = schema["components"]["securitySchemes"]

    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic"}
    assert schemes["tokenAuth"]["in"] == "header" and schemes["tokenAuth"]["name"] == "Authorization"
    assert schemes["cookieAuth"]["in"] == "cookie"
    operation = schema["paths"]["/api/v1/connectors/"]["get"]
    assert {name for requirement in operation["security"] for name in requirement} == {
        "basicAuth",
        "tokenAuth",
        "cookieAuth",
    }


def test_the_connector_schema_groups_settings_as_the_contract_does(generated):
    schema, _ = generated
    components = schema["components"]["schemas"]

    connector = components["Connector"]["properties"]

    for name in ("id", "name", "description", "device_host", "hostnames", "protocol", "identity_format",
                 "provisioning", "pki", "business"):  # fmt: skip
        assert name in connector, name
    pki_request = components["PkiRequest"]["properties"]
    assert "ca_private_key" in pki_request
    assert "ca_private_key" not in components["Pki"]["properties"]


def test_device_list_responses_are_documented_as_cursor_pages(generated):
    schema, _ = generated

    response = schema["paths"]["/api/v1/connectors/{connector_id}/devices/"]["get"]["responses"]["200"]
    ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    page = schema["components"]["schemas"][ref]

    assert set(page["properties"]) == {"next", "previous", "results"}
    assert page["properties"]["results"]["type"] == "array"


def test_device_state_is_documented_as_a_map_of_entries(generated):
    schema, _ = generated

    operation = schema["paths"]["/api/v1/connectors/{connector_id}/devices/{identity}/state/"]["get"]
    state = operation["responses"]["200"]["content"]["application/json"]["schema"]

    assert state["type"] == "object"
    assert set(state["additionalProperties"]["properties"]) == {"reported", "set", "timestamp"}


def test_schema_endpoint_serves_json_to_anyone(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    schema = json.loads(response.content)
    validate_schema(schema)
    assert set(schema["paths"]) == set(DOCUMENTED)


def test_schema_endpoint_serves_yaml_by_default(client, db):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert "openapi" in response["Content-Type"]
    schema = yaml.safe_load(response.content)
    validate_schema(schema)


def test_the_browsable_docs_page_loads(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
