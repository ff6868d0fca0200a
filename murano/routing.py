"""Websocket routes (the live Logs page adds its consumer here)."""

websocket_urlpatterns: list = []
