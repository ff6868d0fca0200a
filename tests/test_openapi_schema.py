"""The OpenAPI 3 schema at ``/api/schema/`` documents the management API and is valid."""

import json

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.routes import api_routes, openapi_path

HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
# Routes the contract (shared/docs/management-api.md) names, with their methods: they must be documented.
CONTRACT = {
    "/api/v1/connectors/": {"get", "post"},
    "/api/v1/connectors/{connector_id}/": {"get", "patch", "delete"},
    "/api/v1/connectors/{connector_id}/resources/": {"get", "post"},
    "/api/v1/connectors/{connector_id}/resources/{alias}/": {"get", "patch", "delete"},
    "/api/v1/connectors/{connector_id}/devices/": {"get", "post"},
    "/api/v1/connectors/{connector_id}/devices/{identity}/": {"get", "patch", "delete"},
    "/api/v1/connectors/{connector_id}/devices/{identity}/state/": {"get", "patch"},
    "/api/v1/connectors/{connector_id}/devices/{identity}/history/": {"get"},
    "/api/v1/tokens/": {"get", "post"},
    "/api/v1/tokens/{token_id}/": {"delete"},
    "/api/v1/businesses/": {"get"},
    "/api/v1/businesses/{business_id}/": {"get"},
    "/api/v1/businesses/{business_id}/members/": {"get", "post"},
    "/api/v1/businesses/{business_id}/members/{member_id}/": {"patch", "delete"},
    "/api:1/service/{connector_id}/device2/identity/{identity}": {"get", "put", "patch", "delete"},
    "/api:1/service/{connector_id}/device2/identity/{identity}/state": {"get", "patch"},
}
# Answers without a body: 204 No Content, 205 Reset Content (Device2's delete).
BODILESS = {"204", "205"}


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def resolved(schema, node):
    """``node`` with a ``$ref`` followed to its component."""
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


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


def test_every_api_route_is_documented_with_its_methods(generated):
    schema, _ = generated

    documented = {path: set(item) & HTTP_METHODS for path, item in schema["paths"].items()}
    routed = {openapi_path(route): methods for route, methods in api_routes().items()}

    assert documented == routed


def test_the_contracts_routes_are_documented(generated):
    schema, _ = generated

    missing = {
        f"{method.upper()} {path}"
        for path, methods in CONTRACT.items()
        for method in methods
        if method not in schema["paths"].get(path, {})
    }

    assert missing == set()


def test_the_spectacular_command_validates_without_warnings(tmp_path, db):
    # What `manage.py spectacular --validate --fail-on-warn` does in CI pipelines elsewhere.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert yaml.safe_load((tmp_path / "schema.yaml").read_text())["paths"]


# Uploads whose body is the file itself (any Content-Type), with the media types they document.
RAW_UPLOADS = {
    "PUT /api/v1/connectors/{connector_id}/portal/assets/{asset_name}": {
        "image/png",
        "image/vnd.microsoft.icon",
        "application/octet-stream",
    },
}
# Actions whose request is the verb alone (an integration's "Sync now" and "check now"): no body.
BODILESS_ACTIONS = {
    "POST /api/v1/connectors/{connector_id}/integration/sync/",
    "POST /api/v1/connectors/{connector_id}/integration/health/",
}


def test_every_write_documents_its_request_body(generated):
    schema, _ = generated

    without_body = {
        f"{method.upper()} {path}"
        for path, method, operation in operations(schema)
        if method in ("post", "put", "patch")
        and "application/json" not in operation.get("requestBody", {}).get("content", {})
        and "multipart/form-data" not in operation.get("requestBody", {}).get("content", {})
        and set(operation.get("requestBody", {}).get("content", {}))
        != RAW_UPLOADS.get(f"{method.upper()} {path}")
        and (f"{method.upper()} {path}" not in BODILESS_ACTIONS or "requestBody" in operation)
    }

    assert without_body == set()


def test_every_success_documents_its_response_body(generated):
    schema, _ = generated

    problems = set()
    for path, method, operation in operations(schema):
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        if not successes:
            problems.add(f"{method.upper()} {path}: no success response")
        for code, response in successes.items():
            # JSON as a rule; a download documents its own media type.
            has_body = any(media.get("schema") for media in response.get("content", {}).values())
            if has_body == (code in BODILESS):
                problems.add(f"{method.upper()} {path}: {code} {'with' if has_body else 'without'} a body")

    assert problems == set()


def test_every_operation_documents_its_errors_as_json(generated):
    schema, _ = generated

    problems = set()
    for path, method, operation in operations(schema):
        name = f"{method.upper()} {path}"
        responses = operation["responses"]
        expected = set()
        if operation.get("security") and {} not in operation["security"]:
            expected.add("401")
            if method != "get":
                expected.add("403")
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add("404")
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        missing = expected - set(responses)
        if missing:
            problems.add(f"{name}: no {sorted(missing)}")
        for code in expected & set(responses):
            body = resolved(schema, responses[code]["content"]["application/json"]["schema"])
            if code != "400" and (body.get("required") != ["detail"] or "detail" not in body["properties"]):
                problems.add(f"{name}: {code} is not {{'detail': ...}}")
            if code == "400" and body.get("type") != "object":
                problems.add(f"{name}: 400 is not an object of field errors")

    assert problems == set()


def test_every_operation_documents_the_errors_any_request_can_get(generated):
    """400 (too many fields, a bad Host...), 406 (Accept refusing JSON), 413 and 415 for a body,
    429 (throttled wrong passwords) where a login is needed."""
    schema, _ = generated

    problems = set()
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        expected = {"400"}
        if "requestBody" in operation:
            expected |= {"413", "415"}
        if operation.get("security") and {} not in operation["security"]:
            expected.add("429")
        successes = [r for c, r in responses.items() if c.startswith("2")]
        if all(set(r.get("content", {})) <= {"application/json"} for r in successes):
            expected.add("406")
        for code in sorted(expected - set(responses)):
            problems.add(f"{method.upper()} {path}: no {code}")
        for code in expected & set(responses) - {"400"}:
            body = resolved(schema, responses[code]["content"]["application/json"]["schema"])
            if body.get("required") != ["detail"]:
                problems.add(f"{method.upper()} {path}: {code} is not {{'detail': ...}}")

    assert problems == set()


def test_request_bodies_are_json_but_uploads(generated):
    """Form and multipart bodies cannot carry the API's nested objects: only uploads take them."""
    schema, _ = generated

    media = {
        f"{method.upper()} {path}": set(operation["requestBody"]["content"])
        for path, method, operation in operations(schema)
        if "requestBody" in operation
    }
    uploads = {name for name, types in media.items() if types == {"multipart/form-data"}}
    raw = {name for name, types in media.items() if types == RAW_UPLOADS.get(name)}

    assert {name for name, types in media.items() if types != {"application/json"}} == uploads | raw
    assert uploads == {
        "POST /api/v1/connectors/{connector_id}/content/",
        "POST /api/v1/connectors/{connector_id}/devices/import/",
        "POST /api:1/service/{connector_id}/device2/identities",
    }


def test_the_invitation_route_is_public_and_the_rest_need_a_login(generated):
    schema, _ = generated

    public = {f"{m.upper()} {p}" for p, m, op in operations(schema) if {} in op.get("security", [{}])}

    assert public == {"POST /api/v1/invitations/accept/"}


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

    assert {"next", "previous", "results"} <= set(page["properties"])
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
    assert set(schema["paths"]) == {openapi_path(route) for route in api_routes()}


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
