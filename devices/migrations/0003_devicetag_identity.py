"""Tags carry their device's identity, so the devices with a tag, in identity order, are one
range of one index (devices/filters.py): ``tag_search_identity`` on
(connector, name, value, identity) — ``identity COLLATE "C"`` on PostgreSQL, like the device
list's own identity index — with the device id included, so a page of a tag is read from the
index alone.

The identities of existing tags are copied from their devices in one UPDATE (a fleet of a
million devices with three tags each takes about a minute on PostgreSQL; tag edits wait for it).
On PostgreSQL the index is then built CONCURRENTLY (this migration is not atomic).
"""

from django.db import migrations, models

INDEX = "tag_search_identity"
FILL = """
UPDATE devices_devicetag SET identity = (
    SELECT d.identity FROM devices_device d WHERE d.id = devices_devicetag.device_id
) WHERE identity = ''
"""
FILL_POSTGRESQL = """
UPDATE devices_devicetag t SET identity = d.identity FROM devices_device d
WHERE d.id = t.device_id AND t.identity = ''
"""


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(FILL)
            cursor.execute(f'CREATE INDEX "{INDEX}" ON devices_devicetag (connector_id, name, value, identity)')
            return
        cursor.execute(FILL_POSTGRESQL)
        # A failed concurrent build leaves an INVALID index behind: build it again.
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"')
        cursor.execute(
            f'CREATE INDEX CONCURRENTLY "{INDEX}" ON devices_devicetag '
            f'(connector_id, name, value, (identity COLLATE "C")) INCLUDE (device_id)'
        )


def backwards(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX{concurrently} IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("devices", "0002_device_search_indexes")]

    operations = [
        migrations.AddField(
            model_name="devicetag",
            name="identity",
            field=models.CharField(default="", editable=False, max_length=128),
            preserve_default=False,
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
