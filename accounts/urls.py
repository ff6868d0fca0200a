"""Web UI routes of accounts (log-in, log-out and passwords are Django's, under /accounts/)."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("invitations/<str:key>/", views.invitation_page, name="invitation"),
]
