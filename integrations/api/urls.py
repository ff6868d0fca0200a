from django.urls import path

from integrations.api import views

app_name = "integrations-api"

_integration = "connectors/<segment:connector_id>/integration/"

urlpatterns = [
    path(_integration, views.IntegrationView.as_view(), name="integration"),
    path(_integration + "sync/", views.SyncView.as_view(), name="sync"),
    path(_integration + "health/", views.HealthView.as_view(), name="health"),
    path(_integration + "operations/", views.OperationListView.as_view(), name="operations"),
    path(
        _integration + "operations/<segment:operation_id>/call/",
        views.OperationCallView.as_view(),
        name="operation-call",
    ),
]
