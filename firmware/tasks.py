"""Celery tasks of firmware updates: each takes ids and calls one service."""

from celery import shared_task

from firmware import services


@shared_task(name="firmware.rollout_advance", ignore_result=True)
def rollout_advance_task(rollout_id: int) -> None:
    """Send a rollout's current wave, pause or complete it (``services.rollout_advance``)."""
    services.rollout_advance(rollout_id=rollout_id)


@shared_task(name="firmware.rollouts_tick", ignore_result=True)
def rollouts_tick_task() -> None:
    """The rollout scheduler, run by Celery beat: timeouts, then waves (``services.rollouts_tick``)."""
    services.rollouts_tick()
