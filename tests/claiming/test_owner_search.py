"""The Devices tab finds an end user's devices by their e-mail in the ``users`` tag column (the
seed: "select the tag column users, then type the user email in the search bar")."""

import re

import pytest

from claiming.services import claim

pytestmark = pytest.mark.django_db


def _identities(response) -> list[str]:
    return sorted(set(re.findall(r'href="/connectors/[^/]+/devices/([^/"]+)/"', response.content.decode())))


def test_the_users_column_finds_an_owners_devices_by_e_mail_or_by_id(
    web, owner, claiming_connector, alice, bob, coded_devices
):
    coded_devices("ALICE-1", 2)
    coded_devices("BOB-1", 1)
    alices = claim(user=alice, claim_code="ALICE-1")
    claim(user=bob, claim_code="BOB-1")
    page = f"/connectors/{claiming_connector.pk}/devices/"

    by_email = web(owner).get(page, {"tag": "users", "q": "Alice@Example.com"})
    by_id = web(owner).get(page, {"tag": "users", "q": str(alice.pk)})
    nobody = web(owner).get(page, {"tag": "users", "q": "carol@example.com"})

    assert by_email.status_code == by_id.status_code == nobody.status_code == 200
    assert _identities(by_email) == _identities(by_id) == sorted(alices)
    assert _identities(nobody) == []
