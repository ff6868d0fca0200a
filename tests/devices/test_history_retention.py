"""Value history kept bounded (#19): retention per platform and per connector, the removal of
deleted devices' and connectors' points, and on PostgreSQL the daily partitions the
maintenance task keeps ahead and drops when old."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from connectors.services import connector_delete
from devices import partitions
from devices.models import HistoryPurge, ValuePoint
from devices.services import device_delete
from devices.services.history import history_maintain
from tests.factories import make_connector, make_device, make_resource
from tests.web.conftest import page_text
from tests.web.test_connector_pages import BASE_SETTINGS

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
DAY = timedelta(days=1)


def us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def add_points(device, *moments: datetime, alias: str = "temp") -> None:
    ValuePoint.objects.bulk_create(
        [ValuePoint(device=device, alias=alias, timestamp=us(m), value=str(i)) for i, m in enumerate(moments)]
    )


def history_of(api, connector, identity: str) -> list[int]:
    """The timestamps the management API shows for the device's ``temp``, newest first."""
    response = api.get(
        f"/api/v1/connectors/{connector.pk}/devices/{identity}/history/", {"alias": "temp", "limit": 1000}
    )
    assert response.status_code == 200, response.content
    return [point["timestamp"] for point in response.json()]


@pytest.fixture
def owner_api(api, owner):
    return api(owner)


# --- The setting --------------------------------------------------------------------------------


def test_connector_json_shows_retention_and_patch_changes_it(owner_api, connector, settings):
    settings.HISTORY_RETENTION_DAYS = 90
    path = f"/api/v1/connectors/{connector.pk}/"
    assert owner_api.get(path).json()["history"] == {"retention_days": None, "effective_retention_days": 90}
    response = owner_api.patch(path, {"history": {"retention_days": 7}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["history"] == {"retention_days": 7, "effective_retention_days": 7}
    response = owner_api.patch(path, {"history": {"retention_days": 0}}, format="json")
    assert response.json()["history"] == {"retention_days": 0, "effective_retention_days": 0}  # forever
    response = owner_api.patch(path, {"history": {"retention_days": None}}, format="json")
    assert response.json()["history"] == {"retention_days": None, "effective_retention_days": 90}


@pytest.mark.parametrize("bad", [-1, 36_501, "ten", 1.5, [7]])
def test_bad_retention_is_a_400_that_changes_nothing(owner_api, connector, bad):
    path = f"/api/v1/connectors/{connector.pk}/"
    owner_api.patch(path, {"history": {"retention_days": 30}}, format="json")
    response = owner_api.patch(path, {"history": {"retention_days": bad}}, format="json")
    assert response.status_code == 400
    assert "retention_days" in response.json()["history"]
    assert owner_api.get(path).json()["history"]["retention_days"] == 30


def test_settings_tab_sets_retention(web, owner, connector, settings):
    settings.HISTORY_RETENTION_DAYS = 90
    client = web(owner)
    html = page_text(client.get(f"/connectors/{connector.pk}/settings/"))
    assert "<legend>Value history</legend>" in html
    assert "empty follows the platform&#x27;s default (90 days)" in html
    url = f"/connectors/{connector.pk}/settings/"
    response = client.post(url, {**BASE_SETTINGS, "devmode": "on", "history_retention_days": "14"})
    assert response.status_code == 302
    connector.refresh_from_db()
    assert connector.history_retention_days == 14
    response = client.post(url, {**BASE_SETTINGS, "devmode": "on", "history_retention_days": "-3"})
    assert response.status_code == 400
    html = page_text(response)
    error = html.index('id="id_history_retention_days_error"')
    assert "greater than or equal to 0" in html[error : error + 300]
    connector.refresh_from_db()
    assert connector.history_retention_days == 14
    client.post(url, {**BASE_SETTINGS, "devmode": "on", "history_retention_days": ""})
    connector.refresh_from_db()
    assert connector.history_retention_days is None  # the platform's default again


# --- Retention ----------------------------------------------------------------------------------


def test_retention_removes_old_points_per_connector(owner_api, business, settings):
    """Platform default 30 days, one connector keeping 7 and one keeping everything: each
    loses exactly the days past its own retention (whole UTC days)."""
    settings.HISTORY_RETENTION_DAYS = 30
    default = make_connector(business=business, name="Default")
    short = make_connector(business=business, name="Short", history_retention_days=7)
    forever = make_connector(business=business, name="Forever", history_retention_days=0)
    ages = [0, 6, 8, 29, 31, 400]
    for connector in (default, short, forever):
        make_resource(connector=connector, alias="temp", format="number")
        add_points(make_device(connector=connector, identity="d1"), *[NOW - age * DAY for age in ages])

    report = history_maintain(now=NOW)

    assert history_of(owner_api, default, "d1") == [us(NOW - a * DAY) for a in (0, 6, 8, 29)]
    assert history_of(owner_api, short, "d1") == [us(NOW - a * DAY) for a in (0, 6)]
    assert history_of(owner_api, forever, "d1") == [us(NOW - a * DAY) for a in ages]
    assert report.points_deleted == 2 + 4


def test_one_retention_for_all_goes_by_time(owner_api, connector, settings):
    settings.HISTORY_RETENTION_DAYS = 3
    make_resource(connector=connector, alias="temp", format="number")
    device = make_device(connector=connector, identity="d1")
    add_points(device, NOW, NOW - 2 * DAY, NOW - 4 * DAY, NOW - 5 * DAY)
    settings.HISTORY_DELETE_BATCH = 1  # several batches
    report = history_maintain(now=NOW)
    assert history_of(owner_api, connector, "d1") == [us(NOW), us(NOW - 2 * DAY)]
    assert report.points_deleted == 2


def test_retention_zero_keeps_everything(owner_api, connector, settings):
    settings.HISTORY_RETENTION_DAYS = 0
    make_resource(connector=connector, alias="temp", format="number")
    add_points(make_device(connector=connector, identity="d1"), NOW, NOW - 3000 * DAY)
    history_maintain(now=NOW)
    assert len(history_of(owner_api, connector, "d1")) == 2


def test_a_second_run_at_once_does_nothing(connector, settings):
    from django.core.cache import cache

    cache.add("devices:history-maintain", "another", timeout=60)
    assert history_maintain(now=NOW).skipped == "another run is under way"


# --- Deletion -----------------------------------------------------------------------------------


def test_device_delete_removes_its_history_after_commit(connector, django_capture_on_commit_callbacks):
    make_resource(connector=connector, alias="temp", format="number")
    gone, kept = make_device(connector=connector), make_device(connector=connector)
    add_points(gone, NOW, NOW - DAY)
    add_points(kept, NOW)
    gone_id = gone.pk
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        device_delete(device=gone)
    # The request is done: the points are still there, queued.
    assert ValuePoint.objects.filter(device_id=gone_id).count() == 2
    assert HistoryPurge.objects.filter(device_id=gone_id).exists()
    for callback in callbacks:
        callback()  # the background purge
    assert not ValuePoint.objects.filter(device_id=gone_id).exists()
    assert not HistoryPurge.objects.exists()
    assert ValuePoint.objects.filter(device=kept).count() == 1


def test_connector_delete_queues_every_device_and_the_purge_removes_their_points(
    business, django_capture_on_commit_callbacks, settings
):
    settings.HISTORY_DELETE_BATCH = 3
    doomed = make_connector(business=business, name="Doomed")
    other = make_connector(business=business, name="Other")
    ids = []
    for _ in range(4):
        device = make_device(connector=doomed)
        add_points(device, *[NOW - i * timedelta(minutes=1) for i in range(5)])
        ids.append(device.pk)
    survivor = make_device(connector=other)
    add_points(survivor, NOW)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        connector_delete(connector=doomed)
    assert set(HistoryPurge.objects.values_list("device_id", flat=True)) == set(ids)
    assert ValuePoint.objects.filter(device_id__in=ids).count() == 20
    for callback in callbacks:
        callback()
    assert not ValuePoint.objects.filter(device_id__in=ids).exists()
    assert ValuePoint.objects.filter(device=survivor).count() == 1


def test_maintenance_purges_what_a_lost_task_left(connector):
    """The purge task was lost (broker down): the hourly run does it."""
    device = make_device(connector=connector)
    add_points(device, NOW)
    HistoryPurge.objects.create(device_id=device.pk)
    report = history_maintain(now=NOW)
    assert report.devices_purged == 1
    assert not ValuePoint.objects.filter(device=device).exists()


# --- Partitions (PostgreSQL) --------------------------------------------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="time partitions exist on PostgreSQL only"
)


def test_history_is_partitioned_on_postgresql_only(db):
    if connection.vendor == "postgresql":
        assert partitions.partitioned()
    else:
        assert not partitions.partitioned()


@needs_postgresql
@pytest.mark.django_db
def test_partitions_are_created_ahead(settings):
    settings.HISTORY_PARTITIONS_AHEAD_DAYS = 5
    later = NOW + 40 * DAY
    report = history_maintain(now=later)
    days = {p.start for p in partitions.partitions() if not p.is_default}
    for offset in range(6):
        assert partitions.day_start_us((later + offset * DAY).date()) in days
    assert len(report.partitions_created) == 6
    assert history_maintain(now=later).partitions_created == []  # already there


@needs_postgresql
def test_points_in_the_default_partition_move_into_a_new_day(owner_api, connector):
    make_resource(connector=connector, alias="temp", format="number")
    device = make_device(connector=connector, identity="d1")
    future = NOW + 60 * DAY  # no partition yet: the default one takes it
    add_points(device, future)
    assert _partition_of(device) == partitions.DEFAULT_PARTITION
    history_maintain(now=future)
    assert _partition_of(device) == f"devices_valuepoint_p{future:%Y%m%d}"
    assert history_of(owner_api, connector, "d1") == [us(future)]


@needs_postgresql
def test_old_partitions_are_dropped_whole(owner_api, connector, settings):
    settings.HISTORY_RETENTION_DAYS = 10
    make_resource(connector=connector, alias="temp", format="number")
    device = make_device(connector=connector, identity="d1")
    later = NOW + 31 * DAY
    history_maintain(now=NOW + 20 * DAY)  # partitions for days 20..27
    add_points(device, NOW + 20 * DAY, NOW + 25 * DAY, later)
    report = history_maintain(now=later)
    # Kept 10 whole days: on day 31, days 21 to 31 remain and day 20's partition goes.
    assert f"devices_valuepoint_p{NOW + 20 * DAY:%Y%m%d}" in report.partitions_dropped
    names = {p.name for p in partitions.partitions()}
    assert f"devices_valuepoint_p{NOW + 20 * DAY:%Y%m%d}" not in names
    assert f"devices_valuepoint_p{NOW + 25 * DAY:%Y%m%d}" in names
    assert history_of(owner_api, connector, "d1") == [us(later), us(NOW + 25 * DAY)]
    assert report.points_deleted == 0  # nothing deleted row by row


@needs_postgresql
def test_a_connector_keeping_forever_keeps_partitions(owner_api, business, settings):
    settings.HISTORY_RETENTION_DAYS = 10
    keeper = make_connector(business=business, name="Keeper", history_retention_days=0)
    other = make_connector(business=business, name="Other")
    for connector in (keeper, other):
        make_resource(connector=connector, alias="temp", format="number")
    history_maintain(now=NOW + 20 * DAY)
    add_points(make_device(connector=keeper, identity="k"), NOW + 20 * DAY)
    add_points(make_device(connector=other, identity="o"), NOW + 20 * DAY)
    report = history_maintain(now=NOW + 40 * DAY)
    assert report.partitions_dropped == []
    assert history_of(owner_api, keeper, "k") == [us(NOW + 20 * DAY)]
    assert history_of(owner_api, other, "o") == []  # deleted row by row instead
    assert report.points_deleted == 1


def _partition_of(device) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM devices_valuepoint WHERE device_id = %s", [device.pk]
        )
        (name,) = cursor.fetchone()
    return name


@needs_postgresql
def test_a_day_left_detached_by_a_cut_short_drop_is_dropped_next_time(connector, settings):
    settings.HISTORY_RETENTION_DAYS = 10
    make_resource(connector=connector, alias="temp", format="number")
    add_points(make_device(connector=connector), NOW)
    history_maintain(now=NOW + 20 * DAY)
    name = f"devices_valuepoint_p{NOW + 20 * DAY:%Y%m%d}"
    with connection.cursor() as cursor:  # what a drop that died between its two steps leaves
        cursor.execute(f"ALTER TABLE devices_valuepoint DETACH PARTITION {name}")
    report = history_maintain(now=NOW + 25 * DAY)  # day 20 is kept 10 days: until day 31
    assert name not in report.partitions_dropped  # not yet: a day kept by hand stays
    report = history_maintain(now=NOW + 31 * DAY)
    assert name in report.partitions_dropped
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        assert cursor.fetchone() == (None,)
