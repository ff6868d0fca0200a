"""The Django admin as the staff back office: every list opens, lists don't run a query per
row, searches are the fast kind, and the device actions change what people see."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import User
from devices.models import Device
from tests.factories import make_connector, make_device, make_member, make_resource


@pytest.fixture
def staff_client(db):
    user = User.objects.create_superuser(email="staff@example.com", password="staff-password-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def fleet(db):
    business = make_member(business_name="Acme", role="admin").business
    connector = make_connector(business=business, devmode=True)
    make_resource(connector=connector, alias="temp", format="number")
    devices = [make_device(connector=connector, identity=f"dev-{i:03d}", tags=[{"name": "g", "value": "1"}])
               for i in range(30)]  # fmt: skip
    return connector, devices


def test_every_registered_model_list_opens(staff_client, fleet):
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = staff_client.get(url)
        assert response.status_code == 200, url


@pytest.mark.parametrize("model", ["device", "devicetag", "devicestate", "valuepoint"])
def test_device_lists_run_a_fixed_number_of_queries(
    staff_client, fleet, django_assert_max_num_queries, model
):
    url = reverse(f"admin:devices_{model}_changelist")
    with django_assert_max_num_queries(12):
        assert staff_client.get(url).status_code == 200


def test_device_search_is_by_identity_prefix(staff_client, fleet):
    url = reverse("admin:devices_device_changelist")
    found = staff_client.get(url, {"q": "dev-01"}).context["cl"].result_list
    assert sorted(d.identity for d in found) == [f"dev-{i:03d}" for i in range(10, 20)]
    assert list(staff_client.get(url, {"q": "01"}).context["cl"].result_list) == []


def test_lock_and_revoke_actions_go_through_the_services(staff_client, fleet):
    connector, devices = fleet
    url = reverse("admin:devices_device_changelist")
    chosen = [str(d.pk) for d in devices[:2]]
    response = staff_client.post(url, {"action": "lock", "_selected_action": chosen}, follow=True)
    assert response.status_code == 200
    assert sorted(Device.objects.filter(locked=True).values_list("identity", flat=True)) == [
        "dev-000",
        "dev-001",
    ]
    assert {d.status for d in Device.objects.filter(pk__in=chosen)} == {"locked"}
    staff_client.post(url, {"action": "unlock", "_selected_action": chosen})
    staff_client.post(url, {"action": "revoke", "_selected_action": chosen})
    assert {d.status for d in Device.objects.filter(pk__in=chosen)} == {"reprovision"}


def test_a_devices_identity_is_read_only_once_it_exists(staff_client, fleet):
    device = fleet[1][0]
    page = staff_client.get(reverse("admin:devices_device_change", args=[device.pk]))
    assert page.status_code == 200
    assert 'name="identity"' not in page.content.decode()


def test_people_who_are_not_staff_are_sent_to_log_in(db, client):
    member = make_member(business_name="Acme", role="admin").user
    client.force_login(member)
    response = client.get(reverse("admin:devices_device_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
