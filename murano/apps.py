from django.apps import AppConfig


class MuranoConfig(AppConfig):
    """Project-wide commands (``runplatform``)."""

    name = "murano"
    verbose_name = "Platform"
