"""Indexes and planner statistics for searching a connector's devices at fleet scale
(devices/filters.py).

On every database:
- (connector, last_seen, id) and (connector, created_at, id) for those orderings and their
  cursors; (connector, last_ip) for the ``ip`` filter;
- the tag index becomes (connector, name, value, device): a tag filter reads the matching
  device ids from the index alone, and checking one device's tag is a single index probe.

On PostgreSQL only, as SQL that Django's index API cannot express for both databases:
- ``device_identity_c``: (connector, identity COLLATE "C") INCLUDE (id). The database collation
  is often a locale, in which ``LIKE 'x%'`` cannot use a plain index; compared byte by byte, an
  identity prefix is an index range and the default ordering reads the same index;
- ``device_identity_trgm``: a pg_trgm GIN index for the substring search ``q`` (ILIKE). The
  extension is created when missing; where it cannot be (not installed, no privilege) the
  migration says so and goes on: substring search then scans;
- ``device_status_unlocked`` (connector, lifecycle, identity C) WHERE NOT locked and
  ``device_status_locked`` (connector, identity C) WHERE locked: each status filter is a range
  of one of them, in identity order;
- extended statistics on tag (connector, name, value) and device (connector, lifecycle, locked,
  devmode) combinations: the columns are strongly correlated (``value`` means little without
  ``name``) and, estimated as independent, a common tag looked rare and the planner drove
  queries from the wrong side.

Indexes are built CONCURRENTLY on PostgreSQL (this migration is not atomic), so migrating a
live fleet does not block device traffic while they build.
"""

from django.db import migrations, models

DEVICE_INDEXES = [
    models.Index(fields=["connector", "last_seen", "id"], name="device_by_last_seen"),
    models.Index(fields=["connector", "created_at", "id"], name="device_by_created_at"),
    models.Index(fields=["connector", "last_ip"], name="device_by_last_ip"),
]
OLD_TAG_INDEX = models.Index(fields=["connector", "name", "value"], name="tag_search")
TAG_INDEX = models.Index(fields=["connector", "name", "value", "device"], name="tag_search_device")

IDENTITY_C = '(identity COLLATE "C")'
POSTGRESQL_INDEXES = {
    "device_identity_c": f"(connector_id, {IDENTITY_C}) INCLUDE (id)",
    "device_identity_trgm": "USING gin (identity gin_trgm_ops)",
    "device_status_unlocked": f"(connector_id, lifecycle, {IDENTITY_C}) WHERE NOT locked",
    "device_status_locked": f"(connector_id, {IDENTITY_C}) WHERE locked",
}
POSTGRESQL_STATISTICS = [
    ("devices_devicetag", "devicetag_search_stats", "connector_id, name, value", 1000),
    ("devices_device", "device_status_stats", "connector_id, lifecycle, locked, devmode", 100),
]


def _pg_index(cursor, table: str, name: str, definition: str) -> None:
    # A failed concurrent build leaves an INVALID index behind: drop it and build again.
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
        [name],
    )
    row = cursor.fetchone()
    if row is not None and row[0]:
        return
    if row is not None:
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    cursor.execute(f'CREATE INDEX CONCURRENTLY "{name}" ON "{table}" {definition}')


def _columns(model, index) -> str:
    return ", ".join(f'"{model._meta.get_field(f).column}"' for f in index.fields)


def _trigram_available(cursor) -> bool:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
    if cursor.fetchone():
        return True
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 - any refusal means: go on without it
        print(f"\n  pg_trgm is not available ({exc}); substring search on identities will scan.")
        return False
    return True


def forwards(apps, schema_editor):
    Device = apps.get_model("devices", "Device")
    DeviceTag = apps.get_model("devices", "DeviceTag")
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        for index in DEVICE_INDEXES:
            schema_editor.add_index(Device, index)
        schema_editor.add_index(DeviceTag, TAG_INDEX)
        schema_editor.remove_index(DeviceTag, OLD_TAG_INDEX)
        return
    device_table, tag_table = Device._meta.db_table, DeviceTag._meta.db_table
    with connection.cursor() as cursor:
        for index in DEVICE_INDEXES:
            _pg_index(cursor, device_table, index.name, f"({_columns(Device, index)})")
        _pg_index(cursor, tag_table, TAG_INDEX.name, f"({_columns(DeviceTag, TAG_INDEX)})")
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{OLD_TAG_INDEX.name}"')
        for name, definition in POSTGRESQL_INDEXES.items():
            if name == "device_identity_trgm" and not _trigram_available(cursor):
                continue
            _pg_index(cursor, device_table, name, definition)
        for table, name, columns, target in POSTGRESQL_STATISTICS:
            cursor.execute(
                f'CREATE STATISTICS IF NOT EXISTS "{name}" (mcv, dependencies) ON {columns} FROM "{table}"'
            )
            cursor.execute(f'ALTER STATISTICS "{name}" SET STATISTICS {target}')
        # Tag values are many and skewed: sample enough to know the common ones.
        cursor.execute(f'ALTER TABLE "{tag_table}" ALTER COLUMN "value" SET STATISTICS 1000')


def backwards(apps, schema_editor):
    Device = apps.get_model("devices", "Device")
    DeviceTag = apps.get_model("devices", "DeviceTag")
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        for index in DEVICE_INDEXES:
            schema_editor.remove_index(Device, index)
        schema_editor.add_index(DeviceTag, OLD_TAG_INDEX)
        schema_editor.remove_index(DeviceTag, TAG_INDEX)
        return
    tag_table = DeviceTag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{tag_table}" ALTER COLUMN "value" SET STATISTICS -1')
        for _, name, _, _ in POSTGRESQL_STATISTICS:
            cursor.execute(f'DROP STATISTICS IF EXISTS "{name}"')
        _pg_index(cursor, tag_table, OLD_TAG_INDEX.name, f"({_columns(DeviceTag, OLD_TAG_INDEX)})")
        for name in [*(index.name for index in DEVICE_INDEXES), TAG_INDEX.name, *POSTGRESQL_INDEXES]:
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("connectors", "0001_initial"),
        ("devices", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *(migrations.AddIndex(model_name="device", index=index) for index in DEVICE_INDEXES),
                migrations.RemoveIndex(model_name="devicetag", name=OLD_TAG_INDEX.name),
                migrations.AddIndex(model_name="devicetag", index=TAG_INDEX),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
