"""The management API against its own OpenAPI schema, with Schemathesis.

A real HTTP server (pytest-django's ``live_server``) serves the app; Schemathesis reads the live
schema at ``/api/schema/`` and sends requests to every operation as a business admin whose
business has a connector (with a settable resource) and a device (tests/api_world.py): the
boundary cases of Schemathesis' coverage phase (a bounded sample of them) and cases drawn at
random, each valid or invalid by the schema (``GenerationMode``: positive and negative).

Every answer must: not be a server error, use a status code the schema documents for the
operation, have the documented content type and body, accept what the schema says is valid
(``positive_data_acceptance``) and refuse what it says is not (``negative_data_rejection``).

Each case names either generated path parameters (mostly objects that do not exist: the 404
paths, odd identities and ids) or the real objects, so that bodies and query parameters reach
the code behind the lookups; a case whose path parameters are what it gets wrong keeps them.

What a schema cannot say. Some values are valid only with what exists or with other fields,
and the API refuses them with 400 naming the field: ``CONTEXTUAL`` lists those fields per
operation, and a valid-by-the-schema request refused for them alone passes. Some text has a
syntax the schema names with a ``format`` of our own (an IP address or network, a tag filter,
a page cursor): ``FORMATS`` generates valid values for them. A ``Range`` past the end of a
content item is answered 416, as HTTP says. A multipart form carries text only, so a value of
another JSON type there is no fault on the wire.

The cases come from Schemathesis' strategies and coverage generator, driven directly: its lazy
pytest loader (``schemathesis.pytest.from_fixture``) does not work with pytest 9.2 (it sets
the removed ``Node._nodeid``), and the live server exists only once tests run.
"""

import ipaddress
import json
import random

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_world import World
from tests.conftest import basic_auth
from tests.integrations.pump_cloud import PumpCloud
from tests.routes import api_routes, openapi_path

# Cases per operation: drawn at random, and sampled from the coverage phase's boundary cases.
EXAMPLES = 15
COVERAGE_CASES = 25
# Both: valid requests, and requests the schema says are invalid.
MODES = list(GenerationMode)

# Body fields whose valid values depend on what exists or on other fields ("*": every field,
# the body's keys being names the connector defines). A request valid by the schema may be
# refused with 400 for these alone.
_CONNECTOR = {
    "hostnames": "a name nobody else uses, outside the platform's own domains",
    "provisioning": "IP whitelisting on needs addresses; CIDRs",
    "pki": "PEM that parse: a CA certificate, its key; PKI on and CSR signing need them",
}
CONTEXTUAL = {
    "POST /api/v1/connectors/": {**_CONNECTOR, "business": "one of your businesses"},
    "PATCH /api/v1/connectors/{connector_id}/": _CONNECTOR,
    "PATCH /api:1/service/{connector_id}/device2": {
        "provisioning": _CONNECTOR["provisioning"],
        "resources": "an alias without '.', '$' or spaces; a new one needs a format; values as below",
    },
    **{
        f"{method} /api/v1/connectors/{{connector_id}}/resources/{path}": {
            "allowed": "values of the resource's format (numbers and ranges like 0-100 for numbers)",
            "initial": "a value of the resource's format, among the allowed ones",
        }
        for method, path in [("POST", ""), ("PUT", "{alias}/"), ("PATCH", "{alias}/")]
    },
    **{
        operation: {"auth": "a key of its type: 40-hex token, 20-byte password, PEM with CN = identity, CSR"}
        for operation in [
            "POST /api/v1/connectors/{connector_id}/devices/",
            "PATCH /api/v1/connectors/{connector_id}/devices/{identity}/",
            "PUT /api:1/service/{connector_id}/device2/identity/{identity}",
            "PATCH /api:1/service/{connector_id}/device2/identity/{identity}",
        ]
    },
    "PATCH /api/v1/connectors/{connector_id}/devices/{identity}/state/": {"*": "the connector's aliases"},
    "GET /api/v1/connectors/{connector_id}/devices/{identity}/history/": {"alias": "every= groups one alias"},
    "PATCH /api:1/service/{connector_id}/device2/identity/{identity}/state": {"*": "the connector's aliases"},
    "POST /api/v1/connectors/{connector_id}/firmware/update/": {
        "message": "a config_otau message, its files in the content store",
        "package": "a package of the content store",
        "devices": "the connector's devices (or a filter, not both)",
        "filter": "a filter that matches devices (or devices, not both)",
    },
    "POST /api/v1/connectors/{connector_id}/content/": {"file": "a package_ id's file is its JSON metadata"},
    "POST /api/v1/connectors/{connector_id}/devices/import/": {"file": "a CSV file"},
    "POST /api:1/service/{connector_id}/device2/identities": {"identities": "a CSV file"},
    "POST /api/v1/connectors/{connector_id}/pki/generate-ca/": {"common_name": "at most 64 UTF-8 bytes"},
    "POST /api/v1/invitations/accept/": {"token": "a pending invitation's", "password": "a strong one"},
    "POST /api/v1/connectors/{connector_id}/end-users/": {"password": "a strong one"},
    "POST /api/v1/connectors/{connector_id}/end-users/{user_id}/password/": {"password": "a strong one"},
    "PUT /api/v1/connectors/{connector_id}/portal/branding/": {
        f"links.{name}": "an http(s) address (a schema pattern cannot say what a URL is)"
        for name in ("info", "terms", "contactUs", "help", "helpDevice", "helpApp")
    },
    "PUT /api/v1/connectors/{connector_id}/portal/assets/{asset_name}": {
        "file": "an image, decoded: PNG (ICO or PNG for favicon.ico)"
    },
    "PUT /api/v1/connectors/{connector_id}/integration/": {
        "spec": "a valid OpenAPI 2 document that follows the integration rules (docs/integrations.md)",
        "config": "the spec's x-exosite-config-parameters, the required ones given",
        "sync": "settings naming the spec's operations (list_operation required)",
    },
    "POST /api/v1/connectors/{connector_id}/integration/operations/{operation_id}/call/": {
        "params": "the operation's own parameters, of their types, the required ones given",
        "body": "what the operation takes, by its body parameter's schema",
    },
    "PUT /api/v1/connectors/{connector_id}/portal/email-template/": {
        "subject": "a template that renders: known <%VARIABLES%>, every <% closed",
        "html": "a template that renders, with <%LINK%>",
    },
}


def _network():
    address = st.ip_addresses()
    return address.flatmap(
        lambda ip: st.integers(0, ip.max_prefixlen).map(
            lambda n: str(ipaddress.ip_network(f"{ip}/{n}", strict=False))
        )
    )


_TAG_NAME = st.text(st.characters(exclude_characters=":\x00", codec="utf-8"), min_size=1, max_size=100)
FORMATS = {
    "ip-or-network": st.ip_addresses().map(str) | _network(),
    "tag-filter": st.builds(
        lambda name, value: name if value is None else f"{name}:{value}",
        _TAG_NAME.filter(str.strip),
        st.none() | st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=255),
    ),
    # A cursor comes from a page's links; an empty one is the first page.
    "cursor": st.just(""),
}
for _name, _strategy in FORMATS.items():
    schemathesis.openapi.format(_name, _strategy)


def _positive_data_acceptance(ctx, response, case):
    """``positive_data_acceptance``, but a 400 for ``CONTEXTUAL`` fields alone, or a 416 (a
    Range past the end), answers a request that is valid by the schema."""
    if response.status_code == 416:
        return None
    if response.status_code == 400 and _refused_for_context(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)


def _refused_for_context(case, response) -> bool:
    fields = CONTEXTUAL.get(f"{case.method.upper()} {case.operation.path}", {})
    try:
        errors = json.loads(response.content)
    except ValueError:
        return False
    return bool(fields) and isinstance(errors, dict) and ("*" in fields or set(errors) <= set(fields))


def _negative_data_rejection(ctx, response, case):
    """``negative_data_rejection``, but not for a multipart body whose only fault is a value of
    another JSON type: a form part is text, and its text is what a valid value would send."""
    if (case.media_type or "").startswith("multipart/") and _only_type_changes_in_body(case):
        return None
    return negative_data_rejection(ctx, response, case)


def _only_type_changes_in_body(case) -> bool:
    mutations = getattr(case.meta.phase.data, "mutations", ()) if case.meta else ()
    body = ParameterLocation.BODY
    return bool(mutations) and all(
        m.operator == OperatorKind.CHANGE_TYPE and m.parameter_location == body for m in mutations
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    _positive_data_acceptance,
    _negative_data_rejection,
]


@pytest.fixture(scope="module")
def pump_cloud():
    """The third party the world's integration calls: its operations answer (not a 502)."""
    with PumpCloud() as cloud:
        yield cloud


@pytest.fixture
def world(transactional_db, settings, pump_cloud):
    settings.INTEGRATIONS_CA_BUNDLE = pump_cloud.ca_path
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True  # it is on loopback
    pump_cloud.reset()
    return World(third_party=pump_cloud)


_schemas: dict[str, schemathesis.BaseSchema] = {}


@pytest.fixture
def live_schema(live_server, world):
    """The schema as the running server serves it, read once per server. Read while a test's
    database is set up (``world``): the server's request handling touches the connection, which
    pytest-django allows only inside tests that use the database."""
    if live_server.url not in _schemas:
        _schemas[live_server.url] = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    return _schemas[live_server.url]


def coverage_cases(operation) -> list:
    """A fixed sample of the coverage phase's cases: boundaries of every constraint, both modes."""
    generation = operation.schema.config.generation_for(operation=operation, phase="coverage")
    cases = list(
        CoverageGenerator(
            operation=operation,
            generation_modes=MODES,
            generation_config=generation,
            auth_storage=None,
            override=Override(),
            feedback=FeedbackSources(),
        )
    )
    random.Random(operation.label).shuffle(cases)
    return cases[:COVERAGE_CASES]


def on_real_objects(case, world, path: str) -> None:
    """The world's objects in the path, unless the path is what this case gets wrong."""
    path_mode = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if case.path_parameters and (path_mode is None or path_mode.mode.is_positive):
        case.path_parameters = world.path_values(path)


# One test per operation, named like "GET /api/v1/connectors/"; the operations are read from the
# live schema inside the test (test_openapi_schema.py holds the schema to the URL resolver).
OPERATIONS = sorted(
    (method.upper(), openapi_path(route)) for route, methods in api_routes().items() for method in methods
)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_get_documented_answers(method, path, live_schema, world, live_server):
    operation = live_schema[path][method]
    headers = {"Authorization": basic_auth(world.users["admin"])["HTTP_AUTHORIZATION"]}

    def call(case):
        case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS)

    failures = []
    for case in coverage_cases(operation):
        on_real_objects(case, world, path)
        try:
            call(case)
        except AssertionError as failure:  # every boundary case is reported, not only the first
            failures.append(str(failure))
    assert not failures, "\n\n".join(failures)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of([operation.as_strategy(mode) for mode in MODES]), real=st.booleans())
    def fuzz(case, real):
        if real:
            on_real_objects(case, world, path)
        call(case)

    fuzz()
