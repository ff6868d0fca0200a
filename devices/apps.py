from django.apps import AppConfig


class DevicesConfig(AppConfig):
    """Devices follow their connector's changes (``connectors.hooks``): a new identity format is
    checked against their identities, a deletion locks their rows first and queues their
    history for removal, and pages listing connectors get their devices' activity."""

    name = "devices"
    verbose_name = "Devices"

    def ready(self):
        from connectors.hooks import connector_deleting, devices_activity, identity_format_changed
        from devices.activity import activity_by_connector
        from devices.selectors import identity_format_warnings
        from devices.services import devices_lock
        from devices.services.history import history_forget_connector_devices

        identity_format_changed.connect(identity_format_warnings)
        connector_deleting.connect(devices_lock)
        connector_deleting.connect(history_forget_connector_devices)
        devices_activity.connect(activity_by_connector)
