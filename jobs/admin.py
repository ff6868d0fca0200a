from django.contrib import admin

from core.admin import RecordAdmin
from jobs.models import Job


@admin.register(Job)
class JobAdmin(RecordAdmin):
    """Jobs are written by their workers: the admin only shows them."""

    list_display = ["id", "kind", "state", "connector", "total", "done", "error_count", "created_at"]
    list_filter = ["kind", "state"]
    list_select_related = ["connector"]
    raw_id_fields = ["business", "connector", "created_by"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False
