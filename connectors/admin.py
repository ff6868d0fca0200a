from django.contrib import admin

from connectors.models import Connector, ConnectorHostname, Resource


class HostnameInline(admin.TabularInline):
    model = ConnectorHostname
    extra = 0


class ResourceInline(admin.TabularInline):
    model = Resource
    extra = 0
    fields = ["alias", "format", "unit", "allowed", "settable", "initial", "sync"]


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "business", "auth_type", "devmode", "provisioning_enabled", "created_at"]
    list_filter = ["auth_type", "devmode", "provisioning_enabled", "pki_enabled"]
    search_fields = ["id", "name", "business__name"]
    list_select_related = ["business"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [HostnameInline, ResourceInline]
    fieldsets = [
        (None, {"fields": ["id", "business", "name", "description"]}),
        ("Protocol", {"fields": ["devmode"]}),
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
