"""Live job progress: every change of a job's counts or state goes to the group ``job.<id>``."""

import logging

from core import realtime
from jobs.models import Job

logger = logging.getLogger(__name__)


def job_group(job_id) -> str:
    """The channel-layer group a job's watchers (the UI's progress bar) listen to."""
    return f"job.{job_id}"


def job_progress_message(job: Job) -> dict:
    """What the UI needs to redraw a progress bar; the errors themselves are read from the API."""
    return {
        "type": "job.progress",
        "id": str(job.pk),
        "kind": job.kind,
        "state": job.state,
        "total": job.total,
        "done": job.done,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "error_count": job.error_count,
        "detail": job.detail,
    }


def job_push(job: Job) -> None:
    """Push the job as it is now to its watchers. A push that fails is logged and dropped: it is
    for people watching, and the job's state is in the database, which the progress websocket
    re-reads anyway."""
    try:
        realtime.push(groups={job_group(job.pk): job_progress_message(job)})
    except Exception:
        logger.warning("could not push the progress of job %s", job.pk, exc_info=True)
