from django.apps import AppConfig


class ClaimingConfig(AppConfig):
    """End users, claim codes and ownership (Connector-as-a-Service). Follows connectors'
    settings (turning claiming on defines the ``pdaas_*`` resources), devices being added (a
    default claim code) and devices' ``pdaas_*`` writes (device-side claiming), through hooks."""

    name = "claiming"
    verbose_name = "Claiming"

    def ready(self):
        from claiming import services
        from claiming.selectors import users_tag_value
        from connectors.hooks import settings_changed
        from devices.hooks import devices_added, tag_value_typed, value_written

        settings_changed.connect(services.claiming_settings_changed)
        devices_added.connect(services.default_claim_codes)
        value_written.connect(services.RESOURCE_CLAIM_CODE, services.claim_code_written)
        value_written.connect(services.RESOURCE_USER_EMAIL, services.user_email_written)
        value_written.connect(services.RESOURCE_RESET, services.reset_written)
        tag_value_typed.connect(services.TAG_USERS, users_tag_value)
