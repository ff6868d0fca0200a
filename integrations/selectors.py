"""Reads of integrations: the connector's one, its JSON, its last run."""

from django.http import Http404

from integrations.models import Integration
from integrations.services import health_path, integration_secrets, integration_spec
from jobs.models import Job, JobKind


def integration_get(*, connector) -> Integration:
    """The connector's integration, or 404."""
    integration = Integration.objects.filter(connector=connector).select_related("connector").first()
    if integration is None:
        raise Http404("This connector has no integration.")
    return integration


def integration_find(*, connector) -> Integration | None:
    return Integration.objects.filter(connector=connector).select_related("connector").first()


def last_sync(integration: Integration) -> Job | None:
    """The integration's latest run (under way or over)."""
    return (
        Job.objects.filter(connector_id=integration.connector_id, kind=JobKind.INTEGRATION_SYNC)
        .order_by("-created_at")
        .first()
    )


def last_sync_json(job: Job | None) -> dict | None:
    if job is None:
        return None
    return {
        "job": str(job.pk),
        "state": job.state,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "assets": job.total if job.total is not None else job.done,
        "done": job.done,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "error_count": job.error_count,
        "errors": [{"asset": e.get("asset", ""), "reason": e.get("reason", "")} for e in job.errors],
        "detail": job.detail,
    }


def health_json(integration: Integration) -> dict:
    return {
        "status": integration.health_status,
        "checked_at": integration.health_checked_at,
        "changed_at": integration.health_changed_at,
        "error": integration.health_error,
    }


def integration_json(integration: Integration, spec=None) -> dict:
    """What the API shows of an integration: secrets only as ``{"set": true|false}``. ``spec``:
    its spec when the caller has read it already (it is parsed from the stored text)."""
    spec = spec or integration_spec(integration)
    secrets = integration_secrets(integration)
    config = {}
    for config_field in spec.config_fields:
        if config_field.secret:
            config[config_field.name] = {"set": config_field.name in secrets}
        elif config_field.name in integration.config:
            config[config_field.name] = integration.config[config_field.name]
    return {
        "connector": integration.connector_id,
        "title": spec.title,
        "version": spec.version,
        "host": spec.host,
        "base_path": spec.base_path,
        "health_path": health_path(spec),
        "spec": integration.spec_text,
        "config": config,
        "config_fields": [
            {
                "name": f.name,
                "description": f.description,
                "type": f.type,
                "format": f.format,
                "required": f.required,
                "secret": f.secret,
            }  # fmt: skip
            for f in spec.config_fields
        ],
        "sync": integration.sync,
        "maintainer_email": integration.maintainer_email,
        "health": health_json(integration),
        "last_sync": last_sync_json(last_sync(integration)),
        "created_at": integration.created_at,
        "updated_at": integration.updated_at,
    }
