"""Celery tasks of the devices app: each takes ids and calls one service."""

from celery import shared_task

from devices.imports import device_import_job_run


# acks_late + reject_on_worker_lost: a worker that dies mid-import gives the job back to the
# queue; the import is idempotent, so running it again from the start is safe.
@shared_task(name="devices.import", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def device_import_job(job_id: str) -> None:
    """Run the queued device import job ``job_id`` (a bulk whitelist from CSV)."""
    device_import_job_run(job_id=job_id)
