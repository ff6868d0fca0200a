"""Claiming is turned on in the connector's Settings tab, as through the API: the portal's
sub-domain (a DNS label, not taken), the managed applications, and what turning it on does."""

import json

import pytest

from connectors.models import Resource
from tests.factories import make_connector
from tests.web.conftest import page_text
from tests.web.test_connector_pages import BASE_SETTINGS

pytestmark = pytest.mark.django_db

APPS = [{"id": "ext_1", "name": "Energy", "description": "", "url": "https://energy.example", "logo": ""}]


def test_claiming_is_turned_on_in_the_settings_tab(web, owner, connector):
    body = {**BASE_SETTINGS, "devmode": "on", "claiming_enabled": "on", "portal_subdomain": "Acme-Thermo",
            "managed_apps": json.dumps(APPS)}  # fmt: skip
    client = web(owner)

    response = client.post(f"/connectors/{connector.pk}/settings/", body)

    assert response.status_code == 302, page_text(response)[:2000]
    connector.refresh_from_db()
    assert (connector.claiming_enabled, connector.portal_subdomain, connector.managed_apps) == (
        True, "acme-thermo", APPS,
    )  # fmt: skip
    assert set(Resource.objects.filter(connector=connector).values_list("alias", flat=True)) >= {
        "pdaas_claim_code", "pdaas_user_email", "pdaas_reset",
    }  # fmt: skip
    page = page_text(client.get(f"/connectors/{connector.pk}/settings/"))
    assert "<legend>Claiming</legend>" in page and 'value="acme-thermo"' in page
    assert f'href="/connectors/{connector.pk}/end-users/"' in page  # the End Users tab


@pytest.mark.parametrize(
    "subdomain, message",
    [("-acme", "must be one DNS label"), ("taken", "this portal sub-domain is taken")],
)
def test_a_portal_sub_domain_that_cannot_be_had_is_explained_next_to_it(web, owner, connector, business,
                                                                        subdomain, message):  # fmt: skip
    make_connector(business=business, name="Other", claiming_enabled=True, portal_subdomain="taken")
    body = {**BASE_SETTINGS, "devmode": "on", "claiming_enabled": "on", "portal_subdomain": subdomain}

    response = web(owner).post(f"/connectors/{connector.pk}/settings/", body)

    assert response.status_code == 400
    html = page_text(response)
    error_start = html.index('id="id_portal_subdomain_error"')
    assert message in html[error_start : error_start + 400]
    connector.refresh_from_db()
    assert not connector.claiming_enabled


def test_managed_applications_that_are_not_a_list_are_refused(web, owner, connector):
    body = {**BASE_SETTINGS, "devmode": "on", "managed_apps": '{"id": "ext_1"}'}

    response = web(owner).post(f"/connectors/{connector.pk}/settings/", body)

    assert response.status_code == 400
    assert "must be a list" in page_text(response)
