"""Bulk whitelisting from CSV: ``POST /api/v1/connectors/<id>/devices/import/``, Murano's
``POST .../device2/identities`` and ``manage.py devices import|export``.

An upload answers ``202`` with a job; the Celery task runs eagerly in tests once the request's
transaction commits, so each test reads the finished job from ``/api/v1/jobs/<id>/``, as a
script polling it would.
"""

import asyncio
import csv
import io
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from core.csv_safety import csv_cell_neutralise, csv_cell_restore
from devices import imports
from devices.imports import apply as import_apply
from devices.imports import reader as import_reader
from devices.models import Device, DeviceTag
from jobs.models import Job
from tests.factories import make_connector, make_device
from tests.pki.certs import make_leaf

# The seeds' identities.csv, as Murano's documentation gives it.
SEED_CSV = b"""ID,TLS Client Certificate,Tags
00000001,,"[{""name"": ""group"", ""value"": ""g1""},{""name"": ""claim_code"", ""value"": ""abc""}]"
00000002,,"[{""name"": ""group"", ""value"": ""g1""},{""name"": ""claim_code"", ""value"": ""abc""}]"
00000003,,"[{""name"": ""group"", ""value"": ""g2""},{""name"": ""claim_code"", ""value"": ""def""}]"
00000004,,"[{""name"": ""group"", ""value"": ""g2""},{""name"": ""claim_code"", ""value"": ""def""}]"
00000005,,"[{""name"": ""group"", ""value"": ""g3""},{""name"": ""claim_code"", ""value"": ""def""}]"
"""


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def seed_connector(business):
    """A connector whose identities are 8 decimal digits, like the seeds' devices."""
    return make_connector(business=business, name="Seeds", identity_type="base10", identity_length=8)


def import_url(connector) -> str:
    return f"/api/v1/connectors/{connector.pk}/devices/import/"


def csv_file(content: bytes, name: str = "identities.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def upload(api, owner, django_capture_on_commit_callbacks):
    """``upload(connector, content, user=owner)`` → the POST's response; the job it queued has
    run (its task is queued on commit, and Celery runs eagerly in tests)."""

    def post(connector, content: bytes, *, user=None, field: str = "file", url: str | None = None):
        client = api(user or owner)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url or import_url(connector), {field: csv_file(content)}, format="multipart")

    return post


@pytest.fixture
def job_of(api, owner):
    """``job_of(response)`` → the job as ``GET /api/v1/jobs/<id>/`` shows it now."""

    def get(response, user=None) -> dict:
        assert response.status_code == 202, response.content
        answer = api(user or owner).get(f"/api/v1/jobs/{response.json()['id']}/")
        assert answer.status_code == 200, answer.content
        return answer.json()

    return get


def tags_of(connector, identity: str) -> list[tuple[str, str]]:
    tags = DeviceTag.objects.filter(device__connector=connector, device__identity=identity)
    return sorted(tags.values_list("name", "value"))


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# --- the seeds' file --------------------------------------------------------------------------


def test_the_seeds_identities_csv_whitelists_its_five_devices_with_their_tags(
    upload, job_of, seed_connector, owner
):
    before = timezone.now()

    response = upload(seed_connector, SEED_CSV)

    assert response.status_code == 202
    assert response["Location"] == f"/api/v1/jobs/{response.json()['id']}/"
    queued = response.json()
    assert queued["kind"] == "device_import"
    assert queued["state"] == "queued"
    assert queued["connector"] == seed_connector.pk
    assert queued["file_name"] == "identities.csv"
    assert queued["created_by"] == owner.email
    job = job_of(response)
    assert job["state"] == "finished"
    assert (job["total"], job["done"], job["created"], job["updated"], job["unchanged"]) == (5, 5, 5, 0, 0)
    assert job["errors"] == [] and job["error_count"] == 0
    assert job["started_at"] and job["finished_at"]
    devices = Device.objects.filter(connector=seed_connector).order_by("identity")
    assert [d.identity for d in devices] == ["00000001", "00000002", "00000003", "00000004", "00000005"]
    assert {d.status for d in devices} == {"whitelisted"}
    window = timedelta(hours=seed_connector.activation_window_hours)
    assert all(before + window <= d.activation_deadline <= timezone.now() + window for d in devices)
    assert tags_of(seed_connector, "00000001") == [("claim_code", "abc"), ("group", "g1")]
    assert tags_of(seed_connector, "00000005") == [("claim_code", "def"), ("group", "g3")]


def test_the_devices_api_shows_imported_devices_and_their_tags(upload, api, owner, seed_connector):
    upload(seed_connector, SEED_CSV)

    response = api(owner).get(f"/api/v1/connectors/{seed_connector.pk}/devices/00000003/")

    assert response.status_code == 200
    assert sorted((t["name"], t["value"]) for t in response.json()["tags"]) == [
        ("claim_code", "def"),
        ("group", "g2"),
    ]


def test_importing_the_same_file_again_changes_nothing(upload, job_of, seed_connector):
    upload(seed_connector, SEED_CSV)
    deadlines = dict(
        Device.objects.filter(connector=seed_connector).values_list("identity", "activation_deadline")
    )

    job = job_of(upload(seed_connector, SEED_CSV))

    assert (job["state"], job["created"], job["updated"], job["unchanged"]) == ("finished", 0, 0, 5)
    assert Device.objects.filter(connector=seed_connector).count() == 5
    assert DeviceTag.objects.filter(connector=seed_connector).count() == 10
    # Existing devices keep their activation deadline: an import is not a renewal.
    assert deadlines == dict(
        Device.objects.filter(connector=seed_connector).values_list("identity", "activation_deadline")
    )


def test_a_changed_row_updates_that_devices_tags_and_leaves_other_tag_names_alone(
    upload, job_of, seed_connector
):
    upload(seed_connector, SEED_CSV)
    # An owner claimed device 3 meanwhile (claiming keeps its own tags on the device).
    device = Device.objects.get(connector=seed_connector, identity="00000003")
    DeviceTag.objects.create(device=device, connector=seed_connector, name="users", value="42")
    changed = SEED_CSV.replace(
        b'""g2""},{""name"": ""claim_code"", ""value"": ""def""}]"\n00000004',
        b'""g9""},{""name"": ""claim_code"", ""value"": ""def""}]"\n00000004',
    )
    assert changed != SEED_CSV

    job = job_of(upload(seed_connector, changed))

    assert (job["created"], job["updated"], job["unchanged"]) == (0, 1, 4)
    assert tags_of(seed_connector, "00000003") == [("claim_code", "def"), ("group", "g9"), ("users", "42")]
    assert tags_of(seed_connector, "00000004") == [("claim_code", "def"), ("group", "g2")]


def test_empty_cells_leave_an_existing_devices_tags_and_certificate_as_they_are(upload, job_of, connector):
    certificate = make_leaf("kept-1")
    make_device(connector=connector, identity="kept-1", tags=[{"name": "group", "value": "g1"}])
    upload(connector, f"ID,Certificate\nkept-1,{csv_cell(certificate.pem)}\n".encode())

    job = job_of(upload(connector, b"ID,TLS Client Certificate,Tags\nkept-1,,\n"))

    assert (job["updated"], job["unchanged"]) == (0, 1)
    device = Device.objects.get(connector=connector, identity="kept-1")
    assert device.certificate_fingerprint == certificate.fingerprint
    assert tags_of(connector, "kept-1") == [("group", "g1")]


def test_an_import_never_touches_the_credentials_or_lifecycle_of_existing_devices(upload, job_of, connector):
    token = "0123456789abcdef0123456789abcdef01234567"
    make_device(connector=connector, identity="provisioned-1", auth_type="token", key=token, locked=True)
    before = Device.objects.get(connector=connector, identity="provisioned-1")

    job = job_of(upload(connector, b'ID,Tags\nprovisioned-1,"[{""name"": ""group"", ""value"": ""g1""}]"\n'))

    assert job["updated"] == 1
    after = Device.objects.get(connector=connector, identity="provisioned-1")
    assert (after.lifecycle, after.token_hash, after.locked) == (before.lifecycle, before.token_hash, True)


# --- rows with problems -----------------------------------------------------------------------


def test_refused_rows_name_their_line_and_reason_and_the_valid_rows_are_imported(
    upload, job_of, seed_connector
):
    content = (
        b"ID,TLS Client Certificate,Tags\n"
        b'00000001,,"[{""name"": ""note"", ""value"": ""two, three""},\n'  # a quoted field over lines 2–3
        b' {""name"": ""group"", ""value"": ""g1""}]"\n'
        b"0000000X,,\n"  # line 4: not base10
        b'00000002,,"[{""name"": ""group"""\n'  # line 5: malformed JSON
        b"00000003,not a certificate,\n"  # line 6
        b"00000001,,\n"  # line 7: the ID of line 2 again
        b',,"[{""name"": ""group"", ""value"": ""g1""}]"\n'  # line 8: no ID
        b"00000004,,,extra\n"  # line 9: more fields than the header
        b'00000005,,"{""name"": ""group""}"\n'  # line 10: JSON, but not a list of tags
        b"00000006,,\n"  # line 11: fine
    )

    job = job_of(upload(seed_connector, content))

    assert job["state"] == "finished"
    assert (job["total"], job["done"], job["created"], job["error_count"]) == (9, 9, 2, 7)
    errors = {e["line"]: (e["identity"], e["reason"]) for e in job["errors"]}
    assert errors[4] == ("0000000X", "identity is not of type base10")
    assert errors[5][0] == "00000002" and errors[5][1].startswith("Tags is not valid JSON")
    assert errors[6] == ("00000003", "TLS Client Certificate is not a PEM certificate")
    assert errors[7] == ("00000001", "the ID is already on line 2")
    assert errors[8] == ("", "ID is empty")
    assert errors[9] == ("00000004", "the row has 4 fields; the header names 3")
    assert errors[10] == ("00000005", 'Tags: must be a list of {"name", "value"} objects')
    assert sorted(errors) == [4, 5, 6, 7, 8, 9, 10]
    assert set(Device.objects.filter(connector=seed_connector).values_list("identity", flat=True)) == {
        "00000001",
        "00000006",
    }
    assert tags_of(seed_connector, "00000001") == [("group", "g1"), ("note", "two, three")]


def test_a_repeated_id_is_refused_even_when_its_first_row_was_refused(upload, job_of, connector):
    content = b'ID,Tags\ndup-1,"[broken"\ndup-1,\n'

    job = job_of(upload(connector, content))

    assert [(e["line"], e["reason"][:22]) for e in job["errors"]] == [
        (2, "Tags is not valid JSON"),
        (3, "the ID is already on l"),
    ]
    assert not Device.objects.filter(connector=connector).exists()


def test_a_private_key_in_the_certificate_column_is_refused_and_not_stored(upload, job_of, connector):
    key = make_leaf("leaky-1").key_pem
    content = f"ID,Certificate\nleaky-1,{csv_cell(key)}\n".encode()

    job = job_of(upload(connector, content))

    assert job["errors"] == [
        {
            "line": 2,
            "identity": "leaky-1",
            "reason": "Certificate holds a private key; give the certificate only",
        }
    ]
    assert not Device.objects.filter(connector=connector).exists()


def test_a_job_keeps_the_first_errors_and_counts_them_all(upload, job_of, connector, monkeypatch):
    monkeypatch.setattr("jobs.services.ERRORS_KEPT", 3)
    content = b"ID\n" + b"".join(b"bad id %d\n" % n for n in range(7))

    job = job_of(upload(connector, content))

    assert (job["state"], job["error_count"], len(job["errors"])) == ("finished", 7, 3)
    assert [e["line"] for e in job["errors"]] == [2, 3, 4]


# --- certificates, BOM, quoting ---------------------------------------------------------------


def test_a_self_signed_certificate_is_stored_with_its_sha256_fingerprint(upload, job_of, connector):
    certificate = make_leaf("sensor-pem-1")
    content = f"id,certificate,tags\nsensor-pem-1,{csv_cell(certificate.pem)},\n".encode()

    job = job_of(upload(connector, content))

    assert (job["created"], job["errors"]) == (1, [])
    device = Device.objects.get(connector=connector, identity="sensor-pem-1")
    assert device.certificate == certificate.pem
    assert device.certificate_fingerprint == certificate.fingerprint
    again = job_of(upload(connector, content))
    assert (again["updated"], again["unchanged"]) == (0, 1)


def test_a_new_certificate_for_an_existing_device_replaces_the_old_one(upload, job_of, connector):
    old, new = make_leaf("sensor-pem-2"), make_leaf("sensor-pem-2")
    upload(connector, f"ID,TLS Client Certificate\nsensor-pem-2,{csv_cell(old.pem)}\n".encode())

    job = job_of(upload(connector, f"ID,TLS Client Certificate\nsensor-pem-2,{csv_cell(new.pem)}\n".encode()))

    assert (job["updated"], job["unchanged"]) == (1, 0)
    device = Device.objects.get(connector=connector, identity="sensor-pem-2")
    assert (device.certificate, device.certificate_fingerprint) == (new.pem, new.fingerprint)


def test_a_utf8_bom_and_any_casing_of_the_column_names_are_accepted(upload, job_of, seed_connector):
    content = "\ufeff" + SEED_CSV.decode().replace(
        "ID,TLS Client Certificate,Tags", " id ,tls client CERTIFICATE,TAGS"
    )

    job = job_of(upload(seed_connector, content.encode()))

    assert (job["created"], job["errors"]) == (5, [])
    assert Device.objects.filter(connector=seed_connector, identity="00000001").exists()


def test_quoted_fields_keep_their_commas_newlines_and_quotes(upload, job_of, connector):
    tags = [
        {"name": "address", "value": "1 Main St, Springfield"},
        {"name": "model", "value": 'the "big" one'},
    ]
    cell = json.dumps(tags, indent=2)  # a JSON list over several lines
    content = f"Tags,ID\r\n{csv_cell(cell)},quoted-1\r\n\r\n,\r\n,bad id\r\n".encode()
    bad_line = 2 + cell.count("\n") + 3  # the quoted row's lines, a blank line, a row of empty cells

    job = job_of(upload(connector, content))

    # Blank rows (and rows of empty cells) are skipped, but still count as lines.
    assert (job["total"], job["created"]) == (2, 1)
    assert job["errors"] == [
        {
            "line": bad_line,
            "identity": "bad id",
            "reason": "identity contains characters that are not allowed",
        }
    ]
    assert tags_of(connector, "quoted-1") == [
        ("address", "1 Main St, Springfield"),
        ("model", 'the "big" one'),
    ]


def test_a_file_with_only_the_id_column_whitelists_bare_identities(upload, job_of, connector):
    job = job_of(upload(connector, b"ID\r\nbare-1\r\nbare-2"))

    assert (job["created"], job["errors"]) == (2, [])
    assert not DeviceTag.objects.filter(connector=connector).exists()


# --- whole-file problems ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b"\xef\xbb\xbf\r\n", "The file is empty; it needs a header row"),
        (b"ID,Tags\xe9\n", "The file is not UTF-8 text (byte 0xE9 cannot be decoded)"),
        (b"00000001,,\n00000002,,\n", "The first line must be a header naming the columns ID, TLS Client"),
        (b"ID,Colour,Tags\na,,\n", "The header has an unknown column 'Colour'; the columns are ID, TLS"),
        (b"ID,,Tags\na,,\n", "The header has a column without a name"),
        (b"ID,Tags,tags\na,,\n", "The header names the column 'Tags' twice (as 'tags')."),
        (b"ID,Certificate,TLS Client Certificate\n", "The header names the column 'Certificate' twice"),
        (b"Tags,Certificate\n,\n", "The header has no ID column"),
    ],
)
def test_a_file_that_cannot_be_imported_at_all_is_refused_at_upload(upload, connector, content, message):
    response = upload(connector, content)

    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    assert response.json()["file"][0].startswith(message)
    assert not Job.objects.exists()


def test_an_upload_without_a_file_is_refused(api, owner, connector):
    response = api(owner).post(import_url(connector), {"other": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {"file": ["No file was submitted."]}


def test_a_json_body_instead_of_a_file_is_refused(api, owner, connector):
    response = api(owner).post(import_url(connector), {"file": "ID\na\n"}, format="json")

    assert response.status_code == 400
    assert "file" in response.json()


def test_a_file_over_the_size_limit_is_refused_with_413(upload, connector, settings):
    settings.DEVICE_IMPORT_MAX_BYTES = 2048

    response = upload(connector, b"ID\n" + b"sensor-0001\n" * 300)

    assert response.status_code == 413
    assert response.json() == {"detail": "The file is larger than the 2 KB a device import accepts."}
    assert not Job.objects.exists()


def test_a_body_far_over_the_size_limit_is_refused_before_it_is_read(upload, connector, settings):
    settings.DEVICE_IMPORT_MAX_BYTES = 2048

    response = upload(connector, b"ID\n" + b"sensor-0001\n" * 10_000)

    assert response.status_code == 413
    assert response.json() == {"detail": "The file is larger than the 2 KB a device import accepts."}


def test_a_file_that_is_not_utf8_further_down_fails_its_job_and_imports_nothing(upload, job_of, connector):
    # Far enough down that the upload's header check does not read it.
    content = b"ID,Tags\n" + b"".join(b"fine-%06d,\n" % n for n in range(20_000)) + b"caf\xe9-3,\n"

    job = job_of(upload(connector, content))

    assert job["state"] == "failed"
    assert job["detail"] == (
        "The file is not UTF-8 text (byte 0xE9 cannot be decoded); save it as “CSV UTF-8”. "
        "Nothing was imported."
    )
    assert job["created"] == 0
    assert not Device.objects.filter(connector=connector).exists()


def test_an_unterminated_quote_fails_the_job_with_the_line(upload, job_of, connector):
    job = job_of(upload(connector, b'ID,Tags\nfine-1,\nopen-2,"[{\n'))

    assert job["state"] == "failed"
    assert (
        job["detail"] == "Line 3: the file is not valid CSV (unexpected end of data). Nothing was imported."
    )
    assert not Device.objects.filter(connector=connector).exists()


def test_the_stored_upload_is_removed_once_the_job_is_over(upload, job_of, connector, settings):
    job = job_of(upload(connector, b"ID\ntidy-1\n"))

    assert job["state"] == "finished"
    assert Job.objects.get(pk=job["id"]).file.name == ""
    assert not any(p.is_file() for p in (settings.MEDIA_ROOT / "jobs").rglob("*"))


# --- who may import ---------------------------------------------------------------------------


def test_a_developer_may_import(upload, job_of, connector, developer):
    response = upload(connector, b"ID\ndev-1\n", user=developer)

    assert job_of(response, user=developer)["created"] == 1


def test_a_viewer_may_not_import(upload, connector, viewer):
    response = upload(connector, b"ID\nview-1\n", user=viewer)

    assert response.status_code == 403
    assert response.json() == {"detail": "Your role in this business is read-only."}
    assert not Job.objects.exists()


def test_someone_elses_connector_is_not_found_for_an_import(upload, connector, outsider):
    response = upload(connector, b"ID\nout-1\n", user=outsider)

    assert response.status_code == 404
    assert list(response.json()) == ["detail"]
    assert not Device.objects.filter(connector=connector).exists()


def test_an_anonymous_import_needs_a_login(api, connector):
    response = api().post(import_url(connector), {"file": csv_file(b"ID\na\n")}, format="multipart")

    assert response.status_code == 401


def test_a_device_named_import_is_still_reachable_at_its_own_path(api, owner, connector):
    make_device(connector=connector, identity="import")
    client = api(owner)

    assert client.get(import_url(connector)).json()["identity"] == "import"
    assert client.patch(import_url(connector), {"locked": True}, format="json").status_code == 200
    assert client.delete(import_url(connector)).status_code == 204
    assert not Device.objects.filter(connector=connector).exists()


# --- live progress ----------------------------------------------------------------------------


def test_the_job_pushes_its_progress_to_its_group_after_each_batch(
    api, owner, connector, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(import_reader, "MIN_BATCH_SIZE", 2)
    monkeypatch.setattr(import_reader, "BATCH_SIZE", 2)
    content = b"ID\n" + b"".join(b"batch-%d\n" % n for n in range(5))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api(owner).post(import_url(connector), {"file": csv_file(content)}, format="multipart")
    job_id = response.json()["id"]

    async def watch() -> list[dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(f"job.{job_id}", channel)
        await sync_to_async(lambda: [callback() for callback in queued])()
        messages = []
        while not messages or messages[-1]["state"] not in ("finished", "failed"):
            messages.append(await asyncio.wait_for(layer.receive(channel), timeout=10))
        await layer.group_discard(f"job.{job_id}", channel)
        return messages

    messages = async_to_sync(watch)()

    assert {m["type"] for m in messages} == {"job.progress"}
    assert [(m["state"], m["total"], m["done"], m["created"]) for m in messages] == [
        ("running", None, 0, 0),
        ("running", 5, 0, 0),
        ("running", 5, 2, 2),
        ("running", 5, 4, 4),
        ("running", 5, 5, 5),
        ("finished", 5, 5, 5),
    ]
    assert messages[-1]["id"] == job_id


# --- Murano Device2 ---------------------------------------------------------------------------


def identities_url(connector) -> str:
    return f"/api:1/service/{connector.pk}/device2/identities"


def test_device2_identities_whitelists_the_seeds_file_as_murano_scripts_send_it(
    upload, job_of, seed_connector
):
    response = upload(seed_connector, SEED_CSV, field="identities", url=identities_url(seed_connector))

    assert response.status_code == 202
    job = job_of(response)
    assert (job["state"], job["created"]) == ("finished", 5)
    assert tags_of(seed_connector, "00000002") == [("claim_code", "abc"), ("group", "g1")]


def test_device2_identities_names_its_own_field_in_errors(upload, connector, viewer, outsider):
    missing = upload(connector, b"ID\na\n", field="file", url=identities_url(connector))
    bad = upload(connector, b"Colour\nred\n", field="identities", url=identities_url(connector))
    as_viewer = upload(connector, b"ID\na\n", field="identities", url=identities_url(connector), user=viewer)
    as_outsider = upload(
        connector, b"ID\na\n", field="identities", url=identities_url(connector), user=outsider
    )

    assert (missing.status_code, list(missing.json())) == (400, ["identities"])
    assert (bad.status_code, list(bad.json())) == (400, ["identities"])
    assert as_viewer.status_code == 403
    assert as_outsider.status_code == 404


# --- the command line -------------------------------------------------------------------------


def run_devices(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("devices", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_cli_imports_a_file_and_prints_a_summary_with_a_progress_bar(seed_connector, tmp_path):
    path = tmp_path / "identities.csv"
    path.write_bytes(SEED_CSV)

    out, err = run_devices("import", seed_connector.pk, str(path))

    assert out.strip() == "5 rows: 5 created, 0 updated, 0 unchanged, 0 refused."
    assert "100% 5/5 rows" in err
    assert Device.objects.filter(connector=seed_connector).count() == 5


def test_the_cli_lists_refused_rows_and_exits_with_status_2(seed_connector, tmp_path):
    path = tmp_path / "identities.csv"
    path.write_bytes(b"ID,Tags\n00000001,\nnope,\n00000002,[\n")

    with pytest.raises(CommandError) as refused:
        run_devices("import", seed_connector.pk, str(path), "--quiet")

    assert refused.value.returncode == 2
    assert str(refused.value) == "2 rows were refused (listed above)."
    assert Device.objects.filter(connector=seed_connector).count() == 1


def test_the_cli_refuses_a_file_that_cannot_be_imported(seed_connector, tmp_path):
    path = tmp_path / "identities.csv"
    path.write_bytes(b"Serial\n00000001\n")

    with pytest.raises(CommandError, match="The first line must be a header") as refused:
        run_devices("import", seed_connector.pk, str(path))

    assert refused.value.returncode == 1
    with pytest.raises(CommandError, match="No connector 'nope'"):
        run_devices("import", "nope", str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        run_devices("import", seed_connector.pk, str(tmp_path / "missing.csv"))


def test_an_exported_fleet_imports_into_the_same_connector_without_changes(connector, tmp_path):
    certificate = make_leaf("round-1")
    source = tmp_path / "source.csv"
    source.write_text(
        "ID,TLS Client Certificate,Tags\n"
        f'round-1,{csv_cell(certificate.pem)},"[{{""name"": ""group"", ""value"": ""a, b""}}]"\n'
        "round-2,,\n"
        'round-3,,"[{""name"": ""claim_code"", ""value"": ""x""}, {""name"": ""group"", ""value"": ""g""}]"\n'
    )
    run_devices("import", connector.pk, str(source), "--quiet")
    exported = tmp_path / "export.csv"

    run_devices("export", connector.pk, str(exported))
    out, _ = run_devices("import", connector.pk, str(exported), "--quiet")

    assert out.strip() == "3 rows: 0 created, 0 updated, 3 unchanged, 0 refused."
    stdout, _ = run_devices("export", connector.pk)
    assert stdout == exported.read_bytes().decode()
    assert stdout.splitlines()[0] == "ID,TLS Client Certificate,Tags"
    round_1 = Device.objects.get(connector=connector, identity="round-1")
    assert round_1.certificate_fingerprint == certificate.fingerprint


def test_an_export_into_another_connector_recreates_the_fleet(business, connector, tmp_path, settings):
    for n in range(7):
        make_device(connector=connector, identity=f"copy-{n}", tags=[{"name": "batch", "value": str(n % 2)}])
    exported = tmp_path / "export.csv"
    run_devices("export", connector.pk, str(exported))
    other = make_connector(business=business, name="Copy")

    out, _ = run_devices("import", other.pk, str(exported), "--quiet")

    assert out.strip() == "7 rows: 7 created, 0 updated, 0 unchanged, 0 refused."
    assert tags_of(other, "copy-3") == [("batch", "1")]


# Identities that a spreadsheet would read as formulas (all valid opaque identities).
FORMULA_LIKE = ["+1-555-0100", "-2+3", "@A1+2", "plain-1"]


def test_an_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(connector, tmp_path):
    """OWASP's CSV injection advice: such cells start with a quote, which spreadsheets show as text."""
    for identity in FORMULA_LIKE:
        make_device(connector=connector, identity=identity, tags=[{"name": "note", "value": "=HYPERLINK(x)"}])
    certificate = make_leaf("cert-1")
    make_device(connector=connector, identity="cert-1", auth_type="certificate", key=certificate.pem)
    exported = tmp_path / "export.csv"

    run_devices("export", connector.pk, str(exported))
    stdout, _ = run_devices("export", connector.pk)

    rows = list(csv.reader(io.StringIO(exported.read_bytes().decode(), newline="")))
    cells = {row[0]: row for row in rows[1:]}
    assert set(cells) == {"'+1-555-0100", "'-2+3", "'@A1+2", "plain-1", "cert-1"}
    assert cells["cert-1"][1].startswith("'-----BEGIN CERTIFICATE-----")
    assert cells["plain-1"][2] == '[{"name": "note", "value": "=HYPERLINK(x)"}]'  # starts with "["
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
    assert stdout == exported.read_bytes().decode()


def test_a_neutralised_export_imports_back_unchanged(business, connector, tmp_path):
    for identity in FORMULA_LIKE:
        make_device(connector=connector, identity=identity, tags=[{"name": "note", "value": "-1"}])
    certificate = make_leaf("cert-1")
    make_device(connector=connector, identity="cert-1", auth_type="certificate", key=certificate.pem)
    exported = tmp_path / "export.csv"
    run_devices("export", connector.pk, str(exported))
    other = make_connector(business=business, name="Copy")

    same, _ = run_devices("import", connector.pk, str(exported), "--quiet")
    copied, _ = run_devices("import", other.pk, str(exported), "--quiet")

    assert same.strip() == "5 rows: 0 created, 0 updated, 5 unchanged, 0 refused."
    assert copied.strip() == "5 rows: 5 created, 0 updated, 0 unchanged, 0 refused."
    assert sorted(Device.objects.filter(connector=other).values_list("identity", flat=True)) == sorted(
        [*FORMULA_LIKE, "cert-1"]
    )
    assert (
        Device.objects.get(connector=other, identity="cert-1").certificate_fingerprint
        == certificate.fingerprint
    )
    assert tags_of(other, "-2+3") == [("note", "-1")]


def test_the_api_import_reads_a_neutralised_file_as_the_cli_does(upload, job_of, connector):
    job = job_of(upload(connector, b'ID,Tags\n\'+4917,\n\'-abc,"[{""name"": ""n"", ""value"": ""v""}]"\n'))

    assert job["state"] == "finished" and job["created"] == 2, job
    assert sorted(Device.objects.filter(connector=connector).values_list("identity", flat=True)) == [
        "+4917",
        "-abc",
    ]


@pytest.mark.parametrize(
    "text, cell",
    [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"), ("'=1", "''=1"), ("plain", "plain"), ("", ""), ("'quoted", "'quoted"),
        ("a=1", "a=1"),
    ],
)  # fmt: skip
def test_the_csv_helper_neutralises_formulas_and_restores_them_exactly(text, cell):
    assert csv_cell_neutralise(text) == cell
    assert csv_cell_restore(cell) == text


def test_a_file_with_only_a_header_finishes_with_nothing_to_do(upload, job_of, connector):
    job = job_of(upload(connector, b"ID,TLS Client Certificate,Tags\r\n"))

    assert (job["state"], job["total"], job["done"], job["created"]) == ("finished", 0, 0, 0)


def test_a_batch_that_meets_a_concurrent_whitelisting_is_applied_again(
    upload, job_of, connector, monkeypatch
):
    # Someone whitelists race-2 (through the API, say) just after the batch looked for its
    # identities and before it inserts them: the insert fails on the unique identity, the batch
    # rolls back and runs again, and race-2 is then an existing device that gets its tags.
    real_existing = import_apply._existing
    raced = []

    def existing_then_whitelisted_elsewhere(connector_, identities):
        found = real_existing(connector_, identities)
        if not raced:
            raced.append(make_device(connector=connector_, identity="race-2"))
        return found

    monkeypatch.setattr(import_apply, "_existing", existing_then_whitelisted_elsewhere)
    content = b'ID,Tags\nrace-1,\nrace-2,"[{""name"": ""group"", ""value"": ""g1""}]"\nrace-3,\n'

    job = job_of(upload(connector, content))

    assert (job["state"], job["created"], job["updated"], job["errors"]) == ("finished", 2, 1, [])
    assert Device.objects.filter(connector=connector).count() == 3
    assert tags_of(connector, "race-2") == [("group", "g1")]


@pytest.mark.parametrize(
    "rows, size", [(0, 500), (1_000, 500), (10_000, 1_000), (100_000, 10_000), (1_000_000, 10_000)]
)
def test_small_files_go_in_about_ten_batches_and_large_ones_in_batches_of_ten_thousand(rows, size):
    # A 10,000-row upload still moves its progress bar ten times; a large one saves round trips.
    assert imports.batch_size_for(rows) == size


@pytest.mark.django_db(transaction=True)
def test_a_file_of_many_batches_is_applied_in_order_outside_a_transaction(connector):
    # Committed for real, as a Celery worker runs it: on PostgreSQL two batches are applied at
    # once on two connections. Every row lands once, existing devices get their new tags, and
    # progress is reported batch after batch in file order.
    for n in range(0, 3000, 300):
        make_device(
            connector=connector,
            identity=f"many-{n:05d}",
            tags=[{"name": "group", "value": "old"}, {"name": "keep", "value": "k"}],
        )
    lines = ["ID,Tags"]
    for n in range(3000):
        lines.append(f'many-{n:05d},"[{{""name"": ""group"", ""value"": ""g{n // 500}""}}]"')
    lines.insert(1234, "bad id!,")
    reported = []

    result = imports.device_import(
        connector=connector,
        file=io.BytesIO("\n".join(lines).encode()),
        progress=lambda result, errors: reported.append((result.done, len(errors))),
    )

    assert (result.total, result.done, result.created, result.updated) == (3001, 3001, 2990, 10)
    assert [(e["line"], e["identity"]) for e in result.errors] == [(1235, "bad id!")]
    assert [done for done, _ in reported] == sorted(done for done, _ in reported)
    assert reported[0] == (0, 0) and reported[-1][0] == 3001 and len(reported) > 3
    assert sum(errors for _, errors in reported) == 1
    assert Device.objects.filter(connector=connector).count() == 3000
    assert tags_of(connector, "many-00300") == [("group", "g0"), ("keep", "k")]
    assert tags_of(connector, "many-02999") == [("group", "g5")]
    assert DeviceTag.objects.filter(connector_id=connector.pk).count() == 3000 + 10


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_stops_the_import_and_keeps_the_batches_before_it(connector, monkeypatch):
    real_apply = import_apply._apply

    def fail_on_the_third_batch(connector_, rows, deadline, *before_commit):
        if rows[0].identity == "stop-01000":
            raise RuntimeError("the database went away")
        return real_apply(connector_, rows, deadline, *before_commit)

    monkeypatch.setattr(import_apply, "_apply", fail_on_the_third_batch)
    content = "ID\n" + "\n".join(f"stop-{n:05d}" for n in range(5000))
    reported = []

    with pytest.raises(RuntimeError, match="went away"):
        imports.device_import(
            connector=connector,
            file=io.BytesIO(content.encode()),
            progress=lambda result, errors: reported.append(result.done),
        )

    # Batches of 500: the two before the failing one were reported and are in the database;
    # a re-run of the same file completes the import.
    assert reported[:3] == [0, 500, 1000] and max(reported) < 1500
    assert Device.objects.filter(connector=connector, identity__lt="stop-01000").count() == 1000
    monkeypatch.setattr(import_apply, "_apply", real_apply)
    again = imports.device_import(connector=connector, file=io.BytesIO(content.encode()))
    assert (again.created + again.unchanged, Device.objects.filter(connector=connector).count()) == (
        5000,
        5000,
    )
