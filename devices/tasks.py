"""Celery tasks of the devices app: each takes ids and calls one service."""

from celery import shared_task

from devices import rollups
from devices.imports import device_import_job_run
from devices.services import history
from devices.services.bulk import devices_bulk_job_run


# The job's row, not the broker's message, says whether the job still needs a worker: the task
# claims it (a second delivery finds it taken and does nothing), and a worker that dies
# mid-import is noticed by its lease running out (``jobs.services.jobs_recover``), whichever
# broker lost or kept the message. So the message is acknowledged on receipt.
@shared_task(name="devices.import", ignore_result=True)
def device_import_job(job_id: str) -> None:
    """Run the queued device import job ``job_id`` (a bulk whitelist from CSV)."""
    device_import_job_run(job_id=job_id)


@shared_task(name="devices.bulk", ignore_result=True)
def devices_bulk_job(job_id: str) -> None:
    """Run the queued bulk change job ``job_id`` (lock, revoke, delete, tag… many devices)."""
    devices_bulk_job_run(job_id=job_id)


@shared_task(name="devices.history_maintain", ignore_result=True)
def history_maintain() -> None:
    """Celery beat, every ``HISTORY_MAINTENANCE_SECONDS``: partitions ahead, retention, purge."""
    history.history_maintain()


@shared_task(name="devices.history_purge", ignore_result=True)
def history_purge() -> None:
    """Remove the points of devices just deleted (queued by their deletion)."""
    history.history_purge()


@shared_task(name="devices.history_rollup", ignore_result=True)
def history_rollup() -> None:
    """Celery beat, every ``HISTORY_ROLLUP_SECONDS``: add new points to the roll-ups."""
    rollups.rollup_run()
