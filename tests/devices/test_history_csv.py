"""``GET …/devices/<identity>/history.csv``: a device's recorded points streamed as CSV
(shared/docs/management-api.md: ``timestamp,alias,value``)."""

import csv
import io

import pytest

from devices.models import ValuePoint
from tests.factories import make_device, make_resource


@pytest.fixture
def device(connector):
    make_resource(connector=connector, alias="temp", format="number")
    make_resource(connector=connector, alias="note", format="string")
    device = make_device(connector=connector, identity="sensor-1")
    ValuePoint.objects.bulk_create(
        [
            ValuePoint(device=device, alias="temp", timestamp=3_000_000, value="-2.5"),
            ValuePoint(device=device, alias="temp", timestamp=1_000_000, value="20"),
            ValuePoint(device=device, alias="note", timestamp=2_000_000, value='=HYPERLINK("x")'),
            ValuePoint(device=device, alias="note", timestamp=4_000_000, value='a, "quoted"\nline'),
        ]
    )
    return device


def download(owner_api, connector, query: str = "", **headers):
    return owner_api.get(f"/api/v1/connectors/{connector.pk}/devices/sensor-1/history.csv{query}", **headers)


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_points_stream_oldest_first_as_timestamp_alias_value(owner_api, connector, device):
    response = download(owner_api, connector)
    assert response.status_code == 200
    assert response.streaming  # not built in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"{connector.pk}-sensor-1-history.csv" in response["Content-Disposition"]
    assert rows(response) == [
        ["timestamp", "alias", "value"],
        ["1000000", "temp", "20"],
        # Text a spreadsheet would run as a formula gets a leading quote; numbers stay numbers.
        ["2000000", "note", '\'=HYPERLINK("x")'],
        ["3000000", "temp", "-2.5"],
        ["4000000", "note", 'a, "quoted"\nline'],
    ]


def test_alias_and_range_filter_the_points(owner_api, connector, device):
    response = download(owner_api, connector, "?alias=temp&since=2000000&until=3000000")
    assert rows(response) == [["timestamp", "alias", "value"], ["3000000", "temp", "-2.5"]]


def test_a_client_asking_for_csv_gets_it(owner_api, connector, device):
    response = download(owner_api, connector, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert len(rows(response)) == 5


@pytest.mark.parametrize("query", ["?since=soon", "?until=-1", "?alias=a%00b"])
def test_bad_parameters_are_a_400(owner_api, connector, device, query):
    response = download(owner_api, connector, query)
    assert response.status_code == 400


def test_other_businesses_see_no_such_device(api, outsider, connector, device):
    response = api(outsider).get(f"/api/v1/connectors/{connector.pk}/devices/sensor-1/history.csv")
    assert response.status_code == 404
