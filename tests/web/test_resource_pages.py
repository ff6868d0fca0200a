"""The Resources tab: define, edit and delete aliases, with the services' validation messages."""

import pytest

from connectors.models import Resource
from tests.factories import make_resource
from tests.web.conftest import page_text

pytestmark = pytest.mark.django_db


def test_the_list_shows_every_resource_definition(web, owner, connector):
    make_resource(connector=connector, alias="temp", format="float", unit="°C", allowed=["-40-85"])
    make_resource(connector=connector, alias="mode", format="string", settable=True, allowed=["eco", "boost"],
                  initial="eco", sync=False)  # fmt: skip
    html = page_text(web(owner).get(f"/connectors/{connector.pk}/resources/"))
    assert "temp" in html and "°C" in html and "-40-85" in html
    assert "eco, boost" in html and ">off<" in html
    assert f'href="/connectors/{connector.pk}/resources/mode/edit/"' in html


def test_an_empty_list_invites_to_define_the_first_resource(web, owner, viewer, connector):
    assert "Define the first one" in page_text(web(owner).get(f"/connectors/{connector.pk}/resources/"))
    assert "Define the first one" not in page_text(web(viewer).get(f"/connectors/{connector.pk}/resources/"))


def test_creating_a_resource(web, owner, connector):
    client = web(owner)
    response = client.post(
        f"/connectors/{connector.pk}/resources/new/",
        {"alias": "level", "format": "integer", "unit": "%", "allowed": "0-100\n255", "settable": "on",
         "initial": "50", "sync": "on"},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == f"/connectors/{connector.pk}/resources/"
    resource = Resource.objects.get(connector=connector, alias="level")
    assert (resource.format, resource.unit, resource.allowed) == ("integer", "%", ["0-100", 255])
    assert resource.settable and resource.sync and resource.initial == "50"
    assert "Resource “level” created." in page_text(client.get(response["Location"]))


def test_an_empty_initial_value_means_none(web, owner, connector):
    web(owner).post(f"/connectors/{connector.pk}/resources/new/", {"alias": "note", "format": "string"})
    resource = Resource.objects.get(alias="note")
    assert resource.initial is None and resource.allowed == [] and not resource.sync  # box left unchecked


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"alias": "bad.alias"}, "alias", "without &#x27;.&#x27;, &#x27;$&#x27;"),
        ({"alias": ""}, "alias", "This field is required."),
        ({"format": "colour"}, "format", "Select a valid choice"),
        ({"format": "integer", "allowed": "0-100\nlots"}, "allowed", "is neither an integer nor a range"),
        ({"format": "number", "allowed": "100-0"}, "allowed", "has its bounds the wrong way round"),
        ({"format": "integer", "allowed": "0-10", "initial": "11"}, "initial", "is not an allowed value"),
        ({"format": "boolean", "initial": "maybe"}, "initial", "is not a boolean"),
    ],
)
def test_bad_definitions_are_explained_next_to_their_field(web, owner, connector, body, field, message):
    data = {"alias": "temp", "format": "number", "unit": "°C", **body}
    response = web(owner).post(f"/connectors/{connector.pk}/resources/new/", data)
    assert response.status_code == 400
    html = page_text(response)
    start = html.index(f'id="id_{field}_error"')
    assert message in html[start : start + 300]
    assert 'value="°C"' in html  # what was typed stays
    assert not Resource.objects.exists()


def test_an_alias_can_only_be_defined_once(web, owner, connector):
    make_resource(connector=connector, alias="temp")
    response = web(owner).post(
        f"/connectors/{connector.pk}/resources/new/", {"alias": "temp", "format": "string"}
    )
    assert response.status_code == 400
    assert "a resource with this alias already exists" in page_text(response)


def test_editing_a_resource_keeps_its_alias(web, owner, connector):
    make_resource(connector=connector, alias="mode", format="string", allowed=["eco"])
    client = web(owner)
    form = page_text(client.get(f"/connectors/{connector.pk}/resources/mode/edit/"))
    assert 'name="alias"' not in form and "eco</textarea>" in form
    response = client.post(
        f"/connectors/{connector.pk}/resources/mode/edit/",
        {"format": "string", "allowed": "eco\nboost", "settable": "on", "sync": "on"},
    )
    assert response.status_code == 302
    resource = Resource.objects.get(alias="mode")
    assert resource.allowed == ["eco", "boost"] and resource.settable


def test_a_bad_edit_changes_nothing(web, owner, connector):
    make_resource(connector=connector, alias="level", format="integer", allowed=["0-10"])
    response = web(owner).post(
        f"/connectors/{connector.pk}/resources/level/edit/", {"format": "integer", "allowed": "ten"}
    )
    assert response.status_code == 400 and "is neither an integer nor a range" in page_text(response)
    assert Resource.objects.get(alias="level").allowed == ["0-10"]


def test_aliases_with_a_slash_have_their_own_pages(web, owner, connector):
    make_resource(connector=connector, alias="config/delete", format="string")
    client = web(owner)
    html = page_text(client.get(f"/connectors/{connector.pk}/resources/"))
    assert f'href="/connectors/{connector.pk}/resources/config/delete/edit/"' in html
    assert client.get(f"/connectors/{connector.pk}/resources/config/delete/edit/").status_code == 200
    response = client.post(f"/connectors/{connector.pk}/resources/config/delete/delete/")
    assert response.status_code == 302
    assert not Resource.objects.filter(alias="config/delete").exists()


def test_deleting_a_resource_asks_first(web, owner, connector):
    make_resource(connector=connector, alias="temp")
    client = web(owner)
    confirm = page_text(client.get(f"/connectors/{connector.pk}/resources/temp/delete/"))
    assert "Delete resource" in confirm and Resource.objects.filter(alias="temp").exists()
    client.post(f"/connectors/{connector.pk}/resources/temp/delete/")
    assert not Resource.objects.filter(alias="temp").exists()
