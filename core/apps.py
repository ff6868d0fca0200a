from django.apps import AppConfig
from django.urls import register_converter


class CoreConfig(AppConfig):
    """The shared library's start-up: the URL converters every app's routes use."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.converters import UrlRest, UrlSegment

        register_converter(UrlSegment, "segment")
        register_converter(UrlRest, "rest")
