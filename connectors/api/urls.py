from django.urls import path

from connectors.api import views

app_name = "connectors-api"

urlpatterns = [
    path("connectors/", views.ConnectorListView.as_view(), name="connector-list"),
    path("connectors/<str:connector_id>/", views.ConnectorDetailView.as_view(), name="connector-detail"),
    path("connectors/<str:connector_id>/resources/", views.ResourceListView.as_view(), name="resource-list"),
    path(
        "connectors/<str:connector_id>/resources/<str:alias>/",
        views.ResourceDetailView.as_view(),
        name="resource-detail",
    ),
]
