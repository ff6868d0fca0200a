"""Celery tasks of the claiming app: each takes ids and calls one service."""

from celery import shared_task

from claiming.codes import claim_codes_job_run


# As the device import: the job's row says whether it still needs a worker (a second delivery
# finds it taken), so the message is acknowledged on receipt.
@shared_task(name="claiming.claim_codes", ignore_result=True)
def claim_codes_job(job_id: str) -> None:
    """Run the queued claim code generation job ``job_id`` (``claiming.codes``)."""
    claim_codes_job_run(job_id=job_id)
