"""Indexes no query needs, dropped: every device, tag, state and history write paid for them.

- the single-column indexes of the foreign keys (``device.connector``, ``tag.device``,
  ``tag.connector``, ``state.device``, ``history.device``), and PostgreSQL's LIKE twins of the
  text ones: other indexes of each table lead with the same column;
- ``tag_search_device``: ``tag_search_identity`` (migration 0003) holds the same keys and the
  device id;
- the LIKE index of the token hash: its uniqueness is now a constraint (a plain unique index);
- the foreign-key constraint of ``tag.connector`` (a copy of the device's connector, which the
  device's key already ties): a second check per tag cost bulk imports a tenth of their time.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0002_content_store_and_firmware_setting"),
        ("devices", "0003_devicetag_identity"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="devicetag",
            name="tag_search_device",
        ),
        migrations.AlterField(
            model_name="device",
            name="connector",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="devices",
                to="connectors.connector",
            ),
        ),
        migrations.AlterField(
            model_name="device",
            name="token_hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="devicestate",
            name="device",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="states",
                to="devices.device",
            ),
        ),
        migrations.AlterField(
            model_name="devicetag",
            name="connector",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="connectors.connector",
            ),
        ),
        migrations.AlterField(
            model_name="devicetag",
            name="device",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tags",
                to="devices.device",
            ),
        ),
        migrations.AlterField(
            model_name="valuepoint",
            name="device",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="history",
                to="devices.device",
            ),
        ),
        migrations.AddConstraint(
            model_name="device",
            constraint=models.UniqueConstraint(fields=("token_hash",), name="device_unique_token"),
        ),
    ]
