"""Requests Django itself refuses to parse answer a short JSON 4xx on the API, never a 500:
too many query or form fields or files, a malformed multipart body, a body too large or that
cannot be read, a bad Host header. The web UI answers its own 400 (413) pages."""

import io
import json

import pytest
from django.test import Client

from tests.conftest import basic_auth

# One more than Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000).
MANY_FIELDS = "&".join(f"f{i}=1" for i in range(1001))
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# POST /api/v1/invitations/accept/ needs no login; the other routes do.
PUBLIC_ROUTE = "/api/v1/invitations/accept/"
DEVICE_LIST = "/api/v1/connectors/{}/devices/"


def assert_json_error(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"detail"} and body["detail"]
    return body["detail"]


@pytest.fixture
def anonymous(db):
    return Client()


@pytest.fixture
def member(db, owner):
    return Client(**basic_auth(owner))


def test_too_many_query_fields_on_a_route_that_needs_a_login(member, connector):
    response = member.get(f"{DEVICE_LIST.format(connector.pk)}?{MANY_FIELDS}")

    assert "Too many fields" in assert_json_error(response, 400)


@pytest.mark.parametrize("route", ["/api/v1/connectors/", "/api/v1/tokens/"])
def test_too_many_query_fields_on_a_route_that_does_not_read_the_query_either(member, route):
    assert "Too many fields" in assert_json_error(member.get(f"{route}?{MANY_FIELDS}"), 400)


def test_too_many_query_fields_without_credentials(anonymous):
    assert "Too many fields" in assert_json_error(anonymous.get(f"/api/v1/connectors/?{MANY_FIELDS}"), 400)
    response = anonymous.post(f"{PUBLIC_ROUTE}?{MANY_FIELDS}", {}, content_type="application/json")
    assert "Too many fields" in assert_json_error(response, 400)


def test_too_many_form_fields_on_a_route_that_needs_a_login(member):
    response = member.post("/api/v1/connectors/", MANY_FIELDS, content_type=FORM)

    assert "Too many fields" in assert_json_error(response, 400)


def test_too_many_form_fields_on_the_public_route(anonymous):
    response = anonymous.post(PUBLIC_ROUTE, MANY_FIELDS, content_type=FORM)

    assert "Too many fields" in assert_json_error(response, 400)


def test_too_many_multipart_fields(member, connector):
    data = {f"f{i}": "1" for i in range(1001)}

    response = member.post(f"/api/v1/connectors/{connector.pk}/resources/", data)  # multipart

    assert "Too many fields" in assert_json_error(response, 400)


def test_too_many_files_in_an_upload(member, connector):
    files = {f"file{i}": io.BytesIO(b"x") for i in range(101)}  # DATA_UPLOAD_MAX_NUMBER_FILES + 1
    for i, upload in enumerate(files.values()):
        upload.name = f"f{i}.bin"

    response = member.post(f"/api/v1/connectors/{connector.pk}/content/", files)

    assert "Too many files" in assert_json_error(response, 400)


def test_a_malformed_multipart_body(member):
    response = member.post(
        "/api/v1/connectors/", b"--x\r\ngarbage", content_type="multipart/form-data; boundary=\x00"
    )

    assert_json_error(response, 400)


def test_a_json_body_past_the_memory_limit_is_413(member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = member.post("/api/v1/tokens/", {"name": "x" * 2000}, content_type="application/json")

    assert "too large" in assert_json_error(response, 413)


def test_a_form_body_past_the_memory_limit_is_413(anonymous, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = anonymous.post(PUBLIC_ROUTE, "token=" + "x" * 2000, content_type=FORM)

    assert "too large" in assert_json_error(response, 413)


def test_a_json_body_within_the_limit_is_read(member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = member.post("/api/v1/tokens/", {"name": "laptop"}, content_type="application/json")

    assert response.status_code == 201
    assert response.json()["name"] == "laptop"


def test_a_host_that_is_not_allowed(member):
    response = member.get("/api/v1/connectors/", HTTP_HOST="evil.example.com")

    assert assert_json_error(response, 400) == "Invalid Host header."


def test_the_schema_route_answers_its_errors_as_json_too(anonymous):
    assert "Too many fields" in assert_json_error(anonymous.get(f"/api/schema/?{MANY_FIELDS}"), 400)


def test_a_body_the_client_stops_sending_is_a_400(member):
    class GoneAway(io.RawIOBase):
        def read(self, size=-1):
            raise OSError("connection reset by peer")

    response = member.post(
        "/api/v1/tokens/", "name=laptop", content_type=FORM,
        CONTENT_LENGTH="100", **{"wsgi.input": GoneAway()},
    )  # fmt: skip

    assert assert_json_error(response, 400) == "The request body could not be read."


# The web UI answers its own pages.


def test_the_web_ui_answers_too_many_fields_with_its_400_page(anonymous):
    response = anonymous.post("/accounts/login/", MANY_FIELDS, content_type=FORM)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_the_web_ui_answers_a_body_too_large_with_413(anonymous, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = anonymous.post("/accounts/login/", "username=" + "x" * 2000, content_type=FORM)

    assert response.status_code == 413
    assert b"Request too large" in response.content


# A NUL names nothing, and PostgreSQL refuses it even in a lookup: a 400, never a 500.


def test_a_gateway_resource_alias_with_a_nul_is_refused(member, connector):
    url = f"/api:1/service/{connector.pk}/device2"

    defined = member.patch(url, {"resources": {"a\x00b": {"format": "number"}}}, content_type=JSON)
    removed = member.patch(url, {"resources": {"a\x00b": None}}, content_type=JSON)

    assert defined.status_code == 400
    assert list(defined.json()["resources"]) == ["a\x00b"]
    assert removed.status_code == 200  # nothing of that name to remove


def test_a_jobs_connector_filter_with_a_nul_is_refused(member):
    response = member.get("/api/v1/jobs/", {"connector": "a\x00b"})

    assert response.status_code == 400
    assert list(response.json()) == ["connector"]
