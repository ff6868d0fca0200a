"""Background jobs at ``/api/v1/jobs/``: who sees which job, how progress reads while a job runs,
how many errors a job keeps, and a worker that meets a job twice or without its file."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from devices.imports import device_import_job_run
from devices.models import Device
from jobs import services
from jobs.models import Job, JobKind
from tests.factories import make_connector


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def queued_import(connector, *, content: bytes = b"ID\nqueued-1\n", user=None) -> Job:
    """A device import job as an upload leaves it: queued, its file stored, not run yet."""
    return services.job_create(
        kind=JobKind.DEVICE_IMPORT, business=connector.business, connector=connector, created_by=user,
        upload=SimpleUploadedFile("fleet.csv", content), file_name="fleet.csv",
    )  # fmt: skip


def job_url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/"


# --- one job --------------------------------------------------------------------------------


def test_a_running_jobs_progress_reads_at_its_url(api, viewer, connector, owner):
    job = services.job_claim(job_id=queued_import(connector, user=owner).pk)
    services.job_progress(
        job=job, total=10_000, done=5_000, created=4_000, updated=500, unchanged=499, error_count=1,
        errors=[{"line": 3, "identity": "x y", "reason": "bad identity"}],
    )  # fmt: skip

    response = api(viewer).get(job_url(job))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(job.pk)
    assert (body["kind"], body["state"], body["connector"], body["file_name"]) == (
        "device_import",
        "running",
        connector.pk,
        "fleet.csv",
    )
    assert (body["total"], body["done"], body["created"], body["updated"], body["unchanged"]) == (
        10_000,
        5_000,
        4_000,
        500,
        499,
    )
    assert body["errors"] == [{"line": 3, "identity": "x y", "reason": "bad identity"}]
    assert body["error_count"] == 1
    assert body["created_by"] == owner.email
    assert body["started_at"] and body["updated_at"] and body["finished_at"] is None
    assert body["detail"] == ""


def test_a_queued_job_has_no_total_yet(api, owner, connector):
    job = queued_import(connector)

    body = api(owner).get(job_url(job)).json()

    assert (body["state"], body["total"], body["done"], body["created_by"]) == ("queued", None, 0, None)


def test_someone_elses_job_is_not_found(api, outsider, connector):
    job = queued_import(connector)

    response = api(outsider).get(job_url(job))

    assert response.status_code == 404
    assert list(response.json()) == ["detail"]


def test_a_superuser_sees_every_businesss_job(api, connector):
    admin = User.objects.create_superuser(
        email="root@example.com", password="correct-horse-battery-staple-42"
    )
    job = queued_import(connector)

    assert api(admin).get(job_url(job)).status_code == 200


def test_a_job_needs_a_login(api, connector):
    job = queued_import(connector)

    assert api().get(job_url(job)).status_code == 401


@pytest.mark.parametrize("job_id", ["not-a-uuid", "00000000-0000-4000-8000-000000000000"])
def test_an_id_that_names_no_job_is_not_found(api, owner, job_id):
    response = api(owner).get(f"/api/v1/jobs/{job_id}/")

    assert response.status_code == 404
    assert list(response.json()) == ["detail"]


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_your_businesses_jobs_newest_first_without_their_errors(
    api, owner, connector, outsider
):
    first = queued_import(connector)
    second = queued_import(connector)
    theirs = queued_import(make_connector(business=outsider.businesses.get(), name="Theirs"))

    mine = api(owner).get("/api/v1/jobs/")
    others = api(outsider).get("/api/v1/jobs/")

    assert mine.status_code == 200
    assert [j["id"] for j in mine.json()["results"]] == [str(second.pk), str(first.pk)]
    assert "errors" not in mine.json()["results"][0]
    assert mine.json()["results"][0]["error_count"] == 0
    assert [j["id"] for j in others.json()["results"]] == [str(theirs.pk)]


def test_the_list_filters_by_connector_and_state(api, owner, business, connector):
    other = make_connector(business=business, name="Other")
    running = services.job_claim(job_id=queued_import(connector).pk)
    queued_import(connector)
    elsewhere = queued_import(other)
    client = api(owner)

    by_state = client.get("/api/v1/jobs/", {"state": "running"}).json()["results"]
    by_connector = client.get("/api/v1/jobs/", {"connector": other.pk}).json()["results"]

    assert [j["id"] for j in by_state] == [str(running.pk)]
    assert [j["id"] for j in by_connector] == [str(elsewhere.pk)]


def test_an_unknown_state_filter_is_refused(api, owner):
    response = api(owner).get("/api/v1/jobs/", {"state": "sleeping"})

    assert response.status_code == 400
    assert response.json() == {"state": ["must be one of queued, running, finished, failed"]}


def test_the_list_is_paged(api, owner, connector):
    jobs = [queued_import(connector) for _ in range(3)]

    first = api(owner).get("/api/v1/jobs/", {"limit": 2}).json()
    second = api(owner).get(first["next"]).json()

    assert [j["id"] for j in first["results"] + second["results"]] == [str(j.pk) for j in reversed(jobs)]
    assert second["next"] is None


# --- errors, second deliveries, lost files ----------------------------------------------------


def test_a_job_keeps_only_the_first_errors_but_counts_them_all(connector, monkeypatch):
    monkeypatch.setattr(services, "ERRORS_KEPT", 2)
    job = services.job_claim(job_id=queued_import(connector).pk)

    errors = [{"line": n, "identity": "", "reason": "r"} for n in (2, 3, 4, 9)]
    services.job_progress(job=job, done=4, error_count=4, errors=errors)

    job.refresh_from_db()
    assert [e["line"] for e in job.errors] == [2, 3]
    assert job.error_count == 4


def test_a_second_delivery_of_a_finished_job_changes_nothing(connector):
    job = queued_import(connector)
    device_import_job_run(job_id=str(job.pk))
    job.refresh_from_db()
    finished_at = job.finished_at
    Device.objects.filter(connector=connector).delete()

    device_import_job_run(job_id=str(job.pk))

    job.refresh_from_db()
    assert (job.state, job.created, job.finished_at) == ("finished", 1, finished_at)
    assert not Device.objects.filter(connector=connector).exists()


def test_a_job_whose_file_is_gone_fails_with_a_reason(connector):
    job = queued_import(connector)
    job.file.storage.delete(job.file.name)

    device_import_job_run(job_id=str(job.pk))

    job.refresh_from_db()
    assert job.state == "failed"
    assert job.detail == "The uploaded file is no longer in storage; nothing was imported. Upload it again."


def test_a_job_deleted_with_its_connector_is_skipped_by_the_worker(connector):
    job = queued_import(connector)
    job_id = str(job.pk)
    connector.delete()

    device_import_job_run(job_id=job_id)

    assert not Job.objects.filter(pk=job_id).exists()


def test_a_cursor_that_is_not_one_of_ours_is_refused(api, owner):
    response = api(owner).get("/api/v1/jobs/", {"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}
