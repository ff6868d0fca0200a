"""The device list, ``GET /api/v1/connectors/<id>/devices/``: every filter, the orderings and
their cursors (devices never seen included), the count on the first page, bad input, access."""

import base64
import io
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection

from devices import filters
from devices.imports import device_import
from devices.models import Device, DeviceTag
from devices.services import device_update
from tests.factories import make_connector, make_device

TOKEN = "0123456789abcdef0123456789abcdef01234567"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def url(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/devices/"


def now_us() -> int:
    return time.time_ns() // 1000


@pytest.fixture
def client(api, owner):
    return api(owner)


@pytest.fixture
def listed(client, connector):
    """``listed(**query)`` → the identities of the first page, asserting a 200."""

    def get(**query) -> list[str]:
        response = client.get(url(connector), query)
        assert response.status_code == 200, response.content
        return [d["identity"] for d in response.json()["results"]]

    return get


def walk(client, first_url: str) -> tuple[list[str], int]:
    """Follow ``next`` links from ``first_url``: every identity in order, and the page count."""
    seen, next_url, pages = [], first_url, 0
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.content
        seen += [d["identity"] for d in response.json()["results"]]
        next_url, pages = response.json()["next"], pages + 1
    return seen, pages


def seen_at(identity: str, when: datetime | None, ip: str | None = None) -> None:
    # What the device API records on each authenticated request, at chosen times (test setup).
    Device.objects.filter(identity=identity).update(last_seen=when, last_ip=ip)


# --- filters ---------------------------------------------------------------------------------


def test_without_filters_every_device_of_the_connector_is_listed_by_identity(listed, business, connector):
    for identity in ("b", "a", "c"):
        make_device(connector=connector, identity=identity)
    make_device(connector=make_connector(business=business, name="Other"), identity="a-elsewhere")

    assert listed() == ["a", "b", "c"]


def test_identity_is_a_case_sensitive_prefix(listed, connector):
    for identity in ("th-001", "th-002", "TH-003", "tx-1", "th"):
        make_device(connector=connector, identity=identity)

    assert listed(identity="th-") == ["th-001", "th-002"]
    assert listed(identity="th") == ["th", "th-001", "th-002"]
    assert listed(identity="TH") == ["TH-003"]
    assert listed(identity="zz") == []


def test_identity_prefix_and_q_take_like_wildcards_literally(listed, connector):
    for identity in ("ab", "a.b", "a~b"):
        make_device(connector=connector, identity=identity)

    assert listed(identity="a%") == []
    assert listed(identity="a_") == []
    assert listed(identity="a\\") == []
    assert listed(q="%") == []
    assert listed(q="_") == []
    assert listed(identity="a.") == ["a.b"]
    assert listed(q="~") == ["a~b"]


def test_text_outside_the_identity_alphabet_finds_nothing_and_is_no_error(listed, connector):
    make_device(connector=connector, identity="cafe-1")

    for text in ("café", "caf\U0010ffff", "\U0010ffff", "💡", "a b", "'; DROP TABLE x; --"):
        assert listed(identity=text) == []
        assert listed(q=text) == []


def test_q_finds_a_substring_in_any_case(listed, connector):
    for identity in ("abc-123", "xx-ABC", "zzz", "ab:c"):
        make_device(connector=connector, identity=identity)

    assert listed(q="abc") == ["abc-123", "xx-ABC"]
    assert listed(q="C-1") == ["abc-123"]
    assert listed(q="b:c") == ["ab:c"]


@pytest.fixture
def one_of_each_status(client, connector, device_client):
    """A device in each status, made the way people and devices make them."""
    make_device(connector=connector, identity="s-whitelisted")
    make_device(connector=connector, identity="s-provisioned", key=TOKEN)
    make_device(connector=connector, identity="s-expired", expire_us=now_us() - 1)
    make_device(connector=connector, identity="s-locked", locked=True)
    make_device(connector=connector, identity="s-reprovision", key="f" * 40)
    client.patch(url(connector) + "s-reprovision/", {"auth": {"expire": 0}}, format="json")
    make_device(connector=connector, identity="s-devmode")
    # Activating over the connector's plain HTTP (devmode) makes a devmode device.
    assert device_client.post("/provision/activate", content="id=s-devmode").status_code == 200
    Device.objects.filter(identity="s-provisioned").update(devmode=False)


@pytest.mark.parametrize(
    "status", ["whitelisted", "provisioned", "expired", "locked", "reprovision", "devmode"]
)
def test_status_filters_on_the_displayed_status(client, connector, listed, one_of_each_status, status):
    assert listed(status=status) == [f"s-{status}"]
    shown = client.get(url(connector), {"status": status}).json()["results"]
    assert [d["status"] for d in shown] == [status]


def test_a_locked_device_is_locked_whatever_else_it_is(listed, connector):
    make_device(connector=connector, identity="locked-provisioned", key=TOKEN, locked=True)
    make_device(connector=connector, identity="locked-expired", expire_us=now_us() - 1, locked=True)

    assert listed(status="locked") == ["locked-expired", "locked-provisioned"]
    assert listed(status="provisioned") == []
    assert listed(status="expired") == []


@pytest.fixture
def tagged(connector, business):
    make_device(connector=connector, identity="d1", tags=[{"name": "site", "value": "lab"},
                                                         {"name": "model", "value": "T1"}])  # fmt: skip
    make_device(connector=connector, identity="d2", tags=[{"name": "site", "value": "lab"},
                                                         {"name": "model", "value": "T2"}])  # fmt: skip
    make_device(connector=connector, identity="d3", tags=[{"name": "site", "value": "plant"},
                                                         {"name": "region", "value": "eu:west"}])  # fmt: skip
    make_device(connector=connector, identity="d4", tags=[{"name": "note", "value": ""}])
    make_device(connector=connector, identity="d5")
    other = make_connector(business=business, name="Other")
    make_device(connector=other, identity="d1-elsewhere", tags=[{"name": "site", "value": "lab"}])


def test_tag_name_alone_matches_any_value(listed, tagged):
    assert listed(tag="site") == ["d1", "d2", "d3"]
    assert listed(tag="note") == ["d4"]
    assert listed(tag="nothing") == []


def test_tag_name_and_value_match_exactly(listed, tagged):
    assert listed(tag="site:lab") == ["d1", "d2"]
    assert listed(tag="site:LAB") == []
    assert listed(tag="site:la") == []


def test_a_tag_value_may_hold_colons(listed, tagged):
    assert listed(tag="region:eu:west") == ["d3"]
    assert listed(tag="region:eu") == []


def test_an_empty_value_after_the_colon_matches_blank_values_only(listed, tagged):
    assert listed(tag="note:") == ["d4"]
    assert listed(tag="site:") == []


def test_repeated_tags_must_all_match(client, connector, tagged):
    def identities(*tags):
        response = client.get(url(connector), {"tag": list(tags)})
        assert response.status_code == 200
        return [d["identity"] for d in response.json()["results"]]

    assert identities("site:lab", "model:T2") == ["d2"]
    assert identities("site:lab", "model") == ["d1", "d2"]
    assert identities("site:lab", "region") == []
    assert identities("site:lab", "site:lab") == ["d1", "d2"]
    assert identities("site:lab", "site:plant") == []


def test_listed_devices_carry_their_tags(client, connector, tagged):
    results = client.get(url(connector), {"tag": "model:T1"}).json()["results"]

    assert results[0]["tags"] == [{"name": "model", "value": "T1"}, {"name": "site", "value": "lab"}]


@pytest.fixture
def addressed(connector):
    addresses = {
        "v4-a": "10.1.2.3", "v4-b": "10.1.2.200", "v4-c": "10.1.9.1", "v4-d": "10.200.0.1",
        "v4-e": "192.168.1.5", "v6-a": "2001:db8::1", "v6-b": "2001:db8:ffff::2", "v6-c": "2001:db9::1",
        "unseen": None,
    }  # fmt: skip
    for identity, ip in addresses.items():
        make_device(connector=connector, identity=identity)
        seen_at(identity, T0 if ip else None, ip)


def test_ip_matches_the_last_address_exactly(listed, addressed):
    assert listed(ip="10.1.2.3") == ["v4-a"]
    assert listed(ip="10.1.2.30") == []
    assert listed(ip="2001:db8::1") == ["v6-a"]
    assert listed(ip="2001:0DB8:0:0::1") == ["v6-a"]


@pytest.mark.parametrize(
    "network, expected",
    [
        ("10.0.0.0/8", ["v4-a", "v4-b", "v4-c", "v4-d"]),
        ("10.1.2.0/24", ["v4-a", "v4-b"]),
        ("10.1.0.0/20", ["v4-a", "v4-b", "v4-c"]),
        ("10.1.2.128/25", ["v4-b"]),
        ("10.1.2.3/32", ["v4-a"]),
        ("10.1.2.7/16", ["v4-a", "v4-b", "v4-c"]),  # host bits are ignored
        ("0.0.0.0/0", ["v4-a", "v4-b", "v4-c", "v4-d", "v4-e"]),
        ("2001:db8::/32", ["v6-a", "v6-b"]),
        ("2001:db8::/48", ["v6-a"]),
        ("172.16.0.0/12", []),
    ],
)
def test_ip_matches_a_network(listed, addressed, network, expected):
    assert listed(ip=network) == expected


def test_filters_combine(listed, connector):
    make_device(connector=connector, identity="th-1", tags=[{"name": "site", "value": "lab"}])
    make_device(connector=connector, identity="th-2", tags=[{"name": "site", "value": "lab"}], locked=True)
    make_device(connector=connector, identity="tx-3", tags=[{"name": "site", "value": "lab"}])
    seen_at("th-1", T0, "10.0.0.1")
    seen_at("th-2", T0, "10.0.0.2")

    assert listed(identity="th", tag="site:lab", status="whitelisted", ip="10.0.0.0/8", q="H-") == ["th-1"]


# --- orderings and cursors -------------------------------------------------------------------


@pytest.fixture
def timeline(connector):
    """Devices created one minute apart; seen at various times, two at the same instant, two
    never. Returns the identities in creation order."""
    seen = {"e": T0 + timedelta(hours=3), "a": T0 + timedelta(hours=1), "d": T0 + timedelta(hours=2),
            "b": T0 + timedelta(hours=2), "c": None, "f": None, "g": T0}  # fmt: skip
    order = list(seen)
    for n, identity in enumerate(order):
        make_device(connector=connector, identity=identity)
        Device.objects.filter(identity=identity).update(created_at=T0 + timedelta(minutes=n))
        seen_at(identity, seen[identity])
    return order


EXPECTED_ORDERS = {
    "identity": ["a", "b", "c", "d", "e", "f", "g"],
    "-identity": ["g", "f", "e", "d", "c", "b", "a"],
    "created_at": ["e", "a", "d", "b", "c", "f", "g"],
    "-created_at": ["g", "f", "c", "b", "d", "a", "e"],
    # Never seen is older than anything seen; ties (d and b) break by creation.
    "-last_seen": ["e", "b", "d", "a", "g", "f", "c"],
    "last_seen": ["c", "f", "g", "a", "d", "b", "e"],
}


@pytest.mark.parametrize("ordering", list(EXPECTED_ORDERS))
def test_each_ordering_on_one_page(listed, timeline, ordering):
    assert listed(ordering=ordering) == EXPECTED_ORDERS[ordering]


@pytest.mark.parametrize("ordering", list(EXPECTED_ORDERS))
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_each_ordering_across_pages(client, connector, timeline, ordering, limit):
    seen, pages = walk(client, f"{url(connector)}?ordering={ordering}&limit={limit}")

    assert seen == EXPECTED_ORDERS[ordering]
    assert pages == -(-len(seen) // limit)


@pytest.mark.parametrize("ordering", list(EXPECTED_ORDERS))
def test_previous_links_walk_back_through_the_same_pages(client, connector, timeline, ordering):
    forward, next_url = [], f"{url(connector)}?ordering={ordering}&limit=2"
    while next_url:
        page = client.get(next_url).json()
        forward.append([d["identity"] for d in page["results"]])
        next_url = page["next"]

    backward, previous_url = [], page["previous"]
    while previous_url:
        page = client.get(previous_url).json()
        backward.insert(0, [d["identity"] for d in page["results"]])
        previous_url = page["previous"]

    assert backward == forward[:-1]


def test_the_first_page_has_no_previous_link(client, connector, timeline):
    page = client.get(url(connector), {"limit": 2}).json()

    assert page["previous"] is None
    assert page["next"] is not None


def test_next_links_keep_the_filters(client, connector):
    for n in range(5):
        make_device(connector=connector, identity=f"th-{n}", tags=[{"name": "site", "value": "lab"}])
        make_device(connector=connector, identity=f"tx-{n}", tags=[{"name": "site", "value": "lab"}])

    seen, pages = walk(client, f"{url(connector)}?identity=th&tag=site:lab&ordering=-identity&limit=2")

    assert seen == [f"th-{n}" for n in (4, 3, 2, 1, 0)]
    assert pages == 3


def test_devices_added_while_paging_do_not_repeat_or_shift_pages(client, connector):
    for identity in ("b", "d", "f"):
        make_device(connector=connector, identity=identity)
    first = client.get(url(connector), {"limit": 2}).json()

    make_device(connector=connector, identity="a")
    make_device(connector=connector, identity="e")
    rest, _ = walk(client, first["next"])

    assert [d["identity"] for d in first["results"]] + rest == ["b", "d", "e", "f"]


def test_a_device_seen_while_paging_by_last_seen_is_not_listed_twice(client, connector, timeline):
    first = client.get(url(connector), {"ordering": "-last_seen", "limit": 3}).json()
    assert [d["identity"] for d in first["results"]] == ["e", "b", "d"]

    seen_at("c", T0 + timedelta(hours=5))  # c now belongs before the cursor
    rest, _ = walk(client, first["next"])

    assert rest == ["a", "g", "f"]


def test_the_page_size_is_limit_and_defaults_to_100(client, connector):
    Device.objects.bulk_create([Device(connector=connector, identity=f"d{n:03d}") for n in range(105)])

    assert len(client.get(url(connector)).json()["results"]) == 100
    assert len(client.get(url(connector), {"limit": 7}).json()["results"]) == 7
    assert len(client.get(url(connector), {"limit": 1000}).json()["results"]) == 105


# --- counts ----------------------------------------------------------------------------------


def test_the_first_page_counts_the_matches_and_later_pages_do_not(client, connector):
    for n in range(5):
        make_device(connector=connector, identity=f"th-{n}")
    make_device(connector=connector, identity="other")

    first = client.get(url(connector), {"identity": "th", "limit": 2}).json()
    second = client.get(first["next"]).json()

    assert (first["count"], first["count_is_estimate"]) == (5, False)
    assert (second["count"], second["count_is_estimate"]) == (None, None)


def test_an_empty_list_counts_zero(client, connector):
    page = client.get(url(connector)).json()

    assert page == {"next": None, "previous": None, "count": 0, "count_is_estimate": False, "results": []}


def test_past_the_exact_count_limit_the_count_is_an_estimate_on_postgresql(client, connector, monkeypatch):
    monkeypatch.setattr(filters.counts, "EXACT_COUNT_LIMIT", 3)
    for n in range(6):
        make_device(connector=connector, identity=f"th-{n}")

    page = client.get(url(connector), {"limit": 2}).json()

    if connection.vendor == "postgresql":
        assert page["count_is_estimate"] is True
        assert page["count"] > 3  # the planner's figure: more than the limit, never exact
    else:  # SQLite, the embedded database for small fleets, counts exactly
        assert (page["count"], page["count_is_estimate"]) == (6, False)
    assert len(page["results"]) == 2


# --- bad input -------------------------------------------------------------------------------


def cursor_of(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


BAD_QUERIES = [
    ({"status": "sleeping"}, "status"),
    ({"status": ["locked", "expired"]}, "status"),
    ({"ordering": "name"}, "ordering"),
    ({"ordering": "-id"}, "ordering"),
    ({"identity": "a\x00"}, "identity"),
    ({"identity": "x" * 129}, "identity"),
    ({"q": "a\x00b"}, "q"),
    ({"q": "x" * 129}, "q"),
    ({"tag": ""}, "tag"),
    ({"tag": ":value"}, "tag"),
    ({"tag": " :value"}, "tag"),
    ({"tag": "site\x00"}, "tag"),
    ({"tag": "n" * 101}, "tag"),
    ({"tag": "site:" + "v" * 256}, "tag"),
    ({"tag": [f"t{n}" for n in range(11)]}, "tag"),
    ({"ip": "10.0.0.300"}, "ip"),
    ({"ip": "10.0.0.0/33"}, "ip"),
    ({"ip": "not-an-address"}, "ip"),
    ({"ip": "10.0.0.1/8/8"}, "ip"),
    ({"ip": "1" * 65}, "ip"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "99999999999999999999999"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "x" * 2000}, "cursor"),
    ({"cursor": cursor_of({"o": "identity", "d": "n", "v": "a", "i": 2**70})}, "cursor"),
    ({"cursor": cursor_of({"o": "identity", "d": "n", "v": 7, "i": 1})}, "cursor"),
    ({"cursor": cursor_of({"o": "identity", "d": "n", "v": "a\x00", "i": 1})}, "cursor"),
    ({"cursor": cursor_of({"o": "identity", "d": "sideways", "v": "a", "i": 1})}, "cursor"),
    ({"cursor": cursor_of({"o": "-last_seen", "d": "n", "v": "yesterday", "i": 1}), "ordering": "-last_seen"},
     "cursor"),
    ({"cursor": cursor_of({"o": "-last_seen", "d": "n", "v": "2026-01-01T00:00:00", "i": 1}),
      "ordering": "-last_seen"}, "cursor"),
    ({"cursor": cursor_of({"o": "created_at", "d": "n", "v": None, "i": 1}), "ordering": "created_at"},
     "cursor"),
    ({"cursor": cursor_of(["a", 1])}, "cursor"),
]  # fmt: skip


@pytest.mark.parametrize(
    "query, field", BAD_QUERIES, ids=[f"{f}-{n}" for n, (_, f) in enumerate(BAD_QUERIES)]
)
def test_a_malformed_parameter_is_a_400_naming_it(client, connector, query, field):
    make_device(connector=connector, identity="a")

    response = client.get(url(connector), query)

    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field]
    assert isinstance(body[field], list) and body[field]


def test_a_cursor_of_another_ordering_is_refused(client, connector, timeline):
    next_url = client.get(url(connector), {"ordering": "-last_seen", "limit": 2}).json()["next"]

    response = client.get(next_url.replace("ordering=-last_seen", "ordering=identity"))

    assert response.status_code == 400
    assert "ordering" in response.json()["cursor"][0]


def test_empty_parameters_are_no_filter(listed, connector):
    make_device(connector=connector, identity="a")

    assert listed(status="", identity="", q="", ip="", ordering="", limit="", cursor="") == ["a"]


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role, expected", [("owner", 200), ("developer", 200), ("viewer", 200)])
def test_members_may_list(api, request, connector, role, expected):
    make_device(connector=connector, identity="a", tags=[{"name": "site", "value": "lab"}])

    response = api(request.getfixturevalue(role)).get(url(connector), {"tag": "site:lab"})

    assert response.status_code == expected
    assert [d["identity"] for d in response.json()["results"]] == ["a"]


def test_an_outsider_gets_a_404_and_learns_nothing(api, outsider, connector):
    make_device(connector=connector, identity="a")

    response = api(outsider).get(url(connector), {"status": "sleeping"})
    unknown = api(outsider).get("/api/v1/connectors/zzzzzzzzzzzzzzzzz/devices/")

    assert response.status_code == unknown.status_code == 404
    assert response.json() == unknown.json()


def test_anonymous_requests_are_refused(api, connector):
    response = api().get(url(connector))

    assert response.status_code == 401
    assert set(response.json()) == {"detail"}


# --- the schema ------------------------------------------------------------------------------


def test_the_schema_documents_the_filters_and_the_count(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/connectors/{connector_id}/devices/"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    page_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][page_ref.rsplit("/", 1)[-1]]["properties"]

    assert {"status", "identity", "q", "tag", "ip", "ordering", "limit", "cursor"} <= set(parameters)
    assert set(parameters["ordering"]["schema"]["enum"]) == {"", *EXPECTED_ORDERS}  # "": the default
    assert parameters["tag"]["schema"]["type"] == "array"
    assert {"count", "count_is_estimate"} <= set(page)
    assert "estimate" in operation["description"]


@pytest.mark.parametrize("ordering", list(EXPECTED_ORDERS))
def test_both_ways_of_finding_a_tagged_page_give_the_same_pages(connector, timeline, ordering):
    # A narrow tag's page is found by computing every match first (PostgreSQL); a broad one by
    # walking the ordering. Whichever the estimates pick, the pages must be the same.
    for identity in ("a", "b", "d", "f", "g"):
        device_update(device=Device.objects.get(identity=identity), tags=[{"name": "site", "value": "lab"}])
    devices = filters.DeviceFilter(tags=(("site", "lab"),), ordering=ordering).queryset(connector)

    def pages(match_first: bool) -> list[list[str]]:
        result, cursor = [], None
        while True:
            page = filters.device_page(
                devices, ordering=ordering, cursor=cursor, limit=2, match_first=match_first
            )
            result.append([d.identity for d in page.devices])
            if page.next_cursor is None:
                return result
            cursor = page.next_cursor

    walked, matched = pages(False), pages(True)

    assert walked == matched
    assert sum(walked, []) == [i for i in EXPECTED_ORDERS[ordering] if i in "abdfg"]


@pytest.fixture
def fleet_of_tags(connector):
    """Thirty devices: every third on site lab, every second a T2, every fifth locked."""
    for n in range(30):
        tags = [{"name": "model", "value": "T2" if n % 2 else "T1"}]
        if n % 3 == 0:
            tags.append({"name": "site", "value": "lab"})
        make_device(connector=connector, identity=f"{'ab'[n % 2]}{n:02d}", tags=tags, locked=n % 5 == 0)
    expected = {}
    for n in range(30):
        identity = f"{'ab'[n % 2]}{n:02d}"
        expected[identity] = {"model:T2": n % 2 == 1, "site:lab": n % 3 == 0, "locked": n % 5 == 0}
    return expected


@pytest.mark.parametrize("ordering", ["identity", "-identity"])
@pytest.mark.parametrize(
    "query",
    [
        {"tag": ["model:T2"]},
        {"tag": ["site:lab", "model:T2"]},
        {"tag": ["model:T2", "site"]},
        {"tag": ["model:T2"], "status": "locked"},
        {"tag": ["site:lab"], "identity": "b"},
    ],
)
def test_pages_read_from_a_tags_index_match_the_filter_both_ways(
    client, connector, fleet_of_tags, ordering, query
):
    # Pages in identity order with a name:value tag are read from the tag's own index (the
    # tags carry their device's identity); forward and back, they must hold exactly the matches.
    def matches(identity: str) -> bool:
        facts = fleet_of_tags[identity]
        return (
            all(facts.get(tag, True) if ":" in tag else facts["site:lab"] for tag in query["tag"])
            and (query.get("status") != "locked" or facts["locked"])
            and identity.startswith(query.get("identity", ""))
        )

    expected = sorted((i for i in fleet_of_tags if matches(i)), reverse=ordering.startswith("-"))
    assert expected, "the case must match something"
    first = url(connector) + "?" + urlencode({**query, "ordering": ordering, "limit": 2}, doseq=True)
    forward, pages = walk(client, first)
    assert forward == expected
    assert pages == -(-len(expected) // 2)

    response = client.get(url(connector), {**query, "ordering": ordering, "limit": 2})
    while response.json()["next"]:
        response = client.get(response.json()["next"])
    backward = [d["identity"] for d in response.json()["results"]]
    previous_url = response.json()["previous"]
    while previous_url:
        response = client.get(previous_url)
        backward = [d["identity"] for d in response.json()["results"]] + backward
        previous_url = response.json()["previous"]
    assert backward == expected


def test_tags_carry_their_devices_identity_whoever_wrote_them(client, connector):
    # The tag index that pages are read from holds the device's identity: every writer of tags
    # must fill it (whitelisting, replacing tags, CSV import of new and of existing devices).
    make_device(connector=connector, identity="made", tags=[{"name": "site", "value": "lab"}])
    replaced = make_device(connector=connector, identity="replaced")
    device_update(device=replaced, tags=[{"name": "site", "value": "lab"}])
    csv = 'ID,Tags\nimported,"[{""name"":""site"",""value"":""lab""}]"\n'
    csv += 'replaced,"[{""name"":""model"",""value"":""T9""}]"\n'
    device_import(connector=connector, file=io.BytesIO(csv.encode()))

    tags = DeviceTag.objects.filter(connector=connector).select_related("device")
    assert {(t.device.identity, t.name) for t in tags} == {
        ("made", "site"),
        ("replaced", "site"),
        ("replaced", "model"),
        ("imported", "site"),
    }
    assert all(tag.identity == tag.device.identity for tag in tags)
    listed = client.get(url(connector), {"tag": "site:lab"}).json()["results"]
    assert [d["identity"] for d in listed] == ["imported", "made", "replaced"]


@pytest.mark.parametrize("match_first_limit", [2, 1000])
@pytest.mark.parametrize("ordering", ["identity", "-identity", "-last_seen"])
def test_substring_pages_are_the_same_found_from_every_match_or_by_walking(
    client, connector, monkeypatch, match_first_limit, ordering
):
    # On PostgreSQL a page of a 3+ character ``q`` is found from every match (the trigram
    # index) unless they are more than MATCH_FIRST_LIMIT; then by walking the ordering.
    monkeypatch.setattr(filters.pagination, "MATCH_FIRST_LIMIT", match_first_limit)
    for n in range(12):
        make_device(connector=connector, identity=f"{'xy'[n % 2]}-{'abc' if n % 3 else 'zzz'}-{n:02d}")
    expected = sorted(
        (f"{'xy'[n % 2]}-abc-{n:02d}" for n in range(12) if n % 3), reverse=ordering == "-identity"
    )

    seen, pages = walk(client, url(connector) + f"?q=ABC&limit=3&ordering={ordering}")

    assert sorted(seen, reverse=ordering == "-identity") == expected
    if ordering != "-last_seen":
        assert seen == expected
    assert pages == 3
    assert client.get(url(connector), {"q": "ABC", "limit": 3}).json()["count"] == 8


def test_deleting_a_connector_deletes_its_devices_tags_and_no_other(connector, business):
    # Tags keep a copy of their connector without a database constraint: the cascade is Django's.
    from connectors.services import connector_delete

    make_device(connector=connector, identity="gone", tags=[{"name": "site", "value": "lab"}])
    other = make_connector(business=business, name="Other")
    make_device(connector=other, identity="kept", tags=[{"name": "site", "value": "lab"}])

    connector_delete(connector=connector)

    assert list(DeviceTag.objects.values_list("identity", "connector_id")) == [("kept", other.pk)]
