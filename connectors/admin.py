from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from connectors.content import services as content_services
from connectors.models import Connector, ConnectorHostname, ContentItem, Resource, Transport, transports_clean


class HostnameInline(admin.TabularInline):
    model = ConnectorHostname
    extra = 0


class ResourceInline(admin.TabularInline):
    model = Resource
    extra = 0
    fields = ["alias", "format", "unit", "allowed", "settable", "initial", "sync"]


class ConnectorForm(forms.ModelForm):
    """The transports as checkboxes, stored as the service stores them (``transports_clean``)."""

    transports = forms.MultipleChoiceField(
        choices=Transport.choices, widget=forms.CheckboxSelectMultiple,
        help_text=Connector._meta.get_field("transports").help_text,
    )  # fmt: skip

    class Meta:
        model = Connector
        fields = ["transports"]  # the admin adds the fieldsets' fields

    def clean_transports(self):
        return transports_clean(self.cleaned_data["transports"])


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    form = ConnectorForm
    list_display = ["id", "name", "business", "auth_type", "devmode", "provisioning_enabled", "created_at"]
    list_filter = ["auth_type", "devmode", "provisioning_enabled", "pki_enabled"]
    search_fields = ["id", "name", "business__name"]
    list_select_related = ["business"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [HostnameInline, ResourceInline]
    fieldsets = [
        (None, {"fields": ["id", "business", "name", "description"]}),
        ("Protocol", {"fields": ["devmode", "transports"]}),
        (
            "Identity format",
            {"fields": ["identity_prefix", "identity_type", "identity_length", "identity_casing"]},
        ),
        (
            "Provisioning",
            {
                "fields": [
                    "provisioning_enabled",
                    "auth_type",
                    "presenter_identity",
                    "generate_identity",
                    "activation_window_hours",
                    "ip_whitelisting_enabled",
                    "ip_whitelist",
                ]
            },
        ),  # fmt: skip
        ("PKI", {"fields": ["pki_enabled", "pki_ca_certificate", "pki_sign_csr"]}),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ["alias", "connector", "format", "unit", "settable", "sync"]
    list_filter = ["format", "settable", "sync"]
    search_fields = ["alias", "connector__id", "connector__name"]
    list_select_related = ["connector"]


@admin.register(ConnectorHostname)
class ConnectorHostnameAdmin(admin.ModelAdmin):
    list_display = ["hostname", "connector"]
    search_fields = ["hostname", "connector__id"]
    list_select_related = ["connector"]


class ContentItemForm(forms.ModelForm):
    """Only the description and MIME type change here, checked by the content service's own
    rules; the bytes are replaced by uploading (API, Content page, ``manage.py content``)."""

    class Meta:
        model = ContentItem
        fields = ["content_type", "description"]

    def clean(self):
        cleaned = super().clean()
        cleaners = {
            "content_type": lambda value: content_services.content_type_clean(
                value, self.instance.content_id
            ),
            "description": content_services.description_clean,
        }
        for field, clean in cleaners.items():
            if field in cleaned:
                try:
                    cleaned[field] = clean(cleaned[field])
                except ValidationError as exc:
                    # The service's errors are keyed by field name: they land on the fields.
                    self.add_error(None, exc)
        return cleaned


@admin.register(ContentItem)
class ContentItemAdmin(admin.ModelAdmin):
    """Files of connectors' content stores. Uploads happen elsewhere (they stream and hash the
    bytes); deleting here, one item or the selected ones, goes through the content service, so
    the stored object goes too."""

    form = ContentItemForm
    list_display = ["content_id", "connector", "content_type", "size", "sha256", "updated_at"]
    search_fields = ["^content_id", "=connector__id"]
    search_help_text = "Content id prefix, or a connector id."
    list_select_related = ["connector"]
    show_full_result_count = False
    list_per_page = 100
    readonly_fields = [
        "connector", "content_id", "size", "sha256", "storage_name", "package", "uploaded_by_device",
        "created_at", "updated_at",
    ]  # fmt: skip
    fields = ["connector", "content_id", "content_type", "description", *readonly_fields[2:]]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        content_services.content_update(
            item=obj,
            description=form.cleaned_data["description"],
            content_type=form.cleaned_data["content_type"],
        )

    def delete_model(self, request, obj):
        content_services.content_delete(item=obj)

    def delete_queryset(self, request, queryset):
        # The "Delete selected" action ends here: each item through the service.
        for item in queryset:
            content_services.content_delete(item=item)
