from django.contrib import admin, messages

from devices import services
from devices.models import Device, DeviceState, DeviceTag, HistoryPurge, RollupRun, ValuePoint, ValueRollup


class TagInline(admin.TabularInline):
    model = DeviceTag
    extra = 0
    fields = ["name", "value"]


class StateInline(admin.TabularInline):
    model = DeviceState
    extra = 0
    readonly_fields = ["alias", "reported", "set", "timestamp"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    """Staff back office for devices. Built for fleets of millions: identity search is a prefix
    search (an index range, not a scan) and the page count is not computed on every page. Lock,
    unlock and revoke are actions that go through the device services."""

    list_display = ["identity", "connector", "status", "auth_type", "last_ip", "last_seen"]
    list_filter = ["lifecycle", "locked", "devmode", "auth_type"]
    search_fields = ["^identity", "=connector__id"]
    search_help_text = "Identity prefix, or a connector id."
    list_select_related = ["connector"]
    show_full_result_count = False
    list_per_page = 100
    raw_id_fields = ["connector"]
    readonly_fields = [
        "lifecycle", "auth_type", "devmode", "last_ip", "last_seen", "provisioned_at", "created_at",
        "certificate_fingerprint",
    ]  # fmt: skip
    # Only ``locked`` is edited here, through the services. Whitelisting (identity format,
    # activation window, certificate checks) and pinning certificates go through the web UI,
    # the API or ``manage.py devices``, which apply every rule; an identity is never renamed.
    fields = ["connector", "identity", *readonly_fields, "activation_deadline", "certificate", "locked"]
    inlines = [TagInline, StateInline]
    actions = ["lock", "unlock", "revoke"]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        services.device_delete(device=obj)

    def delete_queryset(self, request, queryset):
        # "Delete selected": each device through the service (its history goes in the background).
        for device in queryset:
            services.device_delete(device=device)

    def get_readonly_fields(self, request, obj=None):
        return ["connector", "identity", *self.readonly_fields, "activation_deadline", "certificate"]

    def save_model(self, request, obj, form, change):
        # ``obj`` already holds the form's values: the service compares with the stored row.
        stored = Device.objects.select_related("connector").get(pk=obj.pk)
        services.device_update(device=stored, locked=form.cleaned_data["locked"])

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for instance in instances:
            if isinstance(instance, DeviceTag):
                _copy_device_columns(instance, form.instance)
            instance.save()
        for obj in formset.deleted_objects:
            obj.delete()

    @admin.action(description="Lock selected devices")
    def lock(self, request, queryset):
        for device in queryset:
            services.device_update(device=device, locked=True)
        messages.success(request, f"Locked {queryset.count()} device(s).")

    @admin.action(description="Unlock selected devices")
    def unlock(self, request, queryset):
        for device in queryset:
            services.device_update(device=device, locked=False)
        messages.success(request, f"Unlocked {queryset.count()} device(s).")

    @admin.action(description="Revoke credentials (reprovision)")
    def revoke(self, request, queryset):
        for device in queryset:
            services.device_revoke(device=device)
        messages.success(request, f"Revoked {queryset.count()} device(s).")


def _copy_device_columns(tag: DeviceTag, device: Device) -> None:
    # A tag carries its device's connector and identity (the tag indexes of devices/filters/).
    tag.connector_id, tag.identity = device.connector_id, device.identity


@admin.register(DeviceTag)
class DeviceTagAdmin(admin.ModelAdmin):
    list_display = ["name", "value", "device", "connector"]
    search_fields = ["=name", "=value", "^identity"]
    search_help_text = "A tag name or value, or a device identity prefix."
    list_select_related = ["device", "connector"]
    show_full_result_count = False  # no count of the whole table next to a search's
    raw_id_fields = ["device"]
    fields = ["device", "name", "value", "connector", "identity"]
    readonly_fields = ["connector", "identity"]

    def save_model(self, request, obj, form, change):
        _copy_device_columns(obj, obj.device)
        super().save_model(request, obj, form, change)


@admin.register(DeviceState)
class DeviceStateAdmin(admin.ModelAdmin):
    list_display = ["device", "alias", "reported", "set", "timestamp"]
    search_fields = ["^device__identity", "=alias"]
    search_help_text = "Device identity prefix, or an alias."
    list_select_related = ["device"]
    show_full_result_count = False  # no count of the whole table next to a search's
    raw_id_fields = ["device"]


@admin.register(ValuePoint)
class ValuePointAdmin(admin.ModelAdmin):
    list_display = ["device", "alias", "timestamp", "value"]
    search_fields = ["^device__identity", "=alias"]
    search_help_text = "Device identity prefix, or an alias."
    list_select_related = ["device"]
    show_full_result_count = False  # no count of the whole table next to a search's
    raw_id_fields = ["device"]


class _ReadOnly(admin.ModelAdmin):
    """Rows the platform writes for itself: staff look, nobody edits."""

    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ValueRollup)
class ValueRollupAdmin(_ReadOnly):
    list_display = ["device_id", "alias", "start", "count", "numbers", "low", "high", "last_value"]
    search_fields = ["=device_id", "=alias"]
    search_help_text = "A device id, or an alias."


@admin.register(RollupRun)
class RollupRunAdmin(_ReadOnly):
    """How far the roll-ups go, run by run (docs/operations.md#value-history)."""

    list_display = ["id", "started_at", "finished_at", "rolled_max_id", "rolled_until", "blocks"]


@admin.register(HistoryPurge)
class HistoryPurgeAdmin(_ReadOnly):
    """Deleted devices whose history points the background purge has not removed yet."""

    list_display = ["device_id", "queued_at"]
