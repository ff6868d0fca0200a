"""Every change to a job goes through these functions; each one is pushed to the job's watchers.

A job moves ``queued`` → ``running`` → ``finished`` or ``failed``. The worker that runs it
reports progress after each batch of work, so a page (or a poll of ``/api/v1/jobs/<id>/``) sees
it move.
"""

import logging

from django.core.files.base import File
from django.utils import timezone

from jobs.events import job_push
from jobs.models import ERRORS_KEPT, Job, JobState

logger = logging.getLogger(__name__)

_COUNTS = ("total", "done", "created", "updated", "unchanged", "error_count")


def job_create(*, kind: str, business, connector=None, created_by=None, upload: File | None = None,
               file_name: str = "") -> Job:  # fmt: skip
    """A queued job; ``upload`` is stored with the default storage (S3 in production), where a
    worker on another machine can read it."""
    job = Job(kind=kind, business=business, connector=connector, created_by=created_by)
    if upload is not None:
        file_name = (file_name or getattr(upload, "name", "") or "upload")[:255]
        # The job's own folder keeps the name unique; only the base name of what the client sent.
        job.file.save(_safe_name(file_name), upload, save=False)
        job.file_name = file_name
    job.save()
    return job


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:100]


def job_start(*, job: Job, total: int | None = None) -> Job:
    """The worker takes the job. A job started again (its worker died, the task was delivered
    anew) starts over from nothing: the work it does must be idempotent."""
    now = timezone.now()
    job.state = JobState.RUNNING
    job.started_at = now
    job.finished_at = None
    job.total = total
    job.done = job.created = job.updated = job.unchanged = job.error_count = 0
    job.errors = []
    job.detail = ""
    job.updated_at = now
    job.save(update_fields=["state", "started_at", "finished_at", *_COUNTS, "errors", "detail", "updated_at"])
    job_push(job)
    return job


def job_errors_add(*, job: Job, errors: list[dict]) -> None:
    """Note refused items (``{"line", "identity", "reason"}``); only the first ``ERRORS_KEPT`` are
    kept, so a file of a million bad rows does not make a job too big to read. Saved with the
    next ``job_progress``."""
    job.error_count += len(errors)
    room = ERRORS_KEPT - len(job.errors)
    if room > 0:
        job.errors.extend(errors[:room])


def job_progress(*, job: Job, **counts) -> Job:
    """Save the job's counts (``total``, ``done``, ``created``, ``updated``, ``unchanged``) and
    the errors noted so far, and push them to the job's watchers."""
    unknown = set(counts) - set(_COUNTS)
    if unknown:
        raise TypeError(f"unknown job counts: {', '.join(sorted(unknown))}")
    for name, value in counts.items():
        setattr(job, name, value)
    job.updated_at = timezone.now()
    job.save(update_fields=[*_COUNTS, "errors", "updated_at"])
    job_push(job)
    return job


def job_finish(*, job: Job) -> Job:
    """The job did all it could; its rows' errors, if any, are in ``errors``."""
    return _end(job, JobState.FINISHED, "")


def job_fail(*, job: Job, detail: str) -> Job:
    """The job stopped: ``detail`` says why (the counts say what was done before)."""
    return _end(job, JobState.FAILED, detail)


def _end(job: Job, state: str, detail: str) -> Job:
    now = timezone.now()
    job.state = state
    job.detail = detail
    job.finished_at = job.updated_at = now
    job.save(update_fields=["state", "detail", "finished_at", "updated_at", *_COUNTS, "errors"])
    _discard_file(job)
    job_push(job)
    return job


def _discard_file(job: Job) -> None:
    # The upload has served its purpose once the job is over: its outcome is in the job, and
    # keeping every 100 MB upload would fill the bucket.
    if not job.file:
        return
    try:
        job.file.delete(save=False)
    except Exception:
        logger.warning("could not delete the upload %s of job %s", job.file.name, job.pk, exc_info=True)
    Job.objects.filter(pk=job.pk).update(file="")
