"""End users and their portal sessions and one-time links in the back office.

Nothing secret is shown: not an end user's password hash (only whether one is set), nor the
key hash of a session or a link. End users are changed through ``claiming.services`` (the
actions below, the End Users tab, the management API), so blocking ends their sessions as
everywhere; sessions and links are records the portal writes, shown read-only.
"""

from django.contrib import admin, messages

from claiming.models import EndUser, EndUserLink, EndUserSession
from claiming.services import end_user_update
from core.admin import RecordAdmin

_HIDDEN = {"password_hash", "key_hash"}


class NoSecretRecordAdmin(RecordAdmin):
    """``RecordAdmin`` without the fields that hold a hash."""

    def get_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in _HIDDEN] + list(self.extra_fields)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    extra_fields: tuple[str, ...] = ()


@admin.register(EndUser)
class EndUserAdmin(NoSecretRecordAdmin):
    """A connector's end users; block or unblock through the service (their sessions end)."""

    list_display = ["email", "name", "connector", "verified", "blocked", "created_at", "last_login"]
    list_filter = ["verified", "blocked"]
    # A prefix of the address: the (connector, lower(email)) index's kind of search.
    search_fields = ["^email"]
    list_select_related = ["connector"]
    raw_id_fields = ["connector"]
    show_full_result_count = False
    extra_fields = ("has_password",)
    actions = ["block", "unblock"]

    @admin.display(boolean=True, description="Password set")
    def has_password(self, user: EndUser) -> bool:
        return bool(user.password_hash)

    def has_change_permission(self, request, obj=None):
        return False  # the page is read-only; the actions below are the changes

    def has_delete_permission(self, request, obj=None):
        # Deleting an end user frees their devices (end_user_delete): the End Users tab does it.
        return False

    @admin.action(description="Block the selected end users (their portal sessions end)")
    def block(self, request, queryset):
        for user in queryset:
            end_user_update(user=user, blocked=True)
        messages.success(request, f"{queryset.count()} end user(s) blocked.")

    @admin.action(description="Unblock the selected end users")
    def unblock(self, request, queryset):
        for user in queryset:
            end_user_update(user=user, blocked=False)
        messages.success(request, f"{queryset.count()} end user(s) unblocked.")


@admin.register(EndUserSession)
class EndUserSessionAdmin(NoSecretRecordAdmin):
    """Portal sessions, without their key hash; deleting one logs its user out."""

    list_display = ["user", "created_at", "last_used_at", "expires_at"]
    list_select_related = ["user", "user__connector"]
    search_fields = ["^user__email"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EndUserLink)
class EndUserLinkAdmin(NoSecretRecordAdmin):
    """One-time links sent by e-mail, without their key hash."""

    list_display = ["user", "purpose", "created_at", "expires_at", "used_at"]
    list_filter = ["purpose"]
    list_select_related = ["user", "user__connector"]
    search_fields = ["^user__email"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False
