"""Web UI routes of the Integration tab, under ``/connectors/`` (``integrations.views``)."""

from django.urls import path

from integrations import views

app_name = "integrations"

_integration = "<segment:connector_id>/integration/"

urlpatterns = [
    path(_integration, views.integration_page, name="integration"),
    path(_integration + "sync/", views.integration_sync, name="integration-sync"),
    path(_integration + "health/", views.integration_health, name="integration-health"),
    path(_integration + "try/", views.operation_try, name="operation-try"),
    path(_integration + "delete/", views.integration_delete, name="integration-delete"),
]
