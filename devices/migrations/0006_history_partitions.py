# Value history at scale (#19): the history table loses its foreign key (a deleted device's
# points go in the background, HistoryPurge) and, on PostgreSQL, becomes partitioned by day.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from devices import partitions


def partition_history(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps a plain table
    with schema_editor.connection.cursor() as cursor:
        partitions.convert_to_partitioned(
            cursor, today=timezone.now().date(), ahead_days=settings.HISTORY_PARTITIONS_AHEAD_DAYS
        )


def unpartition_history(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            partitions.convert_to_plain(cursor)
        else:  # the foreign key comes back: points of deleted devices go first
            cursor.execute(
                "DELETE FROM devices_valuepoint WHERE device_id NOT IN (SELECT id FROM devices_device)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0005_alter_device_auth_type"),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoryPurge",
            fields=[
                ("device_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("queued_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.AlterField(
            model_name="valuepoint",
            name="device",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="history",
                to="devices.device",
            ),
        ),
        migrations.RunPython(partition_history, unpartition_history, elidable=False),
    ]
