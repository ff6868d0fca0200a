"""The portal's records in the back office, read-only: branding and images are changed in the
connector's Portal tab or the management API (their rules live in ``portal.services``), and
firmware notices are written by the notice task."""

from django.contrib import admin

from core.admin import RecordAdmin
from portal.models import Asset, Branding, FirmwareNotice


@admin.register(Branding)
class BrandingAdmin(RecordAdmin):
    list_display = ["connector", "updated_at"]
    list_select_related = ["connector"]
    raw_id_fields = ["connector"]


@admin.register(Asset)
class AssetAdmin(RecordAdmin):
    list_display = ["connector", "name", "content_type", "size", "updated_at"]
    list_filter = ["name"]
    list_select_related = ["connector"]
    raw_id_fields = ["connector"]


@admin.register(FirmwareNotice)
class FirmwareNoticeAdmin(RecordAdmin):
    list_display = ["user", "version", "package_id", "created_at", "dismissed_at"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
