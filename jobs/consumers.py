"""Websocket consumer: a job's progress, live (the CSV import's progress bar)."""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from devices.consumers import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from jobs.api.serializers import JobSerializer
from jobs.events import job_group
from jobs.selectors import job_get_for_user


@database_sync_to_async
def _job_for_user(user, job_id) -> tuple[dict | None, int]:
    if user is None or not user.is_authenticated:
        return None, CLOSE_UNAUTHENTICATED
    try:
        job = job_get_for_user(user=user, job_id=job_id)
    except Http404:
        return None, CLOSE_NOT_FOUND
    return JobSerializer(job).data, 0


class JobProgressConsumer(AsyncWebsocketConsumer):
    """Sends ``{"kind": "job", "job": {...}}``: the job as the API shows it on open, its counts
    on every progress push, and the whole job again (its refused rows included) when it ends,
    after which the socket closes. Scoped like the jobs API (someone else's job: 4404)."""

    async def connect(self):
        self.group = None
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        job, close_code = await _job_for_user(self.scope.get("user"), self.job_id)
        await self.accept()
        if job is None:
            await self.close(code=close_code)
            return
        # Join before sending the snapshot: a push that lands in between is sent after it.
        self.group = job_group(job["id"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._send_job(job)

    async def disconnect(self, code):
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        return  # one-way stream

    async def job_progress(self, message):
        progress = {key: value for key, value in message.items() if key != "type"}
        if progress.get("state") in ("finished", "failed"):
            job, _ = await _job_for_user(self.scope.get("user"), self.job_id)
            progress = job or progress
        await self._send_job(progress)

    async def _send_job(self, job: dict):
        await self.send(text_data=json.dumps({"kind": "job", "job": job}, default=str))
        if job.get("state") in ("finished", "failed"):
            await self.close()
