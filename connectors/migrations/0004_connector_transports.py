"""The connector's ``transports`` setting (``protocol.transports``): which transports its devices
may use. Existing connectors get every transport (http and mqtt), so that no device that talks
today is refused after the upgrade.
"""

from django.db import migrations, models

import connectors.models


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0003_claiming_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="connector",
            name="transports",
            field=models.JSONField(
                default=connectors.models.default_transports,
                help_text="The transports the connector's devices may use: http, mqtt (at least one).",
                validators=[connectors.models.transports_clean],
            ),
        ),
    ]
