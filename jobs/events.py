"""Live job progress: every change of a job's counts or state goes to the group ``job.<id>``."""

from jobs.models import Job
from murano import realtime


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
    realtime.push(groups={job_group(job.pk): job_progress_message(job)})
