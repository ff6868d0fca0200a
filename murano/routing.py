"""Websocket routes. Each consumer checks access with the same scoping as the views."""

from django.urls import path

from devices.consumers import ConnectorLogsConsumer
from jobs.consumers import JobProgressConsumer

websocket_urlpatterns: list = [
    path("ws/connectors/<segment:connector_id>/logs/", ConnectorLogsConsumer.as_asgi()),
    path("ws/jobs/<segment:job_id>/", JobProgressConsumer.as_asgi()),
]
