"""What the back office's model admins share."""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """A record the platform writes through its services (a job, a rollout, a device's report):
    the admin shows every field and nobody adds one here."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False
