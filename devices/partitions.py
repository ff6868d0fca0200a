"""The value-history table on PostgreSQL: declaratively partitioned by time, one partition per UTC
day (docs/operations.md#value-history).

Old points go by dropping whole partitions, which costs the write path nothing (no delete, no
vacuum of the table devices write to). Partitions are created ahead by the maintenance task
(``devices.services.history.history_maintain``); a ``DEFAULT`` partition takes any point no
daily partition covers (a record far in the past or future, or writes while the task did not
run), so a write never fails for want of a partition, and the next daily partition created over
such points takes them over.

SQLite keeps a plain table: nothing here runs there (``partitioned()`` is False).
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)

# ValuePoint's table (named here, not imported: the migration uses this module too).
TABLE = "devices_valuepoint"
DEFAULT_PARTITION = f"{TABLE}_default"
# Daily partitions are named after their day: devices_valuepoint_p20261206.
_DAILY_PREFIX = f"{TABLE}_p"
DAY_US = 86_400 * 1_000_000
# A maintenance statement waits at most this long for its lock, then gives up until the next run:
# a DDL lock queued behind a long read would otherwise hold up every write queued behind it.
LOCK_TIMEOUT = "500ms"


@dataclass(frozen=True)
class Partition:
    """One partition of the history table: ``[start, end)`` in µs (None: unbounded; both None
    for the default partition)."""

    name: str
    start: int | None
    end: int | None

    @property
    def is_default(self) -> bool:
        return self.start is None and self.end is None and self.name == DEFAULT_PARTITION


def partitioned() -> bool:
    """Whether this database keeps history in time partitions (PostgreSQL, once migrated)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return bool(row and row[0] == "p")


def day_start_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


_BOUND = re.compile(r"FOR VALUES FROM \((?P<start>[^)]*)\) TO \((?P<end>[^)]*)\)")


def _bound_value(text: str) -> int | None:
    text = text.strip().strip("'")
    return None if text.upper() in ("MINVALUE", "MAXVALUE") else int(text)


def partitions() -> list[Partition]:
    """The history table's partitions, oldest first (the default one last)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match is None:  # DEFAULT
            found.append(Partition(name, None, None))
        else:
            found.append(Partition(name, _bound_value(match["start"]), _bound_value(match["end"])))
    return sorted(found, key=lambda p: (p.is_default, p.start if p.start is not None else -(2**63)))


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def partition_create(day: date) -> str:
    """Create the partition of ``day`` (UTC) and attach it, moving into it any point of that day
    the default partition holds. Attaching takes a lock that lets writes go on (``SHARE UPDATE
    EXCLUSIVE`` on the table); the new table is empty or small. Returns its name."""
    name = f"{_DAILY_PREFIX}{day:%Y%m%d}"
    start, end = day_start_us(day), day_start_us(day + timedelta(days=1))
    columns = "id, alias, timestamp, value, device_id"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f"CREATE TABLE {_quote(name)} (LIKE {_quote(TABLE)} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {_quote(DEFAULT_PARTITION)} WHERE timestamp >= %s AND "
            f"timestamp < %s RETURNING {columns}) INSERT INTO {_quote(name)} ({columns}) "
            f"SELECT {columns} FROM moved",
            [start, end],
        )
        cursor.execute(
            f"ALTER TABLE {_quote(TABLE)} ATTACH PARTITION {_quote(name)} "
            f"FOR VALUES FROM ({start}) TO ({end})"
        )
    return name


def partition_drop(partition: Partition) -> None:
    """Drop a whole partition (its points are gone at once; nothing to vacuum). It is detached
    first, in a transaction of its own: the table's lock is held for that moment only, not
    while the files of a day of points are removed (measured: a write waited 469 ms when a
    100 M-point partition was dropped attached)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(f"ALTER TABLE {_quote(TABLE)} DETACH PARTITION {_quote(partition.name)}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {_quote(partition.name)}")


def detached_leftovers(*, before_us: int) -> list[str]:
    """Day tables a drop detached but did not drop (the process died in between), whose whole
    day is before ``before_us``. (A day detached by hand to keep it, under its own name, is
    left alone when recent; rename it to keep an old one.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE %s "
            "AND NOT c.relispartition",
            [_DAILY_PREFIX.replace("_", r"\_") + "%"],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        try:
            day = datetime.strptime(name.removeprefix(_DAILY_PREFIX), "%Y%m%d").date()
        except ValueError:
            continue
        if day_start_us(day + timedelta(days=1)) <= before_us:
            found.append(name)
    return found


def table_drop(name: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {_quote(name)}")


def partitions_ensure(*, today: date, ahead_days: int) -> list[str]:
    """Create the daily partitions from ``today`` to ``ahead_days`` later that no partition
    covers yet (a day before the first existing one is left to the default partition: the
    past is not filled in). Returns the names created."""
    existing = [p for p in partitions() if not p.is_default]
    created = []
    for offset in range(ahead_days + 1):
        day = today + timedelta(days=offset)
        start, end = day_start_us(day), day_start_us(day + timedelta(days=1))
        if any(_overlaps(p, start, end) for p in existing):
            continue
        try:
            name = partition_create(day)
        except DatabaseError as exc:  # a lock not granted in time: the next run creates it
            logger.warning("history: could not create the partition of %s yet: %s", day, exc)
            continue
        created.append(name)
        existing.append(Partition(name, start, end))
    return created


def _overlaps(partition: Partition, start: int, end: int) -> bool:
    low = partition.start if partition.start is not None else -(2**63)
    high = partition.end if partition.end is not None else 2**63
    return low < end and start < high


# --- The migration (devices/migrations/0006_history_partitions.py) ------------------------------

# The unique index on (id, timestamp) an operator may build on a large table before migrating
# (docs/operations.md#value-history), so that the migration does not build it under lock.
PREPARED_KEY_INDEX = "devices_valuepoint_id_timestamp"


def convert_to_partitioned(cursor, *, today: date, ahead_days: int) -> None:
    """Turn the plain history table into a partitioned one, keeping every point.

    The old table becomes the partition of everything before tomorrow (or after its newest
    point), attached as it is: no row is copied. Its primary key on ``id`` stays; attaching
    builds the index the partitioned key ``(id, timestamp)`` needs on it, which takes a while
    on a table of hundreds of millions of rows (docs/operations.md says how to build it first,
    concurrently). An empty old table is simply dropped. Daily partitions follow from there.
    """
    legacy = f"{TABLE}_legacy"
    cursor.execute(f"ALTER TABLE {_quote(TABLE)} RENAME TO {_quote(legacy)}")
    # A partition's primary key is the table's, (id, timestamp): built here from the index an
    # operator prepared beforehand (CONCURRENTLY, while devices wrote), else by ATTACH below.
    cursor.execute(f"ALTER TABLE {_quote(legacy)} DROP CONSTRAINT {_quote(TABLE + '_pkey')}")
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [PREPARED_KEY_INDEX])
    if cursor.fetchone()[0]:
        cursor.execute(
            f"ALTER TABLE {_quote(legacy)} ADD CONSTRAINT {_quote(legacy + '_pkey')} "
            f"PRIMARY KEY USING INDEX {_quote(PREPARED_KEY_INDEX)}"
        )
    cursor.execute(f"ALTER INDEX history_by_alias_time RENAME TO {_quote(legacy + '_by_alias_time')}")
    cursor.execute(f"SELECT max(id), max(timestamp), count(*) > 0 FROM {_quote(legacy)}")
    max_id, max_timestamp, has_rows = cursor.fetchone()
    # The identity's sequence goes with it; the partitioned table numbers on from the old ids.
    cursor.execute(f"ALTER TABLE {_quote(legacy)} ALTER COLUMN id DROP IDENTITY IF EXISTS")
    sequence = f"{TABLE}_id_seq"
    cursor.execute(f"CREATE SEQUENCE {_quote(sequence)} START WITH {(max_id or 0) + 1}")
    cursor.execute(
        f"CREATE TABLE {_quote(TABLE)} ("
        f"id bigint NOT NULL DEFAULT nextval('{sequence}'), alias varchar(100) NOT NULL, "
        "timestamp bigint NOT NULL, value text NOT NULL, device_id bigint NOT NULL, "
        f"CONSTRAINT {_quote(TABLE + '_pkey')} PRIMARY KEY (id, timestamp)"
        ") PARTITION BY RANGE (timestamp)"
    )
    cursor.execute(f"ALTER SEQUENCE {_quote(sequence)} OWNED BY {_quote(TABLE)}.id")
    cursor.execute(f"CREATE INDEX history_by_alias_time ON {_quote(TABLE)} (device_id, alias, timestamp)")
    cursor.execute(f"CREATE TABLE {_quote(DEFAULT_PARTITION)} PARTITION OF {_quote(TABLE)} DEFAULT")
    first_day = today
    if has_rows:
        newest_day = datetime.fromtimestamp(max(max_timestamp, 0) / 1_000_000, tz=UTC).date()
        first_day = max(today, newest_day) + timedelta(days=1)
        legacy_part = f"{_DAILY_PREFIX}before{first_day:%Y%m%d}"
        cursor.execute(f"ALTER TABLE {_quote(legacy)} RENAME TO {_quote(legacy_part)}")
        cursor.execute(
            f"ALTER TABLE {_quote(TABLE)} ATTACH PARTITION {_quote(legacy_part)} "
            f"FOR VALUES FROM (MINVALUE) TO ({day_start_us(first_day)})"
        )
    else:
        cursor.execute(f"DROP TABLE {_quote(legacy)}")
    for offset in range(ahead_days + 1):
        day = first_day + timedelta(days=offset)
        name = f"{_DAILY_PREFIX}{day:%Y%m%d}"
        cursor.execute(
            f"CREATE TABLE {_quote(name)} PARTITION OF {_quote(TABLE)} "
            f"FOR VALUES FROM ({day_start_us(day)}) TO ({day_start_us(day + timedelta(days=1))})"
        )


def convert_to_plain(cursor) -> None:
    """The migration's way back: one plain table holding the points again (copied), but for
    those of deleted devices (the foreign key comes back)."""
    plain = f"{TABLE}_plain"
    cursor.execute(
        f"CREATE TABLE {_quote(plain)} (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "alias varchar(100) NOT NULL, timestamp bigint NOT NULL, value text NOT NULL, "
        "device_id bigint NOT NULL)"
    )
    columns = "id, alias, timestamp, value, device_id"
    cursor.execute(
        f"INSERT INTO {_quote(plain)} ({columns}) SELECT {columns} FROM {_quote(TABLE)} AS point "
        "WHERE EXISTS (SELECT 1 FROM devices_device AS device WHERE device.id = point.device_id)"
    )
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{plain}', 'id'), coalesce(max(id), 0) + 1, false) "
                   f"FROM {_quote(plain)}")  # fmt: skip
    cursor.execute(f"DROP TABLE {_quote(TABLE)}")
    cursor.execute(f"ALTER TABLE {_quote(plain)} RENAME TO {_quote(TABLE)}")
    cursor.execute(f"ALTER TABLE {_quote(TABLE)} RENAME CONSTRAINT {_quote(plain + '_pkey')} TO "
                   f"{_quote(TABLE + '_pkey')}")  # fmt: skip
    cursor.execute(f"CREATE INDEX history_by_alias_time ON {_quote(TABLE)} (device_id, alias, timestamp)")
