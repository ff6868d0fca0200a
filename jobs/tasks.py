"""Celery tasks of the jobs app: each calls one service."""

from celery import shared_task

from jobs.services import jobs_recover


@shared_task(name="jobs.recover", ignore_result=True)
def jobs_recover_task() -> None:
    """Resume or fail jobs whose worker died, hand lost jobs to the broker again, delete
    leftover uploads (``jobs.services.jobs_recover``); run by Celery beat."""
    jobs_recover()
