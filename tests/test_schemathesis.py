"""The management API against its own OpenAPI schema, with Schemathesis.

A real HTTP server (pytest-django's ``live_server``) serves the app; Schemathesis reads the live
schema at ``/api/schema/`` and sends generated requests, valid and invalid, to every operation
as a business admin whose business has a connector (with a settable resource) and a device
(tests/api_world.py).
Every answer must: not be a server error, use a status code the schema documents for the
operation, have the documented content type, and match the documented body.

Each example names either generated path parameters (mostly objects that do not exist: the 404
paths, odd identities and ids) or the real objects (so bodies and query parameters reach the
code behind the lookups). Examples per operation are bounded so the whole run stays short.

The cases come from Schemathesis' strategies driven by Hypothesis directly: its lazy pytest
loader (``schemathesis.pytest.from_fixture``) does not work with pytest 9.2 (it sets the
removed ``Node._nodeid``), and the live server exists only once tests run.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_world import World
from tests.conftest import basic_auth
from tests.routes import api_routes, openapi_path

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15


@pytest.fixture
def world(transactional_db):
    return World()


_schemas: dict[str, schemathesis.BaseSchema] = {}


@pytest.fixture
def live_schema(live_server, world):
    """The schema as the running server serves it, read once per server. Read while a test's
    database is set up (``world``): the server's request handling touches the connection, which
    pytest-django allows only inside tests that use the database."""
    if live_server.url not in _schemas:
        _schemas[live_server.url] = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    return _schemas[live_server.url]


# One test per operation, named like "GET /api/v1/connectors/"; the operations are read from the
# live schema inside the test (test_openapi_schema.py holds the schema to the URL resolver).
OPERATIONS = sorted(
    (method.upper(), openapi_path(route)) for route, methods in api_routes().items() for method in methods
)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_get_documented_answers(method, path, live_schema, world, live_server):
    operation = live_schema[path][method]
    headers = {"Authorization": basic_auth(world.users["admin"])["HTTP_AUTHORIZATION"]}
    # Valid requests, and invalid ones where the operation takes any input.
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.body or operation.query or operation.path_parameters:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies), on_real_objects=st.booleans())
    def check(case, on_real_objects):
        if on_real_objects and case.path_parameters:
            case.path_parameters = world.path_values(path)
        case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS)

    check()
