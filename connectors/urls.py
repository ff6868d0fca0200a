"""Web UI routes of connectors: the list and the Resources, Content and Settings tabs."""

from django.urls import path

from connectors import views, views_content

app_name = "connectors"

_connector = "<segment:connector_id>/"

urlpatterns = [
    path("", views.connector_list, name="connector-list"),
    path(_connector, views.connector_detail, name="connector-detail"),
    path(_connector + "settings/", views.connector_settings, name="connector-settings"),
    path(_connector + "settings/generate-ca/", views.connector_ca_generate, name="connector-ca-generate"),
    path(_connector + "delete/", views.connector_delete, name="connector-delete"),
    path(_connector + "content/", views_content.content_page, name="connector-content"),
    path(_connector + "resources/", views.resource_list_page, name="resource-list"),
    path(_connector + "resources/new/", views.resource_create, name="resource-create"),
    # Aliases may hold a "/": the action comes last and the alias takes the rest.
    path(_connector + "resources/<rest:alias>/edit/", views.resource_edit, name="resource-edit"),
    path(_connector + "resources/<rest:alias>/delete/", views.resource_delete, name="resource-delete"),
]
