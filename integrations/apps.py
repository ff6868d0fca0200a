from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Another cloud's API feeding a connector; its schedule goes with a deleted connector (hook)."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from connectors.hooks import connector_deleting
        from integrations.services import integration_connector_deleting

        connector_deleting.connect(integration_connector_deleting)
