"""Firmware packages: ``package_…`` content items whose JSON metadata is validated on upload,
listed with their versions; bad metadata is refused whole."""

import json

import pytest

from connectors.models import ContentItem
from tests.firmware.conftest import config_otau, package_document


def packages(owner_api, connector):
    response = owner_api.get(f"/api/v1/connectors/{connector.pk}/firmware/packages/")
    assert response.status_code == 200
    return response.json()


def test_a_package_is_listed_with_its_version(package, owner_api, connector):
    [listed] = packages(owner_api, connector)

    assert listed["id"] == "package_fw_2.0.0"
    assert listed["version"] == "2.0.0"
    assert listed["name"] == "Release 2.0.0"
    assert listed["type"] == "FILE"
    assert listed["author"] == "Acme firmware team"
    assert listed["product"] == "Thermostat T1"
    assert listed["config_otau"] == config_otau()
    item = owner_api.get(f"/api/v1/connectors/{connector.pk}/content/package_fw_2.0.0/").json()
    assert item["content_type"] == "application/json"
    assert item["package"]["config_otau"]["version"] == "2.0.0"


@pytest.mark.parametrize(
    "config",
    [
        {"type": "JSON", "payload": {"threshold": 3}},
        {
            "type": "URL_LIST",
            "payload": ["https://cdn.example.com/fw.bin", "http://mirror.example.com/fw.bin"],
        },
        {"type": "FILE", "payload": ["part-1.bin", "part-2.bin"]},
    ],
)
def test_every_otau_type_is_accepted(upload, connector, config):
    response = upload("package_x", package_document(**config), name="p.json")

    assert response.status_code == 201, response.content


BAD = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "UTF-8"),
    (b"[]", "JSON object"),
    (json.dumps({"author": "x"}).encode(), "config_otau"),
    (package_document(version=""), "version"),
    (package_document(version=1), "version"),
    (package_document(type="ZIP"), "type"),
    (json.dumps({"config_otau": {"version": "1", "name": "n", "type": "FILE"}}).encode(), "payload"),
    (package_document(type="URL_LIST", payload=["ftp://example.com/fw"]), "http"),
    (package_document(type="URL_LIST", payload=[]), "URL"),
    (package_document(type="FILE", payload="../etc/passwd"), "content ids"),
    (package_document(name="line\nbreak"), "control"),
    (package_document(type="JSON", payload="x" * 70_000), "64"),
]


@pytest.mark.parametrize("document, message", BAD)
def test_bad_package_metadata_is_refused_and_nothing_is_stored(
    upload, connector, stored_files, document, message
):
    response = upload("package_bad", document, name="p.json")

    assert response.status_code == 400
    assert message in " ".join(response.json()["file"])
    assert not ContentItem.objects.exists()
    assert stored_files() == []


def test_a_bad_replacement_keeps_the_package_it_would_replace(package, upload, owner_api, connector):
    assert upload("package_fw_2.0.0", b"{broken", name="p.json").status_code == 400

    assert packages(owner_api, connector)[0]["version"] == "2.0.0"


def test_a_package_over_a_megabyte_is_413(upload, stored_files):
    document = package_document(type="JSON", payload={"padding": "x" * 60_000})
    padded = document[:-1] + b" " * 1_100_000 + b"}"

    response = upload("package_huge", padded, name="p.json")

    assert response.status_code == 413
    assert stored_files() == []


def test_other_items_are_not_packages(upload, owner_api, connector):
    upload("fw.bin", b"\x00\x01")
    upload("notes.json", b'{"config_otau": "no"}')

    assert packages(owner_api, connector) == []


def test_packages_are_listed_newest_first(upload, owner_api, connector):
    upload("package_a", package_document(version="1.0.0"), name="p.json")
    upload("package_b", package_document(version="1.1.0"), name="p.json")

    assert [p["version"] for p in packages(owner_api, connector)] == ["1.1.0", "1.0.0"]
