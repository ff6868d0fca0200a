from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import ReadOnlyPasswordHashWidget, UserChangeForm
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX

from accounts.forms import AdminLoginForm
from accounts.models import ApiToken, Business, Invitation, Membership, User

# The back office's log-in is throttled like the others and says so.
admin.site.login_form = AdminLoginForm


class PasswordStateWidget(ReadOnlyPasswordHashWidget):
    """Says whether the user has a password, with Django's link to set a new one, and nothing
    of its hash: not even the algorithm summary with the first characters of salt and hash that
    Django's own widget shows."""

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        has_password = bool(value) and not value.startswith(UNUSABLE_PASSWORD_PREFIX)
        context["summary"] = [{"label": "A password is set." if has_password else "No password set."}]
        return context


class UserForm(UserChangeForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].widget = PasswordStateWidget()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        # Each row is labelled with its user and business.
        return super().get_queryset(request).select_related("user", "business")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_superuser", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    readonly_fields = ["last_login", "date_joined"]


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "business", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "business__name"]
    list_select_related = ["user", "business"]
    autocomplete_fields = ["user", "business"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed by their prefix; the key's hash stays out of sight like the key."""

    list_display = ["key_prefix", "name", "user", "created_at", "last_used_at"]
    search_fields = ["user__email", "name", "key_prefix"]
    list_select_related = ["user"]
    # A token stays its owner's: only its name changes here.
    readonly_fields = ["user", "key_prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "key_prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        # Keys are shown once at creation; that happens in the API, not here.
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are made and accepted through the service (the key is shown once, to the
    inviting admin); here they can be looked at, or deleted to withdraw one."""

    list_display = ["email", "business", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["role"]
    search_fields = ["email", "business__name"]
    list_select_related = ["business"]
    fields = [
        "business",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
