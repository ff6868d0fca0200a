"""Jobs that outlive their worker or their broker message: leases, resuming, giving up, second
deliveries, and the uploads left behind. (tests/faults/test_job_faults.py does the same to real
processes: a worker killed with SIGKILL, Redis killed and restarted.)

Here a worker "dies" the way the database sees it: it claimed the job, checkpointed some of it,
and then nothing more came from it (its heartbeat went stale)."""

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from connectors.services import connector_delete
from devices import imports
from devices.imports import apply as import_apply
from devices.imports import device_import_job_run
from devices.imports import reader as import_reader
from devices.models import Device
from jobs import services
from jobs.leases import JobLease
from jobs.models import Job, JobKind
from tests.factories import make_device


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def queued_import(connector, content: bytes) -> Job:
    return services.job_create(
        kind=JobKind.DEVICE_IMPORT, business=connector.business, connector=connector,
        upload=SimpleUploadedFile("fleet.csv", content), file_name="fleet.csv",
    )  # fmt: skip


def worker_died_after(connector, content: bytes, identities: list[str], **counts) -> Job:
    """A job whose first worker whitelisted ``identities``, checkpointed ``counts`` with them,
    and was never heard of again."""
    job = services.job_claim(job_id=queued_import(connector, content).pk, worker="gone:1")
    for identity in identities:
        make_device(connector=connector, identity=identity)
    services.job_progress(job=job, **counts)
    return job


def after_the_lease(settings):
    return timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)


def upload_exists(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


def test_a_job_whose_worker_died_resumes_from_its_last_batch_and_counts_as_one_run(connector, settings):
    content = b"ID\nr-1\nr-2\nr-3\n"
    job = worker_died_after(connector, content, ["r-1"], total=3, done=1, created=1)
    upload = job.file.name

    recovered = services.jobs_recover(now=after_the_lease(settings))

    job.refresh_from_db()
    assert recovered["resumed"] == 1
    assert (job.state, job.total, job.done, job.created, job.unchanged, job.attempts) == (
        "finished", 3, 3, 3, 0, 2,
    )  # fmt: skip
    assert job.detail == "Its worker stopped after 1 of 3 rows; the job was resumed from there."
    assert sorted(Device.objects.filter(connector=connector).values_list("identity", flat=True)) == [
        "r-1", "r-2", "r-3",
    ]  # fmt: skip
    assert (job.file.name, upload_exists(upload)) == ("", False)


def test_a_resumed_import_still_refuses_an_id_that_the_skipped_rows_named(connector, settings):
    content = b"ID\nd-1\nd-2\nd-1\n"
    job = worker_died_after(connector, content, ["d-1", "d-2"], total=3, done=2, created=2)

    services.jobs_recover(now=after_the_lease(settings))

    job.refresh_from_db()
    assert (job.state, job.done, job.created, job.error_count) == ("finished", 3, 2, 1)
    assert job.errors == [{"line": 4, "identity": "d-1", "reason": "the ID is already on line 2"}]


def test_a_job_whose_worker_keeps_dying_fails_with_its_counts_and_a_reason(connector, settings):
    settings.JOB_MAX_ATTEMPTS = 1
    job = worker_died_after(connector, b"ID\nx-1\nx-2\n", ["x-1"], total=2, done=1, created=1)
    upload = job.file.name

    recovered = services.jobs_recover(now=after_the_lease(settings))

    job.refresh_from_db()
    assert recovered["failed"] == 1
    assert (job.state, job.done, job.created) == ("failed", 1, 1)
    assert job.detail == (
        "The worker running this job stopped 1 times (the last time after 1 of 2 rows), so it was "
        "given up. The rows counted as done were applied; importing the same file again is safe "
        "and completes it."
    )
    assert job.finished_at is not None
    assert (job.file.name, upload_exists(upload)) == ("", False)


@pytest.mark.django_db(transaction=True)  # the lease's thread writes on a connection of its own
def test_a_job_whose_worker_renews_its_lease_is_left_alone(connector, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    settings.JOB_LEASE_SECONDS = 0.5
    job = services.job_claim(job_id=queued_import(connector, b"ID\nl-1\n").pk)

    with JobLease(job):
        time.sleep(1)  # twice the lease: only the renewals keep the job this worker's
        recovered = services.jobs_recover()

    job.refresh_from_db()
    assert recovered["resumed"] == recovered["failed"] == 0
    assert (job.state, job.attempts) == ("running", 1)


def test_a_worker_presumed_dead_can_no_longer_change_the_job_once_it_was_resumed(connector, settings):
    first = worker_died_after(connector, b"ID\np-1\np-2\n", ["p-1"], total=2, done=1, created=1)
    services.jobs_recover(now=after_the_lease(settings))  # a second attempt finishes it

    with pytest.raises(services.JobLost):
        services.job_progress(job=first, done=2, created=1, unchanged=1)
    with pytest.raises(services.JobLost):
        services.job_fail(job=first, detail="too late")
    assert services.job_heartbeat(job=first) is False

    first.refresh_from_db()
    assert (first.state, first.done, first.created, first.attempts) == ("finished", 2, 2, 2)


def test_a_second_delivery_of_a_job_already_taken_does_nothing(connector):
    job = services.job_claim(job_id=queued_import(connector, b"ID\nt-1\n").pk)

    device_import_job_run(job_id=str(job.pk))

    job.refresh_from_db()
    assert (job.state, job.attempts, job.done) == ("running", 1, 0)
    assert not Device.objects.filter(connector=connector).exists()


def test_a_queued_job_the_broker_never_got_is_handed_over_again(connector, settings):
    job = queued_import(connector, b"ID\nq-1\n")  # as a failed hand-over leaves it
    assert job.dispatched_at is None
    recent = Job.objects.filter(pk=job.pk)

    assert services.jobs_recover()["dispatched"] == 1

    assert recent.get().state == "finished"
    assert Device.objects.filter(connector=connector, identity="q-1").exists()


def test_a_queued_job_handed_over_recently_is_not_handed_again(connector, settings):
    job = queued_import(connector, b"ID\nw-1\n")
    Job.objects.filter(pk=job.pk).update(dispatched_at=timezone.now())

    assert services.jobs_recover()["dispatched"] == 0
    later = timezone.now() + timedelta(seconds=settings.JOB_REQUEUE_SECONDS + 1)
    assert services.jobs_recover(now=later)["dispatched"] == 1

    job.refresh_from_db()
    assert job.state == "finished"


def test_uploads_left_by_over_jobs_and_by_jobs_that_are_gone_are_deleted(connector, settings):
    kept_back = queued_import(connector, b"ID\nu-1\n")
    Job.objects.filter(pk=kept_back.pk).update(state="failed")  # its upload's deletion had failed
    orphan = default_storage.save(f"jobs/{uuid.uuid4()}/old.csv", ContentFile(b"ID\n"))
    an_hour_ago = time.time() - services.ORPHAN_UPLOAD_AGE.total_seconds() - 60
    os.utime(default_storage.path(orphan), (an_hour_ago, an_hour_ago))
    being_created = default_storage.save(f"jobs/{uuid.uuid4()}/new.csv", ContentFile(b"ID\n"))

    recovered = services.jobs_recover()

    assert recovered["uploads"] == 2
    assert not upload_exists(kept_back.file.name)
    assert not upload_exists(orphan)
    assert not os.path.exists(os.path.dirname(default_storage.path(orphan)))
    assert upload_exists(being_created)  # its job may be committing right now


def test_deleting_a_connector_deletes_its_jobs_uploads(connector, django_capture_on_commit_callbacks):
    job = queued_import(connector, b"ID\nc-1\n")
    assert upload_exists(job.file.name)

    with django_capture_on_commit_callbacks(execute=True):
        connector_delete(connector=connector)

    assert not Job.objects.filter(pk=job.pk).exists()
    assert not upload_exists(job.file.name)


@pytest.mark.django_db(transaction=True)  # real commits, and on PostgreSQL two batches at once
def test_a_jobs_progress_counts_exactly_the_batches_that_committed(connector, monkeypatch):
    """The batch after a failing one may be applied at the same time (PostgreSQL): it must roll
    back, so that the job's recorded progress is what is in the database, row for row."""
    monkeypatch.setattr(import_reader, "MIN_BATCH_SIZE", 100)
    monkeypatch.setattr(import_reader, "BATCH_SIZE", 100)
    real_apply = import_apply._apply

    def fail_on_the_fifth_batch(connector_, rows, deadline, *before_commit):
        if rows[0].identity == "b-00400":
            raise RuntimeError("the database went away")
        return real_apply(connector_, rows, deadline, *before_commit)

    monkeypatch.setattr(import_apply, "_apply", fail_on_the_fifth_batch)
    job = queued_import(connector, ("ID\n" + "".join(f"b-{n:05d}\n" for n in range(1000))).encode())

    device_import_job_run(job_id=str(job.pk))

    job.refresh_from_db()
    assert (job.state, job.detail) == ("failed", imports.INTERNAL_FAILURE)
    assert (job.total, job.done, job.created) == (1000, 400, 400)
    assert Device.objects.filter(connector=connector).count() == 400
