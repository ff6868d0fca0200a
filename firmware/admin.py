"""Back office views of firmware updates: rollouts with their devices, and devices' reports.
Read-mostly: rollouts are started, paused and cancelled through the services (API, pages)."""

from django.contrib import admin

from core.admin import RecordAdmin
from firmware.models import DeviceUpdate, OtauReport, Rollout


@admin.register(Rollout)
class RolloutAdmin(RecordAdmin):
    list_display = [
        "id",
        "connector",
        "version",
        "state",
        "device_count",
        "current_wave",
        "wave_count",
        "created_at",
    ]
    list_filter = ["state"]
    list_select_related = ["connector"]
    search_fields = ["=connector__id", "version", "package_id"]
    raw_id_fields = ["connector", "created_by"]


@admin.register(DeviceUpdate)
class DeviceUpdateAdmin(RecordAdmin):
    list_display = ["id", "rollout", "device", "wave", "status", "sent_at", "reported_at", "deadline"]
    list_filter = ["status"]
    list_select_related = ["rollout", "device"]
    show_full_result_count = False  # no count of the whole table next to a search's
    raw_id_fields = ["rollout", "device"]
    search_fields = ["=rollout__id", "device__identity__startswith"]


@admin.register(OtauReport)
class OtauReportAdmin(RecordAdmin):
    list_display = ["id", "device", "version", "status", "message", "created_at"]
    list_filter = ["status"]
    list_select_related = ["device"]
    show_full_result_count = False  # no count of the whole table next to a search's
    raw_id_fields = ["device", "device_update"]
    search_fields = ["device__identity__startswith", "version"]
