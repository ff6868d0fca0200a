"""Web UI routes of claiming, under ``/connectors/``: the End Users tab and the claim codes page
(printable labels, the CSV, fresh codes)."""

from django.urls import path

from claiming import views

app_name = "claiming"

_user = "<segment:connector_id>/end-users/<int:user_id>/"

urlpatterns = [
    path("<segment:connector_id>/end-users/", views.end_user_list, name="end-user-list"),
    path(_user, views.end_user_detail, name="end-user-detail"),
    path(_user + "password/", views.end_user_password, name="end-user-password"),
    path(_user + "delete/", views.end_user_remove, name="end-user-delete"),
    path("<segment:connector_id>/claim-codes/", views.claim_codes_page, name="claim-codes"),
]
