"""Routes of the content store's management API, under ``connectors/<id>/content/``."""

from django.urls import path

from connectors.api import content

urlpatterns = [
    path("", content.ContentListView.as_view(), name="content-list"),
    path("<segment:content_id>/", content.ContentDetailView.as_view(), name="content-detail"),
    path("<segment:content_id>/download/", content.ContentDownloadView.as_view(), name="content-download"),
]
