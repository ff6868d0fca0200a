"""Celery tasks of the portal: each takes ids and calls one service."""

from celery import shared_task

from portal.accounts import account_exists_email, password_reset_email
from portal.notices import firmware_notices_send


# Retried on an e-mail server's failure, as the welcome e-mail is.
@shared_task(name="portal.password_reset_email", ignore_result=True, autoretry_for=(OSError,),
             retry_backoff=30, max_retries=5)  # fmt: skip
def password_reset_email_task(user_id: int) -> None:
    """Send end user ``user_id`` a one-time link to choose a new password."""
    password_reset_email(user_id=user_id)


@shared_task(name="portal.account_exists_email", ignore_result=True, autoretry_for=(OSError,),
             retry_backoff=30, max_retries=5)  # fmt: skip
def account_exists_email_task(user_id: int) -> None:
    """Tell end user ``user_id``, who signed up again, that they have an account."""
    account_exists_email(user_id=user_id)


# Not retried: the notices are created before the e-mails, and an e-mail goes only with a notice
# created in the same run, so a retry would find them all there and send nothing (an e-mail the
# server refused is logged by the service).
@shared_task(name="portal.firmware_notices", ignore_result=True)
def firmware_notices_task(connector_id: str, package_id: str) -> None:
    """Tell the owners of the connector's devices about the uploaded firmware package
    (``portal.notices.firmware_notices_send``)."""
    firmware_notices_send(connector_id=connector_id, package_id=package_id)
