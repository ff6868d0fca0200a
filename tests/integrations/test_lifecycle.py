"""An integration's life around its API calls: each integration's runs are scheduled by Celery
beat (a django-celery-beat periodic task of its own, every ``interval_seconds``), what beat would
call queues a run unless one is under way, the schedule goes with the integration and with its
connector; saving checks the health at once; a PUT that leaves out the configuration or the sync
settings keeps them."""

import json

import pytest
from django_celery_beat.models import PeriodicTask

from connectors.services import connector_delete
from integrations import tasks
from jobs.models import Job, JobKind, JobState
from tests.integrations.conftest import integration_body


def _url(connector):
    return f"/api/v1/connectors/{connector.pk}/integration/"


def _schedule(connector):
    return PeriodicTask.objects.filter(name=f"integration-sync:{connector.pk}").first()


@pytest.mark.django_db
def test_saving_an_integration_schedules_its_runs_at_its_interval(api, owner, connector, pump_cloud):
    client = api(owner)
    assert client.put(_url(connector), integration_body(pump_cloud), format="json").status_code == 200
    task = _schedule(connector)
    assert task.task == "integrations.sync_scheduled"
    assert json.loads(task.args) == [connector.pk]
    assert (task.interval.every, task.interval.period, task.enabled) == (60, "seconds", True)

    body = integration_body(pump_cloud, interval_seconds=900, enabled=False)
    assert client.put(_url(connector), body, format="json").status_code == 200
    task = _schedule(connector)
    assert (task.interval.every, task.enabled) == (900, False)
    assert PeriodicTask.objects.filter(name__startswith="integration-sync:").count() == 1

    assert client.delete(_url(connector)).status_code == 204
    assert _schedule(connector) is None


@pytest.mark.django_db
def test_a_deleted_connector_takes_its_schedule_along(api, owner, connector, pump_cloud):
    assert api(owner).put(_url(connector), integration_body(pump_cloud), format="json").status_code == 200
    connector_delete(connector=connector)
    assert _schedule(connector) is None


@pytest.mark.django_db(transaction=True)
def test_beat_runs_the_sync_and_does_not_stack_runs(api, owner, connector, pump_resources, pump_cloud):
    pump_cloud.add_assets(3)
    assert api(owner).put(_url(connector), integration_body(pump_cloud), format="json").status_code == 200

    tasks.sync_scheduled.delay(connector.pk)  # what beat sends (eager in tests: runs it here)

    job = Job.objects.get(connector=connector, kind=JobKind.INTEGRATION_SYNC)
    assert (job.state, job.total, job.created, job.error_count) == (JobState.FINISHED, 3, 3, 0)
    assert connector.devices.count() == 3

    # A run still queued (a slow worker): beat's next tick adds nothing.
    business = connector.business
    queued = Job.objects.create(kind=JobKind.INTEGRATION_SYNC, business=business, connector=connector)
    tasks.sync_scheduled.delay(connector.pk)
    assert list(Job.objects.filter(connector=connector, state=JobState.QUEUED)) == [queued]


@pytest.mark.django_db
def test_a_schedule_left_by_a_removed_integration_removes_itself(api, owner, connector, pump_cloud):
    assert api(owner).put(_url(connector), integration_body(pump_cloud), format="json").status_code == 200
    connector.integration.delete()  # behind the service's back (the admin, a restore)
    tasks.sync_scheduled.delay(connector.pk)
    assert _schedule(connector) is None
    assert not Job.objects.filter(connector=connector).exists()


@pytest.mark.django_db
def test_saving_checks_the_health_at_once(
    api, owner, connector, pump_cloud, django_capture_on_commit_callbacks, mailoutbox
):
    client = api(owner)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.put(_url(connector), integration_body(pump_cloud), format="json").status_code == 200
    health = client.get(_url(connector)).json()["health"]
    assert health["status"] == "healthy" and health["checked_at"] is not None
    assert pump_cloud.requests_to("/health")
    assert mailoutbox == []  # unknown → healthy: nothing to tell

    # New credentials that the API refuses: unhealthy at once, and the maintainer is told once.
    body = integration_body(pump_cloud)
    body["config"]["password"] = "not-the-password"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.put(_url(connector), body, format="json").status_code == 200
    health = client.get(_url(connector)).json()["health"]
    assert health["status"] == "unhealthy" and "401" in health["error"]
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]
    assert "not-the-password" not in mailoutbox[0].body


@pytest.mark.django_db
def test_a_put_without_config_or_sync_keeps_them(api, owner, connector, pump_cloud):
    client = api(owner)
    assert client.put(_url(connector), integration_body(pump_cloud), format="json").status_code == 200
    before = client.get(_url(connector)).json()

    answer = client.put(
        _url(connector), {"spec": before["spec"], "maintainer_email": "new@example.com"}, format="json"
    )

    assert answer.status_code == 200, answer.content
    after = answer.json()
    assert after["config"] == before["config"] == {"username": pump_cloud.username, "password": {"set": True}}
    assert after["sync"] == before["sync"] and after["maintainer_email"] == "new@example.com"
