"""Every change to a job goes through these functions; each one is pushed to the job's watchers.

A job moves ``queued`` → ``running`` → ``finished`` or ``failed``. It is handed to the broker
once created (``job_dispatch_on_commit``); a worker claims it (``job_claim``), holds it by a
lease it renews (``job_heartbeat``, from ``jobs.leases.JobLease``) and reports its progress
after each batch of work (``job_progress``), so a page (or a poll of ``/api/v1/jobs/<id>/``)
sees it move. Every write of a worker is fenced by the attempt it claimed: once a job has been
given to a new attempt, a worker that was only presumed dead (stalled, cut off from the
database) can no longer change it and stops (``JobLost``).

``jobs_recover`` (Celery beat, every ``JOB_RECOVER_SECONDS``) is what lets jobs survive faults:
it hands to the broker again the queued jobs it never took (Redis down) or lost (Redis
restarted), resumes the running jobs whose worker stopped renewing its lease (killed, out of
memory, machine gone), or fails them once they have used ``JOB_MAX_ATTEMPTS``, and deletes the
uploads of jobs that are over.
"""

import logging
import os
import socket
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.tasks import task_send
from jobs.events import job_push
from jobs.models import ERRORS_KEPT, Job, JobKind, JobState

logger = logging.getLogger(__name__)

_COUNTS = ("total", "done", "created", "updated", "unchanged", "error_count")
# The Celery task that runs each kind of job, by its registered name (the apps above this one
# define them; ``task_send`` finds them by name, so this module imports none); it takes the job's id.
_TASKS = {
    JobKind.DEVICE_IMPORT: "devices.import",
    JobKind.CLAIM_CODES: "claiming.claim_codes",
    JobKind.INTEGRATION_SYNC: "integrations.sync",
    JobKind.DEVICE_BULK: "devices.bulk",
}
# An upload in storage whose job does not exist (its connector was deleted while the file's
# deletion failed, say) is deleted once it is this old: younger, its job may be being created.
ORPHAN_UPLOAD_AGE = timedelta(hours=1)


class JobLost(Exception):
    """The job is no longer this worker's: ``jobs_recover`` gave it to a new attempt (or it was
    deleted) while this worker was presumed dead. The worker stops; the new attempt carries on."""


def worker_name() -> str:
    """Who holds a job, for people reading it in the admin: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


# --- creating and dispatching -------------------------------------------------------------------


def job_create(*, kind: str, business, connector=None, created_by=None, upload: File | None = None,
               file_name: str = "", params: dict | None = None) -> Job:  # fmt: skip
    """A queued job; ``upload`` is stored with the default storage (S3 in production), where a
    worker on another machine can read it; ``params``, what a job without a file is asked.
    ``job_dispatch_on_commit`` hands it to a worker."""
    job = Job(kind=kind, business=business, connector=connector, created_by=created_by, params=params or {})
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


def job_dispatch_on_commit(*, job: Job) -> None:
    """Hand the job to a worker once the caller's transaction commits. A broker that cannot be
    reached does not fail the caller: the job stays queued, and ``jobs_recover`` hands it again
    once the broker answers."""
    job_id, kind = job.pk, job.kind
    transaction.on_commit(lambda: _dispatch(job_id, kind))


def _dispatch(job_id, kind: str) -> bool:
    # Stamped first: a fast worker may claim the job before ``task_send`` returns.
    Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(dispatched_at=timezone.now())
    if task_send(_TASKS[kind], str(job_id), later="the job stays queued until the broker answers again"):
        return True
    Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(dispatched_at=None)
    return False


# --- the worker's side --------------------------------------------------------------------------


def job_claim(*, job_id, worker: str = "") -> Job | None:
    """A worker takes a queued job for one attempt: it becomes ``running``, held by ``worker``.

    None when the job is not queued: deleted with its connector, over, or already taken (the
    broker delivered its task twice, or ``jobs_recover`` handed it again meanwhile). A job
    taken again after its worker died keeps its counts: the worker resumes it from there."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING, attempts=F("attempts") + 1, worker=worker[:200], heartbeat_at=now,
        updated_at=now,
    )  # fmt: skip
    if not claimed:
        return None
    job = Job.objects.select_related("connector").get(pk=job_id)
    if job.started_at is None:
        job.started_at = now
        Job.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=now)
    job_push(job)
    return job


def _held(job: Job):
    """The job's row, as long as ``job``'s attempt still holds it."""
    return Job.objects.filter(pk=job.pk, state=JobState.RUNNING, attempts=job.attempts)


def job_heartbeat(*, job: Job) -> bool:
    """Renew the worker's lease on ``job``; False once the job is no longer this attempt's."""
    return bool(_held(job).update(heartbeat_at=timezone.now()))


def job_progress(*, job: Job, errors: list[dict] | None = None, push: bool = True, **counts) -> Job:
    """Save the job's counts (``total``, ``done``, ``created``, ``updated``, ``unchanged``,
    ``error_count``) and, when given, the refused items so far (``{"line", "identity",
    "reason"}``, of which the first ``ERRORS_KEPT`` are kept, so a file of a million bad rows
    does not make a job too big to read), and push them to the job's watchers.

    Called inside the transaction of the work it counts (with ``push=False``: the caller pushes
    once that has committed), it commits with that work: a job's recorded progress is then
    exactly what is done. Raises ``JobLost`` when the job is no longer this attempt's (that
    transaction then rolls back)."""
    unknown = set(counts) - set(_COUNTS)
    if unknown:
        raise TypeError(f"unknown job counts: {', '.join(sorted(unknown))}")
    for name, value in counts.items():
        setattr(job, name, value)
    fields = {name: getattr(job, name) for name in _COUNTS}
    if errors is not None:
        job.errors = list(errors[:ERRORS_KEPT])
        fields["errors"] = job.errors
    job.updated_at = timezone.now()
    if not _held(job).update(**fields, updated_at=job.updated_at, heartbeat_at=job.updated_at):
        raise JobLost(f"job {job.pk} is no longer held by attempt {job.attempts}")
    if push:
        job_push(job)
    return job


def job_finish(*, job: Job) -> Job:
    """The job did all it could; its rows' errors, if any, are in ``errors``. A note that it was
    resumed after its worker stopped stays in ``detail``."""
    return _end(job, JobState.FINISHED, job.detail)


def job_fail(*, job: Job, detail: str) -> Job:
    """The job stopped: ``detail`` says why (the counts say what was done before)."""
    return _end(job, JobState.FAILED, detail)


@contextmanager
def job_outcome(*, job: Job, label: str, failed: str):
    """The end of a job's work done in the ``with`` block: ``finished`` when it returns,
    ``failed`` with ``failed`` as the detail (and the error logged) when it raises, except
    ``JobLost`` (the job was resumed elsewhere: nothing of it is this worker's to end)."""
    try:
        yield
    except JobLost:
        raise
    except Exception:
        logger.exception("%s job %s failed", label, job.pk)
        job_fail(job=job, detail=failed)
    else:
        job_finish(job=job)


def _end(job: Job, state: str, detail: str) -> Job:
    now = timezone.now()
    ended = _held(job).update(state=state, detail=detail, finished_at=now, updated_at=now, heartbeat_at=None)
    if not ended:
        raise JobLost(f"job {job.pk} is no longer held by attempt {job.attempts}")
    job.state, job.detail, job.finished_at, job.updated_at, job.heartbeat_at = state, detail, now, now, None
    _discard_file(job)
    job_push(job)
    return job


def _discard_file(job: Job) -> None:
    # The upload has served its purpose once the job is over: its outcome is in the job, and
    # keeping every 100 MB upload would fill the bucket. A deletion that fails is tried again
    # by ``jobs_recover`` (the job keeps the file's name until then).
    if not job.file:
        return
    name = job.file.name
    try:
        job.file.storage.delete(name)
    except Exception:
        logger.warning("could not delete the upload %s of job %s", name, job.pk, exc_info=True)
        return
    _remove_empty_folder(job.file.storage, name)
    Job.objects.filter(pk=job.pk).update(file="")
    job.file.name = ""


def _remove_empty_folder(storage, name: str) -> None:
    # Local storage keeps the job's folder (``jobs/<id>/``) once its file is gone; S3 has none.
    try:
        folder = os.path.dirname(storage.path(name))
    except NotImplementedError:  # a remote storage (S3) has no local path, and no folders
        return
    try:
        os.rmdir(folder)
    except OSError:
        pass  # not empty, or already gone


def job_uploads_discard_on_commit(*, connector) -> None:
    """Before a connector is deleted: its jobs go with it (cascade), their uploads once that
    is committed. Whatever fails here is left to ``jobs_recover``'s sweep of orphaned uploads."""
    names = list(Job.objects.filter(connector=connector).exclude(file="").values_list("file", flat=True))
    if not names:
        return
    storage = Job._meta.get_field("file").storage

    def discard() -> None:
        for name in names:
            try:
                storage.delete(name)
                _remove_empty_folder(storage, name)
            except Exception:
                logger.warning("could not delete the upload %s of a deleted job", name, exc_info=True)

    transaction.on_commit(discard)


# --- recovery -----------------------------------------------------------------------------------


def jobs_recover(*, now=None) -> dict[str, int]:
    """Bring back what faults left behind (Celery beat runs this every ``JOB_RECOVER_SECONDS``):

    - a running job whose worker has not renewed its lease for ``JOB_LEASE_SECONDS`` lost it:
      it is queued again and resumes where its last committed batch left it, or fails with a
      clear reason once it has been tried ``JOB_MAX_ATTEMPTS`` times (a file that kills its
      worker each time must not be tried for ever);
    - a queued job that the broker never took (down when it was created) or that no worker has
      taken ``JOB_REQUEUE_SECONDS`` after it was handed over (the broker lost it) is handed
      again; a second delivery of a job already taken changes nothing (``job_claim``);
    - uploads of jobs that are over, or whose job no longer exists, are deleted.

    Returns how many jobs were resumed, failed and handed to the broker, and uploads deleted.
    """
    now = now or timezone.now()
    done = {"resumed": 0, "failed": 0, "dispatched": 0, "uploads": 0}
    stale = now - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    dead = Job.objects.filter(state=JobState.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, updated_at__lt=stale)
    )
    for job in dead:
        if _dead_job_recover(job, stale, now):
            done["resumed"] += 1
        else:
            done["failed"] += 1
    lost = now - timedelta(seconds=settings.JOB_REQUEUE_SECONDS)
    waiting = Job.objects.filter(state=JobState.QUEUED).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=lost)
    )
    for job_id, kind in waiting.values_list("id", "kind"):
        if not _dispatch(job_id, kind):
            break  # the broker is down: the next run tries again
        done["dispatched"] += 1
    done["uploads"] = _uploads_sweep(now)
    return done


def _dead_job_recover(job: Job, stale, now) -> bool:
    """Queue ``job`` again (True) or fail it (False); either only if it is still the attempt
    that was found dead."""
    where = Job.objects.filter(pk=job.pk, state=JobState.RUNNING, attempts=job.attempts).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    )
    if job.total is None:
        where_done = "before it had counted the rows"
    else:
        where_done = f"after {job.done:,} of {job.total:,} rows"
    if job.attempts >= settings.JOB_MAX_ATTEMPTS:
        job.detail = (
            f"The worker running this job stopped {job.attempts} times (the last time {where_done}), "
            "so it was given up. The rows counted as done were applied; importing the same file "
            "again is safe and completes it."
        )
        failed = where.update(
            state=JobState.FAILED, detail=job.detail, finished_at=now, updated_at=now, heartbeat_at=None
        )
        if failed:
            logger.warning("job %s: its worker (%s) stopped %s times", job.pk, job.worker, job.attempts)
            job.state, job.finished_at = JobState.FAILED, now
            _discard_file(job)
            job_push(job)
        return False
    job.detail = f"Its worker stopped {where_done}; the job was resumed from there."
    requeued = where.update(
        state=JobState.QUEUED, detail=job.detail, updated_at=now, heartbeat_at=None, dispatched_at=None
    )
    if requeued:
        logger.warning("job %s: its worker (%s) stopped %s; resuming it", job.pk, job.worker, where_done)
        job.state = JobState.QUEUED
        job_push(job)
        _dispatch(job.pk, job.kind)
    return True


def _uploads_sweep(now) -> int:
    deleted = 0
    for job in Job.objects.filter(state__in=[JobState.FINISHED, JobState.FAILED]).exclude(file=""):
        _discard_file(job)
        deleted += not job.file
    storage = Job._meta.get_field("file").storage
    try:
        folders, _ = storage.listdir("jobs")
    except (FileNotFoundError, NotImplementedError):  # no upload yet; a storage that cannot list
        return deleted
    ids = {}
    for folder in folders:
        try:
            ids[uuid.UUID(folder)] = folder
        except ValueError:
            continue  # not one of ours
    existing = set(Job.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))
    for job_id, folder in ids.items():
        if job_id in existing:
            continue
        names = storage.listdir(f"jobs/{folder}")[1]
        if not names:
            _remove_empty_folder(storage, f"jobs/{folder}/-")
        for name in names:
            path = f"jobs/{folder}/{name}"
            try:
                if storage.get_modified_time(path) > now - ORPHAN_UPLOAD_AGE:
                    continue
                storage.delete(path)
            except Exception:
                logger.warning("could not delete the orphaned upload %s", path, exc_info=True)
                continue
            _remove_empty_folder(storage, path)
            deleted += 1
    return deleted
