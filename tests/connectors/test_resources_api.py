"""Management API: ``/api/v1/connectors/<id>/resources/`` (CRUD by alias)."""

import pytest

from connectors.models import Resource
from tests.factories import make_resource


def resources(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/resources/"


def resource(connector, alias: str) -> str:
    return f"{resources(connector)}{alias}/"


# --- create and read -------------------------------------------------------------------------


def test_alias_and_format_are_enough_to_define_a_resource(api, owner, connector):
    response = api(owner).post(resources(connector), {"alias": "temp", "format": "number"}, format="json")

    assert response.status_code == 201
    assert response.json() == {
        "alias": "temp",
        "format": "number",
        "unit": "",
        "allowed": [],
        "settable": False,
        "initial": None,
        "sync": True,
    }


def test_every_field_of_a_resource_round_trips(api, owner, connector):
    definition = {
        "alias": "setpoint",
        "format": "integer",
        "unit": "°C",
        "allowed": ["5-30", "100"],
        "settable": True,
        "initial": "20",
        "sync": False,
    }
    client = api(owner)

    created = client.post(resources(connector), definition, format="json")

    assert created.status_code == 201
    assert created.json() == definition
    assert client.get(resource(connector, "setpoint")).json() == definition


def test_list_is_ordered_by_alias(api, owner, connector):
    for alias in ("zeta", "alpha", "mid"):
        make_resource(connector=connector, alias=alias)

    response = api(owner).get(resources(connector))

    assert response.status_code == 200
    assert [r["alias"] for r in response.json()] == ["alpha", "mid", "zeta"]


def test_resources_of_another_connector_are_not_listed(api, owner, business, connector):
    from tests.factories import make_connector

    other = make_connector(business=business, name="Other")
    make_resource(connector=other, alias="elsewhere")
    make_resource(connector=connector, alias="here")

    assert [r["alias"] for r in api(owner).get(resources(connector)).json()] == ["here"]
    assert api(owner).get(resource(connector, "elsewhere")).status_code == 404


@pytest.mark.parametrize("value, text", [(21, "21"), (True, "true"), (2.5, "2.5"), ("7", "7")])
def test_initial_value_may_be_sent_as_json_and_is_kept_as_text(api, owner, connector, value, text):
    fmt = {bool: "boolean", int: "integer", float: "float", str: "string"}[type(value)]

    response = api(owner).post(
        resources(connector), {"alias": "v", "format": fmt, "initial": value}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["initial"] == text


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["a.b", "a$b", "$", ".", "two words", "tab\there", "", "x" * 101])
def test_bad_aliases_are_refused(api, owner, connector, alias):
    response = api(owner).post(resources(connector), {"alias": alias, "format": "string"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["alias"]
    assert not Resource.objects.exists()


@pytest.mark.parametrize("alias", ["temp", "temp_1", "Temp-2", "ünïcode", "a:b", "a@b", "a/b"])
def test_aliases_without_dot_or_dollar_are_accepted_and_addressable(api, owner, connector, alias):
    client = api(owner)

    created = client.post(resources(connector), {"alias": alias, "format": "string"}, format="json")
    read = client.get(resource(connector, alias))
    deleted = client.delete(resource(connector, alias))

    assert created.status_code == 201
    assert read.status_code == 200
    assert read.json()["alias"] == alias
    assert deleted.status_code == 204


def test_an_alias_is_defined_once_per_connector(api, owner, connector):
    client = api(owner)
    client.post(resources(connector), {"alias": "temp", "format": "number"}, format="json")

    response = client.post(resources(connector), {"alias": "temp", "format": "string"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"alias": ["a resource with this alias already exists"]}
    assert Resource.objects.get().format == "number"


def test_the_same_alias_may_exist_in_two_connectors(api, owner, business, connector):
    from tests.factories import make_connector

    other = make_connector(business=business, name="Other")
    client = api(owner)

    first = client.post(resources(connector), {"alias": "temp", "format": "number"}, format="json")
    second = client.post(resources(other), {"alias": "temp", "format": "number"}, format="json")

    assert first.status_code == second.status_code == 201


@pytest.mark.parametrize("fmt", ["number", "integer", "float", "string", "boolean"])
def test_every_documented_format_is_accepted(api, owner, connector, fmt):
    response = api(owner).post(resources(connector), {"alias": "v", "format": fmt}, format="json")

    assert response.status_code == 201
    assert response.json()["format"] == fmt


@pytest.mark.parametrize("fmt", ["json", "Number", "", None, 1])
def test_unknown_formats_are_refused(api, owner, connector, fmt):
    response = api(owner).post(resources(connector), {"alias": "v", "format": fmt}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["format"]


def test_format_is_required_on_create(api, owner, connector):
    response = api(owner).post(resources(connector), {"alias": "v"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["format"]


@pytest.mark.parametrize(
    "fmt, allowed",
    [
        ("integer", ["0-100"]),
        ("integer", [1, 2, "3", "10-20"]),
        ("number", ["-5.5-5.5", 42]),
        ("float", ["0.5", "1-2"]),
        ("string", ["low", "medium", "high"]),
        ("boolean", ["true", "false"]),
        ("string", []),
    ],
)
def test_allowed_values_and_ranges_are_accepted(api, owner, connector, fmt, allowed):
    response = api(owner).post(
        resources(connector), {"alias": "v", "format": fmt, "allowed": allowed}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["allowed"] == allowed


@pytest.mark.parametrize(
    "fmt, allowed",
    [
        ("integer", ["100-0"]),
        ("integer", ["ten"]),
        ("integer", ["1.5"]),
        ("number", ["0-"]),
        ("boolean", ["yes"]),
        ("string", [True]),
        ("string", [None]),
        ("string", [{"a": 1}]),
        ("integer", "0-100"),
        ("integer", {"min": 0}),
        ("integer", None),
        ("string", ["nul\x00"]),
    ],
)
def test_bad_allowed_lists_are_refused(api, owner, connector, fmt, allowed):
    response = api(owner).post(
        resources(connector), {"alias": "v", "format": fmt, "allowed": allowed}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["allowed"]
    assert not Resource.objects.exists()


@pytest.mark.parametrize(
    "fmt, allowed, initial",
    [
        ("integer", [], "abc"),
        ("integer", [], "1.5"),
        ("integer", ["0-10"], "50"),
        ("number", [], "1e"),
        ("boolean", [], "maybe"),
        ("string", ["on", "off"], "auto"),
        ("string", [], "x" * 65_537),
    ],
)
def test_initial_must_fit_the_format_and_allowed_values(api, owner, connector, fmt, allowed, initial):
    response = api(owner).post(
        resources(connector),
        {"alias": "v", "format": fmt, "allowed": allowed, "initial": initial},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["initial"]
    assert not Resource.objects.exists()


def test_initial_of_exactly_64_kib_is_accepted(api, owner, connector):
    response = api(owner).post(
        resources(connector), {"alias": "blob", "format": "string", "initial": "x" * 65_536}, format="json"
    )

    assert response.status_code == 201


# --- change and delete -----------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(api, owner, connector):
    make_resource(connector=connector, alias="temp", format="integer", unit="°C", allowed=["0-50"])

    response = api(owner).patch(resource(connector, "temp"), {"settable": True}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "alias": "temp",
        "format": "integer",
        "unit": "°C",
        "allowed": ["0-50"],
        "settable": True,
        "initial": None,
        "sync": True,
    }


def test_put_changes_the_fields_sent_like_patch(api, owner, connector):
    make_resource(connector=connector, alias="temp", format="integer", unit="°C")

    response = api(owner).put(resource(connector, "temp"), {"format": "float"}, format="json")

    assert response.status_code == 200
    assert (response.json()["format"], response.json()["unit"]) == ("float", "°C")


def test_an_alias_cannot_be_renamed(api, owner, connector):
    make_resource(connector=connector, alias="temp")

    response = api(owner).patch(resource(connector, "temp"), {"alias": "renamed"}, format="json")

    assert response.status_code == 200
    assert response.json()["alias"] == "temp"
    assert list(Resource.objects.values_list("alias", flat=True)) == ["temp"]


def test_a_change_that_breaks_the_initial_value_is_refused_and_changes_nothing(api, owner, connector):
    make_resource(connector=connector, alias="mode", format="string", initial="auto")

    response = api(owner).patch(resource(connector, "mode"), {"format": "integer"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["initial"]
    assert api(owner).get(resource(connector, "mode")).json()["format"] == "string"


def test_allowed_values_can_be_changed_and_cleared(api, owner, connector):
    make_resource(connector=connector, alias="level", format="integer", allowed=["1-3"])
    client = api(owner)

    widened = client.patch(resource(connector, "level"), {"allowed": ["1-5", "9"]}, format="json")
    cleared = client.patch(resource(connector, "level"), {"allowed": []}, format="json")

    assert widened.json()["allowed"] == ["1-5", "9"]
    assert cleared.json()["allowed"] == []


def test_initial_can_be_removed_with_null(api, owner, connector):
    make_resource(connector=connector, alias="mode", format="string", initial="auto")

    response = api(owner).patch(resource(connector, "mode"), {"initial": None}, format="json")

    assert response.status_code == 200
    assert response.json()["initial"] is None


def test_delete_removes_the_alias(api, owner, connector):
    make_resource(connector=connector, alias="temp")
    client = api(owner)

    response = client.delete(resource(connector, "temp"))

    assert response.status_code == 204
    assert client.get(resource(connector, "temp")).status_code == 404
    assert client.get(resources(connector)).json() == []


def test_unknown_alias_is_a_json_404(api, owner, connector):
    for method in ("get", "patch", "put", "delete"):
        response = getattr(api(owner), method)(resource(connector, "nope"), {}, format="json")
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


# --- the device API follows resource changes at once -----------------------------------------

TOKEN = "c0ffee" + "0" * 34


@pytest.fixture
def device_token(api, owner, connector):
    response = api(owner).post(
        f"/api/v1/connectors/{connector.pk}/devices/",
        {"identity": "dev1", "auth": {"key": TOKEN}},
        format="json",
    )
    assert response.status_code == 201
    return {"X-Exosite-CIK": TOKEN}


def test_devices_write_by_the_current_resource_definitions(
    api, owner, connector, device_client, device_token
):
    client = api(owner)

    undefined = device_client.post("/onep:v1/stack/alias", content="temp=hot", headers=device_token)
    client.post(
        resources(connector), {"alias": "temp", "format": "integer", "allowed": ["0-40"]}, format="json"
    )
    wrong_type = device_client.post("/onep:v1/stack/alias", content="temp=hot", headers=device_token)
    out_of_range = device_client.post("/onep:v1/stack/alias", content="temp=41", headers=device_token)
    fits = device_client.post("/onep:v1/stack/alias", content="temp=21", headers=device_token)
    client.patch(resource(connector, "temp"), {"allowed": ["50-60"]}, format="json")
    narrowed = device_client.post("/onep:v1/stack/alias", content="temp=21", headers=device_token)

    assert undefined.status_code == 204
    assert wrong_type.status_code == 400 and "temp" in wrong_type.text
    assert out_of_range.status_code == 400
    assert fits.status_code == 204
    assert narrowed.status_code == 400
    assert device_client.get("/onep:v1/stack/alias?temp", headers=device_token).text == "temp=21"


def test_a_new_initial_value_is_what_devices_read_first(api, owner, connector, device_client, device_token):
    api(owner).post(
        resources(connector),
        {"alias": "mode", "format": "string", "settable": True, "initial": "eco"},
        format="json",
    )

    response = device_client.get("/onep:v1/stack/alias?mode", headers=device_token)

    assert response.status_code == 200
    assert response.text == "mode=eco"


# --- access control --------------------------------------------------------------------------


@pytest.fixture
def as_role(request, api):
    def make(role):
        return api() if role == "anonymous" else api(request.getfixturevalue(role))

    return make


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 200), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_read_resources(as_role, connector, role, expected):
    make_resource(connector=connector, alias="temp")
    client = as_role(role)

    for path in (resources(connector), resource(connector, "temp")):
        response = client.get(path)
        assert response.status_code == expected
        if expected != 200:
            assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 201), ("developer", 201), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_define_a_resource(as_role, connector, role, expected):
    response = as_role(role).post(resources(connector), {"alias": "temp", "format": "string"}, format="json")

    assert response.status_code == expected
    assert Resource.objects.filter(alias="temp").exists() == (expected == 201)


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 200), ("developer", 200), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_change_a_resource(as_role, connector, role, expected):
    make_resource(connector=connector, alias="temp")

    patched = as_role(role).patch(resource(connector, "temp"), {"unit": "K"}, format="json")
    put = as_role(role).put(resource(connector, "temp"), {"unit": "K"}, format="json")

    assert patched.status_code == put.status_code == expected
    assert (Resource.objects.get().unit == "K") == (expected == 200)


@pytest.mark.parametrize(
    "role, expected",
    [("owner", 204), ("developer", 204), ("viewer", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_who_may_delete_a_resource(as_role, connector, role, expected):
    make_resource(connector=connector, alias="temp")

    response = as_role(role).delete(resource(connector, "temp"))

    assert response.status_code == expected
    assert Resource.objects.exists() == (expected != 204)


def test_outsider_cannot_tell_a_resource_exists(api, outsider, connector):
    make_resource(connector=connector, alias="temp")

    existing = api(outsider).get(resource(connector, "temp"))
    missing = api(outsider).get(resource(connector, "nope"))

    assert existing.status_code == missing.status_code == 404
    assert existing.json() == missing.json()


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "x",
        None,
        {"alias": None, "format": "string"},
        {"alias": ["a"], "format": "string"},
        {"alias": "v", "format": "string", "settable": "perhaps"},
        {"alias": "v", "format": "string", "unit": "u" * 33},
        {"alias": "v", "format": "integer", "allowed": [[1]]},
        {"alias": "v", "format": "string", "initial": {"a": 1}},
    ],
)
def test_garbage_in_a_resource_is_a_400_not_a_500(api, owner, connector, payload):
    response = api(owner).post(resources(connector), payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)
