from django.apps import AppConfig


class DevicesConfig(AppConfig):
    """Devices follow their connector's changes (``connectors.hooks``): a new identity format is
    checked against their identities, and a deletion locks their rows first and queues their
    history for removal."""

    name = "devices"
    verbose_name = "Devices"

    def ready(self):
        from connectors.hooks import connector_deleting, identity_format_changed
        from devices.selectors import identity_format_warnings
        from devices.services import devices_lock
        from devices.services.history import history_forget_connector_devices

        identity_format_changed.connect(identity_format_warnings)
        connector_deleting.connect(devices_lock)
        connector_deleting.connect(history_forget_connector_devices)
