"""The Django admin as the staff back office: every model of ours is in it, every list and
every page opens in a bounded number of queries without showing a secret, lists don't run a
query per row, searches are the fast kind, and the actions go through the services."""

import io
import json
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.hashers import identify_hasher
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.test import APIClient

from accounts.models import API_TOKEN_PREFIX, User
from accounts.services import api_token_create, invitation_create
from claiming.models import EndUser, LinkPurpose, key_hash
from claiming.services import end_user_create, link_create, session_start
from connectors.content.services import content_upload
from connectors.models import Connector, ContentItem
from connectors.runtime import resource_rules
from connectors.services import connector_ca_generate, connector_update
from core.crypto import decrypt_secret
from devices.models import Device
from devices.rollups import rollup_run
from devices.services import device_delete, device_write
from firmware.services import otau_report_received, rollout_start
from integrations.models import Integration
from integrations.services import integration_put
from jobs.models import JobKind
from jobs.services import job_create
from portal.models import FirmwareNotice
from portal.services import asset_put, branding_set
from tests.api_world import png_image
from tests.factories import PASSWORD, make_connector, make_device, make_member, make_resource
from tests.integrations.pump_cloud import pump_cloud_spec


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


def test_the_change_page_locks_through_the_service_and_edits_nothing_else(staff_client, fleet):
    device = fleet[1][0]
    url = reverse("admin:devices_device_change", args=[device.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="locked"' in page
    assert 'name="certificate"' not in page and 'name="activation_deadline"' not in page
    assert staff_client.get(reverse("admin:devices_device_add")).status_code == 403

    form = {
        "locked": "on", "certificate": "not a certificate", "activation_deadline_0": "2020-01-01",
        "tags-TOTAL_FORMS": "0", "tags-INITIAL_FORMS": "0",
        "states-TOTAL_FORMS": "0", "states-INITIAL_FORMS": "0",
    }  # fmt: skip
    response = staff_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Device.objects.get(pk=device.pk)
    assert (stored.locked, stored.status) == (True, "locked")
    assert (stored.certificate, stored.activation_deadline) == (
        device.certificate,
        device.activation_deadline,
    )


def test_people_who_are_not_staff_are_sent_to_log_in(db, client):
    member = make_member(business_name="Acme", role="admin").user
    client.force_login(member)
    response = client.get(reverse("admin:devices_device_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# -- every model, every page -------------------------------------------------------------------


def _local_models():
    """The models of the project's own apps (not Django's nor installed packages')."""
    local = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if not path.is_relative_to(settings.BASE_DIR) or "site-packages" in path.parts:
            continue
        local += [m for m in config.get_models() if not m._meta.abstract and not m._meta.swapped]
    return local


def test_every_model_of_our_apps_is_in_the_admin():
    local = _local_models()
    # The walk finds our apps (so an empty list cannot pass for "all registered").
    assert {"accounts", "connectors", "devices", "jobs", "firmware"} <= {m._meta.app_label for m in local}
    missing = sorted(m._meta.label for m in local if m not in admin.site._registry)
    assert missing == []


REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def every_model(db, media_root, settings):
    """A few rows of every model in the admin, made the way the product makes them, and the
    secrets among them (hashes, keys, a CA private key) that no admin page may show."""
    acme = make_member(business_name="Acme", role="admin", email="pm@example.com")
    for name in ("Globex", "Initech"):
        make_member(business_name=name, role="developer")
    business = acme.business
    secrets = [User.objects.get(email="pm@example.com").password]
    for name in ("ci", "fixture", "laptop"):
        token, key = api_token_create(user=acme.user, name=name)
        secrets += [key, token.key_hash]
    for invitee in ("new@example.com", "newer@example.com", "newest@example.com"):
        invitation, key = invitation_create(business=business, email=invitee, role="viewer")
        secrets += [key, invitation.key_hash]

    connector = make_connector(
        business=business, devmode=True, hostnames=["gw1.example.com", "gw2.example.com"]
    )
    make_connector(business=business, name="Meter", hostnames=["meter.example.com"])
    make_connector(business=business, name="Valve")
    connector = connector_ca_generate(connector=connector)
    private_key = connector.pki_ca_private_key_encrypted
    secrets += [private_key, decrypt_secret(private_key)]
    make_resource(connector=connector, alias="temp", format="number")
    # Firmware updates add the config_otau and otau_in resources.
    connector_update(connector=connector, changes={"firmware_update_enabled": True})
    connector.refresh_from_db()

    password_device = make_device(
        connector=connector, identity="dev-pw", auth_type="password", key="a-long-device-password-42"
    )
    secrets.append(password_device.password_hash)
    devices = []
    for i in range(3):
        tags = [{"name": "model", "value": "t1"}, {"name": "site", "value": f"s{i}"}]
        device = make_device(connector=connector, identity=f"dev-{i}", key=f"{i + 1:040x}", tags=tags)
        devices.append(device)
        secrets.append(device.token_hash)
    rules = resource_rules(connector.pk, connector.updated_at)
    # Deleted devices whose points the background purge has not removed yet (it runs once the
    # transaction commits, which a test's does not); the admin lists only live devices' points.
    for i in range(3):
        gone = make_device(connector=connector, identity=f"gone-{i}")
        device_write(device=gone, values={"temp": "1"}, rules=rules)
        device_delete(device=gone)
    for device in devices:
        device_write(device=device, values={"temp": "21.5"}, rules=rules)
        device_write(device=device, values={"temp": "22"}, rules=rules)
    for _ in range(3):  # roll-up runs (from the second on, the points are in roll-ups)
        rollup_run()

    for content_id in ("fw-2.0.0.bin", "config.json", "logo.png"):
        content_upload(connector=connector, content_id=content_id, stream=io.BytesIO(b"x" * 100))
    for _ in range(3):
        job_create(kind=JobKind.DEVICE_IMPORT, business=business, connector=connector, created_by=acme.user)
    config = {"version": "2.0.0", "name": "Release 2.0.0", "type": "FILE", "payload": "fw-2.0.0.bin"}
    report = json.dumps({"version": "2.0.0", "status": "DOWNLOAD", "message": "fetching"})
    for device in devices:
        rollout_start(connector=connector, config_otau=config, devices=[device.identity])
        otau_report_received(device=device, value=report)

    # End users of a claiming connector, with their sessions and one-time links.
    connector_update(connector=connector, changes={"claiming_enabled": True})
    for n in range(3):
        email = f"owner{n}@example.com"
        end_user = end_user_create(connector=connector, email=email, password="an-end-user-passphrase-7",
                                   verified=True)  # fmt: skip
        secrets.append(EndUser.objects.get(pk=end_user.pk).password_hash)
        key = session_start(connector=connector, email=email, password="an-end-user-passphrase-7")
        link = link_create(user=end_user, purpose=LinkPurpose.PASSWORD_RESET)
        secrets += [key, key_hash(key), link, key_hash(link)]
    # The portal: branded connectors, their images, firmware notices to owners.
    for n, branded in enumerate([connector, make_connector(business=connector.business),
                                 make_connector(business=connector.business)]):  # fmt: skip
        branding_set(connector=branded, document={"title": f"Acme devices {n}"})
    for name in ("brandlogo.png", "device.png", "favicon.ico"):
        asset_put(connector=connector, name=name, data=png_image())
    for owner in EndUser.objects.filter(connector=connector):
        FirmwareNotice.objects.create(user=owner, package_id="package_fw", version="2.0.0")

    # Integrations with another cloud's API, each with its password encrypted (saving one calls
    # nothing; its host is an address, so that no name is looked up).
    settings.INTEGRATIONS_ALLOW_PRIVATE_HOSTS = True
    for n, integrated in enumerate(
        [connector, *Connector.objects.filter(business=business).exclude(pk=connector.pk)[:2]]
    ):
        password = f"pump-Secret-{n}-of-the-admin-test"
        integration_put(connector=integrated, user=acme.user, data={
            "spec": pump_cloud_spec("127.0.0.1:9"),
            "config": {"username": f"pump-user-{n}", "password": password},
            "sync": {"list_operation": "listAssets", "state_operation": "getAssetState"},
            "maintainer_email": f"ops{n}@example.com",
        })  # fmt: skip
        secrets += [password, Integration.objects.get(connector=integrated).secrets]
    Group.objects.create(name="Support")
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    CrontabSchedule.objects.create(minute="5")
    SolarSchedule.objects.create(event="sunrise", latitude=52.5, longitude=13.4)
    ClockedSchedule.objects.create(clocked_time="2030-01-01T00:00:00Z")
    PeriodicTask.objects.create(name="tick", task="firmware.tasks.rollouts_tick", interval=every_minute)
    for model in REGISTERED:
        assert model._default_manager.exists(), f"no {model._meta.label} to show"
    # Whole values, and for password hashes the parts Django's own widget would partly show.
    parts = [part for secret in secrets if secret for part in secret.split("$") if len(part) >= 16]
    return [s for s in secrets if s] + parts


@pytest.fixture
def superuser_client(db):
    client = Client()
    client.force_login(User.objects.create_superuser(email="root@example.com", password=PASSWORD))
    return client


def _assert_no_secret(html: str, secrets: list[str]) -> None:
    for secret in secrets:
        if secret.startswith("-----"):  # a PEM key would be shown line by line
            pieces = [line for line in secret.splitlines() if not line.startswith("-----")]
        elif secret.startswith(API_TOKEN_PREFIX):  # its first 12 characters are its label
            pieces = [secret[12:]]
        else:
            pieces = [secret, secret[:16]]
        for piece in pieces:
            assert piece not in html


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_list_opens_in_few_queries_without_secrets(
    superuser_client, every_model, django_assert_max_num_queries, model
):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with django_assert_max_num_queries(10):
        response = superuser_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 1
    _assert_no_secret(response.content.decode(), every_model)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_change_page_opens_in_few_queries_without_secrets(
    superuser_client, every_model, django_assert_max_num_queries, model
):
    rows = model._default_manager.order_by("pk")
    for obj in {rows.first(), rows.last()}:  # devices: one with a token, one with a password
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        with django_assert_max_num_queries(20):
            response = superuser_client.get(url)
        assert response.status_code == 200
        _assert_no_secret(response.content.decode(), every_model)


@pytest.mark.parametrize("model", _local_models(), ids=lambda model: model._meta.label)
def test_lists_of_our_models_run_as_many_queries_for_many_rows_as_for_one(
    superuser_client, every_model, model
):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    pks = [str(pk) for pk in model._default_manager.values_list("pk", flat=True)[:5]]
    assert len(pks) >= 3

    def queries(shown: list[str]) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = superuser_client.get(url, {f"{model._meta.pk.name}__in": ",".join(shown)})
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == len(shown)
        return len(captured.captured_queries)

    queries(pks)  # warm caches (content types, the session)
    assert queries(pks) == queries(pks[:1])


def test_a_users_page_says_a_password_is_set_and_shows_nothing_of_its_hash(superuser_client, every_model):
    user = User.objects.get(email="pm@example.com")
    page = superuser_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "A password is set." in page
    # Not even the masked summary Django's own widget shows (algorithm, first characters).
    for value in identify_hasher(user.password).safe_summary(user.password).values():
        assert str(value) not in page


# -- content store -----------------------------------------------------------------------------


def test_content_items_are_listed_with_their_type_size_and_checksum(superuser_client, every_model):
    item = ContentItem.objects.get(content_id="config.json")
    response = superuser_client.get(reverse("admin:connectors_contentitem_changelist"), {"q": "conf"})
    assert [i.content_id for i in response.context["cl"].result_list] == ["config.json"]
    page = response.content.decode()
    assert "application/json" in page
    assert item.sha256 in page
    assert item.connector.name in page


def test_a_content_items_description_and_type_change_by_the_content_rules(superuser_client, every_model):
    item = ContentItem.objects.get(content_id="logo.png")
    url = reverse("admin:connectors_contentitem_change", args=[item.pk])
    page = superuser_client.get(url).content.decode()
    for system_field in ("content_id", "size", "sha256", "storage_name", "connector"):
        assert f'name="{system_field}"' not in page

    refused = superuser_client.post(url, {"content_type": "not a type", "description": "line\nbreak"})
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert set(errors) == {"content_type", "description"}

    response = superuser_client.post(url, {"content_type": "image/png", "description": "Our logo"})
    assert response.status_code == 302
    changed = ContentItem.objects.get(pk=item.pk)
    assert (changed.content_type, changed.description) == ("image/png", "Our logo")
    assert changed.updated_at > item.updated_at
    assert (changed.size, changed.sha256, changed.storage_name) == (item.size, item.sha256, item.storage_name)


def test_deleting_content_items_in_the_admin_removes_their_files(
    superuser_client, every_model, media_root, django_capture_on_commit_callbacks
):
    items = list(ContentItem.objects.filter(content_id__in=["config.json", "logo.png"]))
    kept = ContentItem.objects.get(content_id="fw-2.0.0.bin")
    stored = {item.content_id: media_root / item.storage_name for item in [*items, kept]}
    assert all(path.exists() for path in stored.values())

    url = reverse("admin:connectors_contentitem_changelist")
    chosen = {"action": "delete_selected", "_selected_action": [str(item.pk) for item in items]}
    confirm = superuser_client.post(url, chosen)
    assert confirm.status_code == 200  # Django's "are you sure?" page
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(url, {**chosen, "post": "yes"})
    assert response.status_code == 302
    assert list(ContentItem.objects.values_list("content_id", flat=True)) == ["fw-2.0.0.bin"]
    assert not stored["config.json"].exists() and not stored["logo.png"].exists()
    assert stored["fw-2.0.0.bin"].exists()

    delete_one = reverse("admin:connectors_contentitem_delete", args=[kept.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert superuser_client.post(delete_one, {"post": "yes"}).status_code == 302
    assert not ContentItem.objects.exists()
    assert not stored["fw-2.0.0.bin"].exists()


def test_content_items_are_uploaded_elsewhere_not_added_here(superuser_client, every_model):
    assert superuser_client.get(reverse("admin:connectors_contentitem_add")).status_code == 403


# -- tags written in the admin ------------------------------------------------------------------


def _change_form_data(page) -> dict:
    """What a browser would post back from an admin change page: the main form's and every
    inline's current values (read-only fields are not in the forms)."""
    data = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): value for name, value in management.initial.items()})
        forms += inline.formset.forms
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value not in (None, False):
                data[form.add_prefix(name)] = value
    return data


def _devices_tagged(owner, connector, tag: str, identity_prefix: str) -> list[str]:
    """The device list's answer, which finds a tag's devices by identity on the tag's rows."""
    api = APIClient()
    api.force_authenticate(owner)
    query = {"tag": tag, "identity": identity_prefix}
    response = api.get(f"/api/v1/connectors/{connector.pk}/devices/", query)
    assert response.status_code == 200
    return [device["identity"] for device in response.json()["results"]]


def test_a_tag_added_on_a_devices_admin_page_finds_the_device(staff_client, fleet):
    connector, devices = fleet
    owner = connector.business.memberships.get().user
    device = devices[3]
    url = reverse("admin:devices_device_change", args=[device.pk])
    data = _change_form_data(staff_client.get(url))
    new = data["tags-TOTAL_FORMS"]
    data.update({"tags-TOTAL_FORMS": new + 1, f"tags-{new}-name": "site", f"tags-{new}-value": "lab"})
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    assert _devices_tagged(owner, connector, "site:lab", "dev-00") == ["dev-003"]


def test_a_tag_added_in_the_tag_list_belongs_to_its_devices_connector(staff_client, fleet):
    connector, devices = fleet
    owner = connector.business.memberships.get().user
    response = staff_client.post(
        reverse("admin:devices_devicetag_add"), {"device": devices[5].pk, "name": "site", "value": "plant"}
    )
    assert response.status_code == 302, response.context["errors"]
    assert _devices_tagged(owner, connector, "site:plant", "dev-00") == ["dev-005"]


FLEET_SIZED = ["devices.device", "devices.devicetag", "devices.devicestate", "devices.valuepoint",
               "firmware.deviceupdate", "firmware.otaureport", "connectors.contentitem"]  # fmt: skip


@pytest.mark.parametrize("label", FLEET_SIZED)
def test_a_searched_big_list_counts_only_what_it_found(superuser_client, every_model, label):
    app_label, model_name = label.split(".")
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    with CaptureQueriesContext(connection) as captured:
        response = superuser_client.get(url, {"q": "dev-1"})
    assert response.status_code == 200
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    # The page's own count of the matches, not another of the whole table ("n of N").
    assert len(counts) == 1 and "WHERE" in counts[0].upper()


@pytest.mark.parametrize("model", ["devicetag", "devicestate", "valuepoint"])
def test_device_rows_are_searched_by_identity_prefix_not_substring(superuser_client, every_model, model):
    url = reverse(f"admin:devices_{model}_changelist")
    found = superuser_client.get(url, {"q": "dev-1"}).context["cl"].result_list
    assert found and {row.device.identity for row in found} == {"dev-1"}
    assert list(superuser_client.get(url, {"q": "ev-1"}).context["cl"].result_list) == []
