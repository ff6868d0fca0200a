"""A connector's integration: another cloud's API whose assets become the connector's devices."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Health(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Unhealthy"


class Integration(models.Model):
    """One per connector at most. ``spec_text`` is the document as the product manager gave it
    (shown back to them), ``spec`` the parsed document (what the workers read). ``config`` holds
    the configuration's plain values; the secret ones (``format: password``) are in ``secrets``,
    a JSON object encrypted with the platform's key (``core.crypto``). ``sync`` is the sync
    settings (``services.SyncSettings``). The last health check's outcome is kept here; runs are
    jobs (``jobs.Job`` of kind ``integration_sync``)."""

    connector = models.OneToOneField(
        "connectors.Connector", on_delete=models.CASCADE, related_name="integration", primary_key=True
    )
    spec_text = models.TextField()
    spec = models.JSONField()
    config = models.JSONField(default=dict, blank=True)
    secrets = models.TextField(blank=True, help_text="encrypted JSON of the secret configuration values")
    sync = models.JSONField(default=dict, blank=True)
    maintainer_email = models.EmailField(blank=True)
    health_status = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_changed_at = models.DateTimeField(null=True, blank=True)
    health_error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        title = (self.spec.get("info") or {}).get("title", "") if isinstance(self.spec, dict) else ""
        return f"{title or 'Integration'} → {self.connector_id}"
