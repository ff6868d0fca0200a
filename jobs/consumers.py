"""Websocket consumer: a job's progress, live (the CSV import's progress bar)."""

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import Http404

from core.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, REDIS_DOWN, RedisAwareConsumer
from jobs.api.serializers import JobSerializer
from jobs.events import job_group
from jobs.selectors import job_get_for_user

FINAL_STATES = ("finished", "failed")
# The alias of no channel layer at all (``get_channel_layer`` answers None for it).
_NO_CHANNEL_LAYER = "none"

logger = logging.getLogger(__name__)
_NO_PUSHES = "job progress: Redis is unreachable (%s); following the job without pushes"


@database_sync_to_async
def _job_for_user(user, job_id) -> tuple[dict | None, int]:
    if user is None or not user.is_authenticated:
        return None, CLOSE_UNAUTHENTICATED
    try:
        job = job_get_for_user(user=user, job_id=job_id)
    except Http404:
        return None, CLOSE_NOT_FOUND
    return JobSerializer(job).data, 0


def _progress_key(job: dict) -> tuple:
    return tuple(job.get(key) for key in ("state", "total", "done", "error_count"))


class JobProgressConsumer(RedisAwareConsumer):
    """Sends ``{"kind": "job", "job": {...}}``: the job as the API shows it on open, its counts
    on every progress push, and the whole job again (its refused rows included) when it ends,
    after which the socket closes. Scoped like the jobs API (someone else's job: 4404).

    Pushes come from the worker through the channel layer. The consumer also re-reads the job
    every ``JOB_PROGRESS_REFRESH_SECONDS`` and sends it when it moved without a push: a push
    lost anywhere must not leave a progress bar stuck. For the same reason a Redis that cannot
    be reached costs the pushes only: the consumer then follows the job by re-reading it.
    """

    async def redis_down(self, exc, scope, receive, send) -> None:
        logger.warning(_NO_PUSHES, exc)
        self.channel_layer_alias = _NO_CHANNEL_LAYER
        await super(RedisAwareConsumer, self).__call__(scope, receive, send)

    async def connect(self):
        self.group = None
        self.refresher = None
        self.last_sent = None
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        job, close_code = await _job_for_user(self.scope.get("user"), self.job_id)
        await self.accept()
        if job is None:
            await self.close(code=close_code)
            return
        # Join before sending the snapshot: a push that lands in between is sent after it.
        if self.channel_layer is not None:
            try:
                await self.channel_layer.group_add(job_group(job["id"]), self.channel_name)
                self.group = job_group(job["id"])
            except REDIS_DOWN as exc:
                logger.warning(_NO_PUSHES, exc)
        await self._send_job(job)
        if job.get("state") not in FINAL_STATES:
            self.refresher = asyncio.create_task(self._refresh_from_database())

    async def disconnect(self, code):
        if self.refresher is not None:
            self.refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.refresher
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except REDIS_DOWN:
                pass  # nothing to leave: the subscription went with the connection

    async def receive(self, text_data=None, bytes_data=None):
        return  # one-way stream

    async def job_progress(self, message):
        progress = {key: value for key, value in message.items() if key != "type"}
        if progress.get("state") in FINAL_STATES:
            job, _ = await _job_for_user(self.scope.get("user"), self.job_id)
            progress = job or progress
        await self._send_job(progress)

    async def _refresh_from_database(self):
        interval = settings.JOB_PROGRESS_REFRESH_SECONDS
        while self.last_sent is None or self.last_sent[0] not in FINAL_STATES:
            await asyncio.sleep(interval)
            job, _ = await _job_for_user(self.scope.get("user"), self.job_id)
            if job is None:  # deleted, or access withdrawn
                await self.close(code=CLOSE_NOT_FOUND)
                return
            if _progress_key(job) != self.last_sent:
                await self._send_job(job, from_refresher=True)

    async def _send_job(self, job: dict, from_refresher: bool = False):
        key = _progress_key(job)
        if key == self.last_sent and job.get("state") not in FINAL_STATES:
            return  # a push and a re-read of the same progress: send it once
        self.last_sent = key
        await self.send(text_data=json.dumps({"kind": "job", "job": job}, default=str))
        if job.get("state") in FINAL_STATES:
            if self.refresher is not None and not from_refresher:
                self.refresher.cancel()
            await self.close()
