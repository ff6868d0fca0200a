"""Web UI routes of the Content tab's actions (the tab itself is ``connectors:connector-content``)."""

from django.urls import path

from connectors import views_content

app_name = "content"

_connector = "<segment:connector_id>/"

urlpatterns = [
    path(_connector + "content/upload/", views_content.content_upload_page, name="content-upload"),
    path(
        _connector + "content/<segment:content_id>/delete/",
        views_content.content_delete_page,
        name="content-delete",
    ),
]
