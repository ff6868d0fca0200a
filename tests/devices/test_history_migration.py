"""The migration that partitions an existing history table on PostgreSQL (#19) keeps every
point, numbers new ones after the old ids, and goes back to a plain table. Run against a
database of its own with ``manage.py migrate``, as an operator upgrading would."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL"), reason="the partitioning migration runs on PostgreSQL only"
)


@pytest.fixture
def scratch_database(tmp_path):
    """A new, empty PostgreSQL database and its URL; dropped afterwards."""
    params = connection.settings_dict
    name = f"history_migration_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(
        host=params["HOST"],
        port=params["PORT"] or 5432,
        user=params["USER"],
        dbname="postgres",
        autocommit=True,
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{name}"
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


MAKE_DEVICE = (
    "from tests.factories import make_connector, make_device, make_member; "
    "member = make_member(business_name='Acme', role='admin'); "
    "make_device(connector=make_connector(business=member.business), identity='sensor-1')"
)


def manage(url: str, tmp_path, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "MURANO_VAR_DIR": str(tmp_path / "var")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def migrate(url: str, tmp_path, *target: str) -> None:
    manage(url, tmp_path, "migrate", "--no-input", "-v0", *target)


@pytest.mark.parametrize("prepared_index", [False, True], ids=["plain", "index-built-first"])
def test_an_existing_table_becomes_partitioned_with_every_point(scratch_database, tmp_path, prepared_index):
    migrate(scratch_database, tmp_path)
    migrate(scratch_database, tmp_path, "devices", "0005")  # the history table as it was
    # A real device (id 1), through the services, as the database held it before.
    manage(scratch_database, tmp_path, "shell", "-c", MAKE_DEVICE)
    with psycopg.connect(scratch_database, autocommit=True) as db:
        assert db.execute("SELECT id FROM devices_device").fetchall() == [(1,)]
        # Points of a year ago and of today, and one of a device deleted long ago (the foreign
        # key is bypassed to put it there).
        db.execute("SET session_replication_role = replica")
        db.execute(
            "INSERT INTO devices_valuepoint (alias, timestamp, value, device_id) VALUES "
            "('temp', 1733443200000000, '20.5', 1), "
            "('temp', (extract(epoch FROM now()) * 1e6)::bigint, '21.5', 1), "
            "('temp', 1733443200000000, 'orphan', 999)"
        )
        if prepared_index:
            db.execute("CREATE UNIQUE INDEX CONCURRENTLY devices_valuepoint_id_timestamp "
                       "ON devices_valuepoint (id, timestamp)")  # fmt: skip

    migrate(scratch_database, tmp_path)

    with psycopg.connect(scratch_database, autocommit=True) as db:
        kind = db.execute("SELECT relkind FROM pg_class WHERE relname = 'devices_valuepoint'").fetchone()
        assert kind == ("p",)
        rows = db.execute(
            "SELECT id, value, tableoid::regclass::text FROM devices_valuepoint ORDER BY id"
        ).fetchall()
        assert [(i, v) for i, v, _ in rows] == [(1, "20.5"), (2, "21.5"), (3, "orphan")]
        assert {table for _, _, table in rows} == {rows[0][2]}  # the old table, attached as it is
        assert rows[0][2].startswith("devices_valuepoint_pbefore")
        # New points go after the old ones, into the parts that follow.
        (new_id,) = db.execute(
            "INSERT INTO devices_valuepoint (alias, timestamp, value, device_id) "
            "VALUES ('temp', (extract(epoch FROM now()) * 1e6)::bigint + 86400000000 * 2, '22', 1) "
            "RETURNING id"
        ).fetchone()
        assert new_id == 4
        days = db.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'devices_valuepoint'::regclass"
        ).fetchone()[0]
        assert days == 1 + 1 + settings.HISTORY_PARTITIONS_AHEAD_DAYS + 1  # old table, default, days

    migrate(scratch_database, tmp_path, "devices", "0005")

    with psycopg.connect(scratch_database, autocommit=True) as db:
        kind = db.execute("SELECT relkind FROM pg_class WHERE relname = 'devices_valuepoint'").fetchone()
        assert kind == ("r",)
        # The way back keeps the points whose device exists (the foreign key returns).
        values = db.execute("SELECT id, value FROM devices_valuepoint ORDER BY id").fetchall()
        assert values == [(1, "20.5"), (2, "21.5"), (4, "22")]
