"""A job's progress over ``/ws/jobs/<id>/``: the job on open, each push, the whole job (refused
rows included) when it ends; someone else's job is refused."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from jobs.models import Job, JobKind
from jobs.services import job_claim, job_create, job_finish, job_progress
from tests.devices.test_logs_websocket import session_headers
from tests.factories import make_connector, make_member
from tests.live import free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("handler_threads_do_not_keep_connections"),
]


@pytest.fixture
def job_world(db):
    owner = make_member(business_name="Acme", role="viewer").user
    outsider = make_member(business_name="Globex", role="admin").user
    business = owner.businesses.get()
    connector = make_connector(business=business, devmode=True)
    job = job_create(kind=JobKind.DEVICE_IMPORT, business=business, connector=connector, created_by=owner)
    return owner, outsider, job


async def open_job(job_id, headers):
    from murano.asgi import application

    communicator = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


def test_progress_is_pushed_and_the_socket_closes_with_the_whole_job(job_world, settings):
    settings.JOB_PROGRESS_REFRESH_SECONDS = 60  # only pushes move the bar here
    owner, _, job = job_world
    headers = session_headers(owner)

    def run_job():  # as a worker would, in a thread of its own
        try:
            claimed = job_claim(job_id=job.pk)
            job_progress(job=claimed, total=3, done=2, created=2)
            refused = [{"line": 4, "identity": "bad id", "reason": "has a space"}]
            job_progress(job=claimed, done=3, error_count=1, errors=refused)
            job_finish(job=claimed)
        finally:
            connections.close_all()  # the executor's thread outlives the test and its database

    async def scenario():
        communicator = await open_job(job.pk, headers)
        opened = await communicator.receive_json_from(timeout=5)
        await asyncio.get_running_loop().run_in_executor(None, run_job)
        messages = []
        while True:
            output = await communicator.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                break
            messages.append(json.loads(output["text"]))
        return opened, messages

    opened, messages = async_to_sync(scenario)()
    assert opened["kind"] == "job"
    assert opened["job"]["state"] == "queued" and opened["job"]["id"] == str(job.pk)
    states = [(m["job"]["state"], m["job"]["done"]) for m in messages]
    assert states == [("running", 0), ("running", 2), ("running", 3), ("finished", 3)]
    final = messages[-1]["job"]
    assert (final["total"], final["created"], final["error_count"]) == (3, 2, 1)
    assert final["errors"] == [{"line": 4, "identity": "bad id", "reason": "has a space"}]


def test_progress_that_was_never_pushed_still_reaches_the_page(job_world, settings):
    """A worker whose pushes cannot reach this process (the embedded in-memory channel layer):
    the consumer re-reads the job and the bar still moves to the end."""
    settings.JOB_PROGRESS_REFRESH_SECONDS = 0.05
    owner, _, job = job_world
    headers = session_headers(owner)
    quietly = Job.objects.filter(pk=job.pk)

    async def scenario():
        communicator = await open_job(job.pk, headers)
        seen = [(await communicator.receive_json_from(timeout=5))["job"]]
        for state, done in (("running", 40), ("running", 100)):
            await database_sync_to_async(quietly.update)(state=state, total=100, done=done, created=done)
            seen.append((await communicator.receive_json_from(timeout=5))["job"])
        await database_sync_to_async(quietly.update)(state="finished")
        seen.append((await communicator.receive_json_from(timeout=5))["job"])
        closed = await communicator.receive_output(timeout=5)
        return seen, closed

    seen, closed = async_to_sync(scenario)()
    assert [(job["state"], job["done"]) for job in seen] == [
        ("queued", 0),
        ("running", 40),
        ("running", 100),
        ("finished", 100),
    ]
    assert seen[-1]["created"] == 100 and seen[-1]["errors"] == []
    assert closed["type"] == "websocket.close"


def test_a_finished_job_answers_once_and_closes(job_world):
    owner, _, job = job_world
    job_finish(job=job_claim(job_id=job.pk))
    headers = session_headers(owner)

    async def scenario():
        communicator = await open_job(job.pk, headers)
        message = await communicator.receive_json_from(timeout=5)
        closed = await communicator.receive_output(timeout=5)
        return message, closed

    message, closed = async_to_sync(scenario)()
    assert message["job"]["state"] == "finished"
    assert closed["type"] == "websocket.close"


@pytest.mark.parametrize("who", ["outsider", "anonymous", "not-a-job"])
def test_someone_elses_or_no_job_is_refused(job_world, who):
    _, outsider, job = job_world
    headers = session_headers(outsider) if who != "anonymous" else [(b"origin", b"http://localhost")]
    job_id = "not-a-uuid" if who == "not-a-job" else job.pk

    async def scenario():
        communicator = await open_job(job_id, headers)
        return await communicator.receive_output(timeout=5)

    closed = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": 4401 if who == "anonymous" else 4404}


def test_without_redis_the_bar_still_moves_by_re_reading_the_job(job_world, settings):
    """Redis (which carries the pushes) cannot be reached: the socket opens all the same and
    follows the job in the database to its end."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},  # nothing listens there
        }
    }
    settings.JOB_PROGRESS_REFRESH_SECONDS = 0.05
    owner, _, job = job_world
    headers = session_headers(owner)
    quietly = Job.objects.filter(pk=job.pk)

    async def scenario():
        communicator = await open_job(job.pk, headers)
        seen = [(await communicator.receive_json_from(timeout=5))["job"]]
        await database_sync_to_async(quietly.update)(state="running", total=10, done=10, created=10)
        seen.append((await communicator.receive_json_from(timeout=5))["job"])
        await database_sync_to_async(quietly.update)(state="finished")
        seen.append((await communicator.receive_json_from(timeout=5))["job"])
        return seen, await communicator.receive_output(timeout=5)

    seen, closed = async_to_sync(scenario)()
    assert [(job["state"], job["done"]) for job in seen] == [("queued", 0), ("running", 10), ("finished", 10)]
    assert closed["type"] == "websocket.close"
