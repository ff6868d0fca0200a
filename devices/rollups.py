"""Roll-ups of value history: each device alias's points added up per five minutes
(``ValueRollup``), so that a downsampled read of a month of 1 Hz data sums ~8,600 rows instead
of 2.6 M points (docs/operations.md#value-history).

Nothing is added to the write path. ``rollup_run`` (the ``devices.history_rollup`` beat task,
every ``HISTORY_ROLLUP_SECONDS``) adds the points written since its previous run, found by id
(on PostgreSQL, on each partition's primary key), and merges them into the blocks they fall in
(counts and sums add, minimum, maximum and latest compare), so a point recorded late, with a
timestamp in the past, joins its old block too. It rolls up to the ids and time its previous
run saw, not its own: a transaction that had taken an id then has committed since.

A read (``rollup_partials``) sums the blocks inside its range up to the latest run's
``rolled_until`` and reads raw points for the rest (the range's unaligned edges and the last
minutes). A point recorded late is in downsampled reads from the second run after it.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from devices.models import RollupRun, ValuePoint, ValueRollup

BLOCK_US = 300 * 1_000_000
# Points rolled per statement (a first run over a migrated table goes in slices).
_SLICE_IDS = 1_000_000
# The time mark trails the run by this much: a write that took its id after the id mark was
# read stamped its point after this (its timestamp is the server's clock at the write).
_MARGIN_US = 60 * 1_000_000
# Runs kept (the admin lists them: when, how far, how many blocks).
_RUNS_KEPT = 200
_LOCK_KEY = "devices:history-rollup"
# A recorded value that is a plain number, with an exponent of at most two digits: what the
# database can cast to a double on both backends (text that is not one is left out of sums,
# minimums and maximums, e.g. values recorded before a resource became numeric).
NUMBER_PATTERN = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]{1,2})?$"

_POINTS = ValuePoint._meta.db_table
_ROLLUPS = ValueRollup._meta.db_table


@dataclass
class Partial:
    """A bucket's share from one source (roll-ups or raw points), to add to the others'."""

    count: int  # numbers (numeric reads) or every point
    total: float | None
    low: float | None
    high: float | None
    last_key: tuple[int, int] | None  # (timestamp, id) of the latest point
    last_value: str | None

    def add(self, other: "Partial") -> None:
        self.count += other.count
        self.total = _combine(lambda a, b: a + b, self.total, other.total)
        self.low = _combine(min, self.low, other.low)
        self.high = _combine(max, self.high, other.high)
        if other.last_key is not None and (self.last_key is None or other.last_key > self.last_key):
            self.last_key, self.last_value = other.last_key, other.last_value


def _combine(how, a, b):
    return b if a is None else a if b is None else how(a, b)


def _floor(us: int) -> int:
    return us - us % BLOCK_US


def _newest_id() -> int:
    """The latest id handed out to a point (committed or not)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {_POINTS}_id_seq")
        else:
            cursor.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = %s", [_POINTS])
        return cursor.fetchone()[0]


def rollup_run() -> int:
    """Roll up the points written up to the previous run's marks; returns how many blocks were
    written. One run at a time (a lock in the shared cache): two would add points twice."""
    token = f"{timezone.now().timestamp()}"
    if not cache.add(_LOCK_KEY, token, timeout=3600):
        return 0
    try:
        return _rollup_run()
    finally:
        if cache.get(_LOCK_KEY) == token:
            cache.delete(_LOCK_KEY)


def _rollup_run() -> int:
    previous = RollupRun.objects.order_by("-id").first()
    now_us = int(timezone.now().timestamp() * 1_000_000)
    run = RollupRun.objects.create(
        seen_max_id=_newest_id(),
        seen_until=_floor(now_us - _MARGIN_US),
        rolled_max_id=previous.rolled_max_id if previous else 0,
    )
    if previous is not None:
        # Up to the previous run's marks (a run cut short rolled part of the way: on from there).
        start = run.rolled_max_id
        while start < previous.seen_max_id:
            end = min(start + _SLICE_IDS, previous.seen_max_id)
            with transaction.atomic():
                run.blocks += _merge(start, end)
                run.rolled_max_id = end
                run.save(update_fields=["blocks", "rolled_max_id"])
            start = end
        run.rolled_until = previous.seen_until
    run.finished_at = timezone.now()
    run.save(update_fields=["rolled_until", "finished_at"])
    RollupRun.objects.filter(id__lt=run.pk - _RUNS_KEPT).delete()
    return run.blocks


def _merge(after_id: int, up_to_id: int) -> int:
    """Add the points with ids in ``(after_id, up_to_id]`` to their blocks (one statement)."""
    postgresql = connection.vendor == "postgresql"
    number = "value::float8" if postgresql else "CAST(value AS REAL)"
    matches = "value ~ %s" if postgresql else "value REGEXP %s"
    low = (
        "least(r.low, excluded.low)"
        if postgresql
        else "coalesce(min(r.low, excluded.low), r.low, excluded.low)"
    )
    high = (
        "greatest(r.high, excluded.high)"
        if postgresql
        else "coalesce(max(r.high, excluded.high), r.high, excluded.high)"
    )
    newer = "(excluded.last_timestamp, excluded.last_id) > (r.last_timestamp, r.last_id)"
    block = f"timestamp - timestamp %% {BLOCK_US}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH point AS (SELECT device_id, alias, {block} AS block, timestamp, id, value, "
            f"CASE WHEN {matches} THEN {number} END AS n, row_number() OVER ("
            f"PARTITION BY device_id, alias, {block} ORDER BY timestamp DESC, id DESC) AS newest "
            f"FROM {_POINTS} WHERE id > %s AND id <= %s) "
            f"INSERT INTO {_ROLLUPS} AS r (device_id, alias, start, count, numbers, total, low, high, "
            "last_timestamp, last_id, last_value) "
            "SELECT device_id, alias, block, count(*), count(n), sum(n), min(n), max(n), "
            "max(CASE WHEN newest = 1 THEN timestamp END), max(CASE WHEN newest = 1 THEN id END), "
            "max(CASE WHEN newest = 1 THEN value END) "
            # (WHERE true: SQLite's parser needs it before ON CONFLICT after a SELECT.)
            "FROM point WHERE true GROUP BY device_id, alias, block "
            "ON CONFLICT (device_id, alias, start) DO UPDATE SET "
            "count = r.count + excluded.count, numbers = r.numbers + excluded.numbers, "
            "total = CASE WHEN r.total IS NULL THEN excluded.total WHEN excluded.total IS NULL "
            "THEN r.total ELSE r.total + excluded.total END, "
            f"low = {low}, high = {high}, "
            f"last_timestamp = CASE WHEN {newer} THEN excluded.last_timestamp ELSE r.last_timestamp END, "
            f"last_id = CASE WHEN {newer} THEN excluded.last_id ELSE r.last_id END, "
            f"last_value = CASE WHEN {newer} THEN excluded.last_value ELSE r.last_value END",
            [NUMBER_PATTERN, after_id, up_to_id],
        )
        return cursor.rowcount


def rolled_span(*, since_us: int | None, until_us: int | None, every_us: int) -> tuple[int, int] | None:
    """The part ``[start, end)`` of a read's range that roll-ups answer: whole blocks inside
    the range and before the latest run's ``rolled_until``, when buckets are whole blocks
    (``every`` a multiple of five minutes); None when they cannot answer any of it."""
    if every_us % BLOCK_US:
        return None
    rolled_until = (
        RollupRun.objects.filter(rolled_until__isnull=False)
        .order_by("-id")
        .values_list("rolled_until", flat=True)
        .first()
    )
    if rolled_until is None:
        return None
    start = -(2**62) if since_us is None else -(-since_us // BLOCK_US) * BLOCK_US
    end = rolled_until if until_us is None else min(rolled_until, _floor(until_us + 1))
    return (start, end) if start < end else None


def rollup_partials(
    *, device_id: int, alias: str, numeric: bool, every_us: int, start: int, end: int, limit: int
) -> dict[int, Partial]:
    """``{bucket start: Partial}`` of the blocks in ``[start, end)``, the newest ``limit``."""
    count = "sum(numbers)" if numeric else "sum(count)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t, {count}, sum(total), min(low), max(high), "
            "max(CASE WHEN newest = 1 THEN last_timestamp END), max(CASE WHEN newest = 1 THEN last_id END), "
            "max(CASE WHEN newest = 1 THEN last_value END) "
            "FROM (SELECT start - start %% %s AS t, count, numbers, total, low, high, last_timestamp, "
            "last_id, last_value, row_number() OVER (PARTITION BY start - start %% %s "
            "ORDER BY last_timestamp DESC, last_id DESC) AS newest "
            f"FROM {_ROLLUPS} WHERE device_id = %s AND alias = %s AND start >= %s AND start < %s"
            + (" AND numbers > 0" if numeric else "")
            + ") AS block GROUP BY t ORDER BY t DESC LIMIT %s",
            [every_us, every_us, device_id, alias, start, end, limit],
        )
        return {
            t: Partial(int(n), total, low, high, (last_ts, last_id), last_value)
            for t, n, total, low, high, last_ts, last_id, last_value in cursor.fetchall()
        }
