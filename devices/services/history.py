"""Value history kept bounded: retention, the removal of deleted devices' points, and (on
PostgreSQL) the daily partitions (docs/operations.md#value-history).

Retention is counted in whole UTC days: with ``N`` days kept, the points of a day go once that
day ended ``N`` days ago (a point lives between ``N`` and ``N + 1`` days), the same on both
databases. On PostgreSQL a day whose points are all past every connector's retention is one
partition dropped at once; what is left (a connector keeping less than others, points in the
default partition, the partition of a migrated table) goes by batched deletes: short
statements of ``HISTORY_DELETE_BATCH`` points, each its own transaction, so no lock is held
long and devices keep writing.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from connectors.models import Connector
from core.tasks import task_send_on_commit
from devices import partitions, rollups
from devices.models import Device, HistoryPurge, ValuePoint, ValueRollup

logger = logging.getLogger(__name__)

_LOCK_KEY = "devices:history-maintain"
_TABLE = ValuePoint._meta.db_table
_DEVICES = Device._meta.db_table


@dataclass
class MaintenanceReport:
    """What one run of ``history_maintain`` did (logged, and returned to the caller)."""

    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    points_deleted: int = 0
    devices_purged: int = 0
    rollup_blocks: int = 0
    skipped: str = ""  # why nothing ran (another run holds the lock)

    def __str__(self):
        if self.skipped:
            return f"history maintenance skipped: {self.skipped}"
        return (
            f"history maintenance: {len(self.partitions_created)} partition(s) created, "
            f"{len(self.partitions_dropped)} dropped, {self.points_deleted} point(s) deleted, "
            f"{self.devices_purged} deleted device(s) purged, {self.rollup_blocks} roll-up block(s) written"
        )


def retention_cutoff_us(*, days: int, today: date) -> int | None:
    """Points before this instant (µs) are past a retention of ``days``; None when kept forever."""
    if days <= 0:
        return None
    return partitions.day_start_us(today - timedelta(days=days))


def history_forget_devices(device_ids) -> None:
    """Queue the history of devices being deleted for removal (in the caller's transaction:
    the queue and the deletion commit together), and start the purge once committed."""
    ids = list(device_ids)
    if not ids:
        return
    HistoryPurge.objects.bulk_create([HistoryPurge(device_id=pk) for pk in ids], ignore_conflicts=True)
    _purge_on_commit()


def history_forget_connector_devices(*, connector: Connector, **_) -> None:
    """``connectors.hooks.connector_deleting``: every device of the connector, queued in one
    statement (the points themselves go in the background)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {HistoryPurge._meta.db_table} (device_id, queued_at) "
            f"SELECT id, %s FROM {_DEVICES} WHERE connector_id = %s"
            + (" ON CONFLICT DO NOTHING" if connection.vendor == "postgresql" else ""),
            [timezone.now(), connector.pk],
        )
    _purge_on_commit()


def _purge_on_commit() -> None:
    task_send_on_commit(
        "devices.history_purge", later="the hourly history maintenance removes the points instead"
    )


def history_purge() -> int:
    """Remove the points of deleted devices, a batch at a time; returns how many devices were
    done. A device's queue row goes once none of its points is left."""
    done = 0
    while True:
        queued = list(HistoryPurge.objects.order_by("device_id").values_list("device_id", flat=True)[:500])
        if not queued:
            return done
        _delete_batched(f"device_id IN ({', '.join(['%s'] * len(queued))})", queued)
        HistoryPurge.objects.filter(device_id__in=queued).delete()
        done += len(queued)


def history_apply_retention(*, today: date, report: MaintenanceReport) -> None:
    """Remove the points past their connector's retention: whole partitions first (PostgreSQL),
    then batched deletes for the rest."""
    with_devices = Connector.objects.filter(Exists(Device.objects.filter(connector=OuterRef("pk"))))
    days_of = {
        c.pk: c.history_retention_effective_days for c in with_devices.only("pk", "history_retention_days")
    }
    if partitions.partitioned() and days_of and all(days > 0 for days in days_of.values()):
        # A partition may go once all of it is past every connector's retention.
        horizon = retention_cutoff_us(days=max(days_of.values()), today=today)
        for name in partitions.detached_leftovers(before_us=horizon):
            partitions.table_drop(name)
            report.partitions_dropped.append(name)
        for partition in partitions.partitions():
            if not partition.is_default and partition.end is not None and partition.end <= horizon:
                try:
                    partitions.partition_drop(partition)
                except DatabaseError as exc:  # a lock not granted in time: the next run drops it
                    logger.warning("history: could not drop %s yet: %s", partition.name, exc)
                else:
                    report.partitions_dropped.append(partition.name)
    cutoffs = {pk: retention_cutoff_us(days=days, today=today) for pk, days in days_of.items()}
    if len(set(cutoffs.values())) == 1 and None not in cutoffs.values():
        # One retention for every connector (the usual case): by time alone, which also takes
        # points of deleted devices still queued, and reads no device.
        (cutoff,) = set(cutoffs.values())
        report.points_deleted += _delete_batched("{time} < %s", [cutoff], before_us=cutoff)
        return
    for connector_id, cutoff in sorted(cutoffs.items()):
        if cutoff is not None:
            report.points_deleted += _delete_batched(
                f"{{time}} < %s AND device_id IN (SELECT id FROM {_DEVICES} WHERE connector_id = %s)",
                [cutoff, connector_id],
                before_us=cutoff,
            )


def _delete_batched(where: str, params: list, *, before_us: int | None = None) -> int:
    """Delete the points matching ``where`` (``{time}`` standing for their time column) in
    batches of ``HISTORY_DELETE_BATCH``, each batch a statement and transaction of its own, and
    then the roll-ups of the same devices and times; returns how many points. On PostgreSQL it
    goes partition by partition (only those holding points before ``before_us`` when given),
    by row address: a batch touches one partition and its own rows only."""
    quote = connection.ops.quote_name
    points_where = where.format(time="timestamp")
    tables = [_TABLE]
    if partitions.partitioned():
        tables = [
            p.name for p in partitions.partitions()
            if before_us is None or p.start is None or p.start < before_us
        ]  # fmt: skip
    deleted = sum(_delete_rows(quote(name), points_where, params) for name in tables)
    if before_us is None:
        _delete_rows(quote(ValueRollup._meta.db_table), where.format(time="start"), params)
    else:
        _delete_rollups_before(where.format(time="start"), params, before_us=before_us)
    return deleted


def _delete_rollups_before(where: str, params: list, *, before_us: int) -> None:
    """Delete old roll-ups a block of time per statement, walking up their ``start`` index:
    each statement finds its rows by index range, not behind those the previous ones deleted
    (batches of "the first N rows" re-read every dead entry until vacuum, which made a day of
    2.9 M roll-ups take 27 s)."""
    table = connection.ops.quote_name(ValueRollup._meta.db_table)
    step = rollups.BLOCK_US
    low = -(2**62)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(start) FROM {table} WHERE start >= %s AND {where}", [low, *params])
            (low,) = cursor.fetchone()
        if low is None or low >= before_us:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE start >= %s AND start < %s AND {where}",
                [low, min(low + step, before_us), *params],
            )
        low += step


def _delete_rows(table: str, where: str, params: list) -> int:
    """Delete a table's rows matching ``where``, a batch per statement: by row address on
    PostgreSQL (each partition of the history table alone), by rowid on SQLite."""
    batch = settings.HISTORY_DELETE_BATCH
    if connection.vendor == "postgresql":
        picked = f"SELECT ctid FROM {table} WHERE {where} LIMIT {batch}"
        sql = f"DELETE FROM {table} WHERE ctid = ANY(ARRAY({picked}))"
    else:
        sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT {batch})"
    return _delete_loop(sql, params)


def _delete_loop(sql: str, params: list) -> int:
    """Run a batch delete until a batch finds fewer rows than a batch holds."""
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            count = cursor.rowcount
        deleted += count
        if count < settings.HISTORY_DELETE_BATCH:
            return deleted


def history_maintain(*, now: datetime | None = None) -> MaintenanceReport:
    """The hourly task: partitions ahead (PostgreSQL), retention, deleted devices' points, and
    a roll-up run (which has a task of its own, more often).
    One run at a time across the platform (a lock in the shared cache)."""
    report = MaintenanceReport()
    token = f"{time.time()}"
    if not cache.add(_LOCK_KEY, token, timeout=max(settings.HISTORY_MAINTENANCE_SECONDS, 600)):
        report.skipped = "another run is under way"
        return report
    try:
        today = (now or timezone.now()).date()
        if partitions.partitioned():
            report.partitions_created = partitions.partitions_ensure(
                today=today, ahead_days=settings.HISTORY_PARTITIONS_AHEAD_DAYS
            )
        history_apply_retention(today=today, report=report)
        report.devices_purged = history_purge()
        report.rollup_blocks = rollups.rollup_run()
    finally:
        if cache.get(_LOCK_KEY) == token:
            cache.delete(_LOCK_KEY)
    logger.info("%s", report)
    return report
