"""Celery tasks of the claiming app: each takes ids and calls one service."""

from celery import shared_task

from claiming.codes import claim_codes_job_run
from claiming.services import welcome_email


# As the device import: the job's row says whether it still needs a worker (a second delivery
# finds it taken), so the message is acknowledged on receipt.
@shared_task(name="claiming.claim_codes", ignore_result=True)
def claim_codes_job(job_id: str) -> None:
    """Run the queued claim code generation job ``job_id`` (``claiming.codes``)."""
    claim_codes_job_run(job_id=job_id)


# Retried on an e-mail server's failure, a few times over some minutes: the device that named
# its owner does not ask again.
@shared_task(name="claiming.welcome_email", ignore_result=True, autoretry_for=(OSError,), retry_backoff=30,
             max_retries=5)  # fmt: skip
def welcome_email_task(user_id: int, next_path: str = "") -> None:
    """Send end user ``user_id`` the welcome e-mail with a one-time link (``services.welcome_email``)."""
    welcome_email(user_id=user_id, next_path=next_path)
