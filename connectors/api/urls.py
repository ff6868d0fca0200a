from django.urls import include, path

from connectors.api import pki, views

app_name = "connectors-api"

_connector = "connectors/<segment:connector_id>/"

urlpatterns = [
    path("connectors/", views.ConnectorListView.as_view(), name="connector-list"),
    path(_connector, views.ConnectorDetailView.as_view(), name="connector-detail"),
    path(_connector + "resources/", views.ResourceListView.as_view(), name="resource-list"),
    path(_connector + "resources/<rest:alias>/", views.ResourceDetailView.as_view(), name="resource-detail"),
    path(_connector + "pki/generate-ca/", pki.CaGenerateView.as_view(), name="connector-ca-generate"),
    path(_connector + "content/", include("connectors.api.content_urls")),
]
