"""Web UI routes of firmware updates, under a connector."""

from django.urls import path

from firmware import views

app_name = "firmware"

_firmware = "<segment:connector_id>/firmware/"

urlpatterns = [
    path(_firmware, views.firmware_page, name="firmware"),
    path(_firmware + "settings/", views.firmware_settings, name="firmware-settings"),
    path(_firmware + "rollouts/<int:rollout_id>/", views.rollout_page, name="rollout-detail"),
    path(_firmware + "rollouts/<int:rollout_id>/state/", views.rollout_state, name="rollout-state"),
]
