from django.contrib import admin

from integrations.models import Integration


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Read-only: secrets stay encrypted and unseen; changes go through the API or the tab."""

    list_display = ("connector", "__str__", "health_status", "health_checked_at", "updated_at")
    list_filter = ("health_status",)
    search_fields = ("connector__id", "connector__name", "maintainer_email")
    readonly_fields = (
        "connector", "spec", "config", "sync", "health_status", "health_checked_at", "health_changed_at",
        "health_error", "created_by", "created_at", "updated_at",
    )  # fmt: skip
    exclude = ("secrets",)

    # An integration is made through its checks (every rule of the spec, the configuration, the
    # schedule): the API or the tab. The back office reads it, and may delete it (its leftover
    # schedule then removes itself at its next tick).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
