"""A worker's lease on the job it runs, kept fresh by a thread of its own.

Progress alone cannot prove a worker alive: counting a large file's rows, or one batch on a
busy database, can take longer than any lease worth having. The thread renews the lease every
``JOB_HEARTBEAT_SECONDS`` while the worker's own thread works; when the worker process dies
(``kill -9``, out of memory, machine gone) the renewals stop with it, and ``jobs_recover``
notices once the lease has run out (``JOB_LEASE_SECONDS``).
"""

import logging
import threading

from django.conf import settings
from django.db import connection

from jobs.models import Job
from jobs.services import JobLost, job_claim, job_heartbeat, worker_name

logger = logging.getLogger(__name__)


class JobLease:
    """``with JobLease(job): ...`` renews ``job``'s lease while the block runs.

    ``lost`` is set once a renewal finds that the job is no longer this attempt's; the worker's
    own next write raises ``JobLost`` then anyway. A renewal that fails (the database briefly
    unreachable) is logged and tried again at the next beat.
    """

    def __init__(self, job: Job):
        self.job = job
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-lease-{job.pk}", daemon=True)

    def __enter__(self) -> "JobLease":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = settings.JOB_HEARTBEAT_SECONDS
        try:
            while not self._stop.wait(interval):
                try:
                    if not job_heartbeat(job=self.job):
                        self.lost.set()
                        return
                except Exception:
                    logger.warning("job %s: could not renew its lease", self.job.pk, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


def job_run(*, job_id, label: str, work) -> None:
    """Run queued job ``job_id`` on this worker (what a job's Celery task calls): claim it (a
    second delivery of the task finds it taken, or a job deleted with its connector gone, and
    does nothing), hold its lease while ``work(job)`` runs, and stop quietly when the job was
    resumed elsewhere meanwhile (``JobLost``). ``label`` names the kind of job in the log."""
    job = job_claim(job_id=job_id, worker=worker_name())
    if job is None:
        logger.info("%s job %s: not queued, nothing to do", label, job_id)
        return
    with JobLease(job):
        try:
            work(job)
        except JobLost:
            logger.warning("%s job %s was resumed elsewhere meanwhile; this worker stops", label, job_id)
