from django.apps import AppConfig


class FirmwareConfig(AppConfig):
    """Firmware updates follow connectors' settings and devices' ``otau_in`` writes (hooks)."""

    name = "firmware"
    verbose_name = "Firmware updates"

    def ready(self):
        from connectors.hooks import settings_changed
        from devices.hooks import value_written
        from firmware.services import firmware_settings_changed, otau_report_received

        settings_changed.connect(firmware_settings_changed)
        value_written.connect("otau_in", otau_report_received)
