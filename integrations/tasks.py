"""Celery tasks of the integrations app: each takes ids and calls one service."""

from celery import shared_task

from core.tasks import task_send
from integrations import services
from integrations.models import Integration
from integrations.sync import sync_run
from jobs.leases import job_run


# As the device import: the job's row says whether it still needs a worker (a second delivery
# finds it taken), so the message is acknowledged on receipt.
@shared_task(name="integrations.sync", ignore_result=True)
def sync_job(job_id: str) -> None:
    """Run the queued sync job ``job_id`` (``integrations.sync.sync_run``)."""
    job_run(job_id=job_id, label="integration sync", work=sync_run)


@shared_task(name="integrations.sync_scheduled", ignore_result=True)
def sync_scheduled(connector_id: str) -> None:
    """Celery beat's periodic run of one connector's integration (``services.sync_scheduled``)."""
    services.sync_scheduled(connector_id=connector_id)


@shared_task(name="integrations.health_all", ignore_result=True)
def health_all() -> None:
    """Every ``HEALTH_INTERVAL``: a health check for each integration due one, each its own task
    (one slow API does not hold up the others)."""
    for connector_id in services.health_due():
        task_send("integrations.health_check", connector_id)


@shared_task(name="integrations.health_check", ignore_result=True)
def health_check(connector_id: str) -> None:
    """Check one integration's API (``services.health_check``)."""
    integration = Integration.objects.select_related("connector").filter(connector_id=connector_id).first()
    if integration is not None:
        services.health_check(integration=integration)
