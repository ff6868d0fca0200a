"""The one way the platform queues a Celery task.

A task is queued once the caller's transaction commits, and queueing never fails the caller's
request: when the broker cannot be reached (Redis down or restarting) the task is not sent, a
warning says so, and the state the caller committed is what brings it back. Every task is one
that a periodic task finds again from the database: a queued job is handed again by
``jobs_recover``, a running rollout is advanced by the rollout scheduler's next tick.
"""

import logging

from celery import current_app
from celery.exceptions import NotRegistered
from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# What an unreachable broker looks like when a task is sent: kombu's OperationalError (Redis
# refused or gone, after kombu's own retries), or a socket or file error underneath it.
BROKER_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)


# One immediate retry (a pooled connection that went stale when Redis restarted), not kombu's
# default 0.6 s of retries: a device write that queues a task (otau_in advancing a rollout) must
# not wait on a broker that is down, and the database brings an unsent task back anyway.
_SEND_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


def _registered(name: str):
    """The task registered as ``name``. Celery imports the apps' ``tasks`` modules on its
    first need of them (a worker at start-up); a web process asks for that here."""
    try:
        return current_app.tasks[name]
    except NotRegistered:
        current_app.loader.import_default_modules()
        return current_app.tasks[name]


def task_send(task, *args, later: str = "") -> bool:
    """Queue ``task(*args)`` now; False when the broker cannot be reached (logged as a warning
    that says what will send it ``later``). ``task``: a task, or its registered name (so that a
    service need not import the tasks module that imports it)."""
    if isinstance(task, str):
        task = _registered(task)
    try:
        task.apply_async(args, retry_policy=_SEND_RETRY)
    except BROKER_ERRORS as exc:
        logger.warning(
            "could not queue %s%r: the broker is unreachable (%s)%s",
            task.name, args, exc, f"; {later}" if later else "",
        )  # fmt: skip
        return False
    return True


def task_send_on_commit(task, *args, later: str = "", on_failure=None) -> None:
    """Queue ``task(*args)`` once the current transaction commits (at once outside one), with
    ``task_send``; ``on_failure()`` runs when the broker could not take it."""

    def send() -> None:
        if not task_send(task, *args, later=later) and on_failure is not None:
            on_failure()

    transaction.on_commit(send)
