"""A device import as a job: the upload accepted and queued by the web request, then run by a
Celery worker (``devices.tasks``) that holds the job's lease and records its progress."""

import copy
import logging

from django.conf import settings
from django.db import transaction

from connectors.models import Connector
from devices.imports.reader import ImportFileError, ImportFileTooLarge, import_header_check
from devices.imports.run import ImportResult, device_import
from jobs.events import job_push
from jobs.leases import job_run
from jobs.models import JobKind
from jobs.services import (
    JobLost,
    job_create,
    job_dispatch_on_commit,
    job_fail,
    job_finish,
    job_progress,
)

logger = logging.getLogger(__name__)


def device_import_start(*, connector: Connector, user, upload, file_name: str = ""):
    """Accept an uploaded CSV for import: refuse it at once when it is too large or its header
    is wrong, else store it, queue a job and run it on a Celery worker once committed."""
    if upload.size > settings.DEVICE_IMPORT_MAX_BYTES:
        raise ImportFileTooLarge()
    import_header_check(upload)
    with transaction.atomic():
        job = job_create(
            kind=JobKind.DEVICE_IMPORT, business=connector.business, connector=connector,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            upload=upload, file_name=file_name or upload.name,
        )  # fmt: skip
        # A broker that is down does not fail the upload: the job waits, queued, until
        # ``jobs_recover`` can hand it over.
        job_dispatch_on_commit(job=job)
    return job


INTERNAL_FAILURE = (
    "The import stopped on an internal error. The rows counted as done were imported; "
    "importing the same file again is safe and completes it."
)


def device_import_job_run(*, job_id: str) -> None:
    """Run a queued device import job (the Celery task calls this): claim it, hold its lease,
    record its progress with each batch (pushed to its watchers); ``finished`` with its refused
    rows, or ``failed`` with the reason the file could not be imported.

    A job taken again after its worker died resumes from its last committed batch
    (``device_import``'s ``resume``): the rows before it are not applied twice and the counts
    come out as one run's. A second delivery of a job already taken does nothing."""
    job_run(job_id=job_id, label="device import", work=_device_import_job)


def _device_import_job(job) -> None:

    if job.connector is None or not job.file:
        job_fail(job=job, detail="The job has no connector or no file to import.")
        return
    try:
        file = job.file.open("rb")
    except FileNotFoundError:
        logger.warning("device import job %s: its upload %s is gone from storage", job.pk, job.file.name)
        nothing = "nothing was imported" if not job.done else "the rows counted as done were imported"
        job_fail(job=job, detail=f"The uploaded file is no longer in storage; {nothing}. Upload it again.")
        return
    resume = None
    if job.done:
        resume = ImportResult(
            total=job.total, done=job.done, created=job.created, updated=job.updated,
            unchanged=job.unchanged, error_count=job.error_count, errors=list(job.errors),
        )  # fmt: skip

    # Checkpoints are written by the threads that apply batches, on a copy of the job of their
    # own; this thread pushes each one to the job's watchers once its batch has committed.
    recorded = copy.copy(job)

    def checkpoint(result: ImportResult) -> None:
        job_progress(job=recorded, errors=result.errors, push=False, **result.counts())

    def progress(result: ImportResult, new_errors: list[dict]) -> None:
        for name, value in result.counts().items():
            setattr(job, name, value)
        job_push(job)

    try:
        with file:
            device_import(
                connector=job.connector, file=file, progress=progress, checkpoint=checkpoint, resume=resume
            )
    except ImportFileError as exc:
        job_fail(job=job, detail=f"{exc.message} Nothing was imported.")
    except JobLost:
        raise
    except Exception:
        logger.exception("device import job %s failed", job.pk)
        job_fail(job=job, detail=INTERNAL_FAILURE)
    else:
        job_finish(job=job)
