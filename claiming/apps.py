from django.apps import AppConfig


class ClaimingConfig(AppConfig):
    """End users, claim codes and ownership (Connector-as-a-Service); models arrive with the
    claiming issue."""

    name = "claiming"
    verbose_name = "Claiming"
