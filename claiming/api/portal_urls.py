"""The portal's JSON API (shared/docs/claiming-and-portal.md), under ``api/`` of a portal host."""

urlpatterns = []
