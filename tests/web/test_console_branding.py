"""Issue #17, the console's own branding: the admin under the product's name and icon, with
model names people read without wincing, and only the scheduler tables staff need."""

import pytest
from django.test import Client

from accounts.models import User


@pytest.fixture
def staff(db):
    client = Client()
    client.force_login(User.objects.create_superuser(email="root@example.com", password="a-long-password-1"))
    return client


def test_the_admin_index_is_the_products_back_office_with_readable_names(staff):
    page = staff.get("/admin/").content.decode()

    assert "<title>Back office | IoT Connector back office</title>" in page
    assert ">IoT Connector back office</a>" in page
    assert "Django administration" not in page
    for name in ("API tokens", "Firmware reports", "One-time links", "Images", "Branding", "Periodic tasks",
                 "Roll-up runs", "Value roll-ups"):  # fmt: skip
        assert f">{name}</a>" in page, name
    for gone in ("Api tokens", "Otau reports", "Brandings", "Intervals", "Crontabs", "Solar events",
                 "Rollup runs", "Value rollups"):  # fmt: skip
        assert f">{gone}</a>" not in page, gone


def test_the_console_and_the_admin_carry_the_favicon(staff):
    for url in ("/connectors/", "/admin/"):
        page = staff.get(url).content.decode()
        assert 'rel="icon" href="/static/img/favicon.svg" type="image/svg+xml"' in page, url
