from django.contrib import admin

from integrations.models import Integration


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Read-mostly: secrets stay encrypted and unseen; changes go through the API or the tab."""

    list_display = ("connector", "__str__", "health_status", "health_checked_at", "updated_at")
    list_filter = ("health_status",)
    search_fields = ("connector__id", "connector__name", "maintainer_email")
    readonly_fields = (
        "connector", "spec", "config", "sync", "health_status", "health_checked_at", "health_changed_at",
        "health_error", "created_by", "created_at", "updated_at",
    )  # fmt: skip
    exclude = ("secrets",)
