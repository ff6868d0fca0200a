from django.contrib import admin

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are written by their workers: the admin only shows them."""

    list_display = ["id", "kind", "state", "connector", "total", "done", "error_count", "created_at"]
    list_filter = ["kind", "state"]
    list_select_related = ["connector"]
    raw_id_fields = ["business", "connector", "created_by"]
    readonly_fields = [f.name for f in Job._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
