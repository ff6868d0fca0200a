"""Every change to an integration goes through these functions (the API, the Integration tab,
the tasks and the admin call them).

``integration_put`` checks the whole request at once (the spec, the configuration, the sync
settings) and reports every problem together; ``integration_delete`` removes it (the devices
stay). ``sync_start`` queues a run (``sync.sync_run`` does it), ``health_check`` checks the
third party and tells the maintainer when it changes, ``operation_call`` calls any operation of
the spec. The schedule of runs is a django-celery-beat periodic task per integration.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.selectors import business_admin_emails
from connectors.models import Connector, Resource
from connectors.services import resource_create
from core.crypto import decrypt_secret, encrypt_secret
from core.tasks import task_send_on_commit
from integrations.models import Health, Integration
from integrations.spec import Spec, SpecInvalid, spec_load, spec_parse, spec_read
from jobs.models import Job, JobKind, JobState
from jobs.services import job_create, job_dispatch_on_commit

logger = logging.getLogger(__name__)

IDENTITY_KINDS = ("sha256", "asset_id")
MIN_INTERVAL = 10
DEFAULT_INTERVAL = 300
CONFIG_IO = "config_io"
SYNC_TASK = "integrations.sync_scheduled"


# --- the sync settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncSettings:
    """What a run does (the ``sync`` object of the API): ``list_operation`` lists the assets
    (a JSON array, or an object holding one, ``list_field`` naming it when there are several);
    ``page_parameter`` + ``next_field`` page through a long list (the answer's ``next_field``
    is sent back as ``page_parameter`` until it is empty); ``detail_operation`` (new assets) and
    ``state_operation`` (each run) take the asset's id, found in ``id_field``, as their
    ``id_parameter``; the device identity is ``sha256(id)`` or the id itself."""

    list_operation: str = ""
    state_operation: str = ""
    detail_operation: str = ""
    id_field: str = "id"
    id_parameter: str = ""
    identity: str = "sha256"
    interval_seconds: int = DEFAULT_INTERVAL
    config_io: object = None
    list_field: str = ""
    page_parameter: str = ""
    next_field: str = "next"
    enabled: bool = True

    @classmethod
    def of(cls, data: dict) -> SyncSettings:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in (data or {})}
        return cls(**known)

    def as_json(self) -> dict:
        return asdict(self)


_SYNC_TEXT = ("list_operation", "state_operation", "detail_operation", "id_field", "id_parameter",
              "list_field", "page_parameter", "next_field")  # fmt: skip


def _sync_clean(raw, spec: Spec | None) -> tuple[SyncSettings | None, list[str]]:
    """The sync settings, or the problems with them (as ``"<field>: <what>"``)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return None, ["must be an object"]
    problems = [f"{name}: unknown setting" for name in raw if name not in SyncSettings.__dataclass_fields__]
    values = {}
    for name in _SYNC_TEXT:
        if name in raw and raw[name] is not None:
            if not isinstance(raw[name], str) or len(raw[name]) > 100:
                problems.append(f"{name}: must be a text of at most 100 characters")
            else:
                values[name] = raw[name].strip()
    if "identity" in raw:
        if raw["identity"] not in IDENTITY_KINDS:
            problems.append(f"identity: must be one of {', '.join(IDENTITY_KINDS)}")
        else:
            values["identity"] = raw["identity"]
    if "interval_seconds" in raw:
        interval = raw["interval_seconds"]
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int)
            or not MIN_INTERVAL <= interval <= 7 * 86400
        ):
            problems.append(
                f"interval_seconds: must be a whole number of seconds from {MIN_INTERVAL} to 604800"
            )
        else:
            values["interval_seconds"] = interval
    if "enabled" in raw:
        if not isinstance(raw["enabled"], bool):
            problems.append("enabled: must be true or false")
        else:
            values["enabled"] = raw["enabled"]
    if raw.get("config_io") is not None:
        config_io = raw["config_io"]
        if not isinstance(config_io, dict | str):
            problems.append("config_io: must be an object (or its JSON text)")
        elif isinstance(config_io, str):
            try:
                json.loads(config_io)
            except ValueError:
                problems.append("config_io: is not valid JSON")
        values["config_io"] = config_io
        if len(json.dumps(config_io)) > 64 * 1024:
            problems.append("config_io: must be at most 64 KB")
    # The values that were readable are checked further too: every problem at once.
    sync = SyncSettings(**values)
    if not sync.list_operation:
        problems.append("list_operation: is required (the operation that lists the assets)")
    if not sync.id_field:
        problems.append("id_field: is required (the asset's field holding its id)")
    if spec is not None:
        problems += _sync_operation_problems(sync, spec)
    return (None if problems else sync), problems


def _sync_operation_problems(sync: SyncSettings, spec: Spec) -> list[str]:
    problems = []
    for name in ("list_operation", "state_operation", "detail_operation"):
        operation_id = getattr(sync, name)
        if not operation_id:
            continue
        operation = spec.operations.get(operation_id)
        if operation is None:
            problems.append(f"{name}: the spec has no operation {operation_id}")
            continue
        if name == "list_operation":
            if sync.page_parameter and operation.parameter(sync.page_parameter) is None:
                problems.append(f"page_parameter: {operation_id} has no parameter {sync.page_parameter}")
            continue
        try:
            id_parameter(sync, spec, operation_id)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def id_parameter(sync: SyncSettings, spec: Spec, operation_id: str) -> str:
    """The parameter of ``operation_id`` that takes the asset's id: ``sync.id_parameter``, or
    its only path (else query) parameter not filled from the configuration."""
    operation = spec.operations[operation_id]
    candidates = [
        p
        for p in operation.parameters
        if p.location in ("path", "query") and spec.config_field(p.name) is None
    ]
    if sync.id_parameter:
        if not any(p.name == sync.id_parameter for p in candidates):
            raise ValueError(f"{operation_id} has no parameter {sync.id_parameter} to take the asset id")
        return sync.id_parameter
    in_path = [p.name for p in candidates if p.location == "path"]
    if len(in_path) == 1:
        return in_path[0]
    if not in_path and len(candidates) == 1:
        return candidates[0].name
    if not candidates:
        raise ValueError(f"{operation_id} must take the asset id as a parameter")
    raise ValueError(
        f"{operation_id} has several parameters; name the one taking the asset id in id_parameter"
    )


# --- the configuration --------------------------------------------------------------------------


def _config_clean(raw, spec: Spec, existing: Integration | None) -> tuple[dict, dict, list[str]]:
    """``(plain values, secret values, problems)``. A secret left out (or sent as None) keeps its
    stored value, so a form need not show it to change something else."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return {}, {}, ["must be an object of the configuration fields"]
    problems = [
        f"{name}: not a configuration field of this spec" for name in raw if spec.config_field(name) is None
    ]
    stored_secrets = integration_secrets(existing) if existing is not None else {}
    plain, secret = {}, {}
    for config_field in spec.config_fields:
        value = raw.get(config_field.name)
        if value is None or value == "":
            if config_field.secret and config_field.name in stored_secrets and value is None:
                secret[config_field.name] = stored_secrets[config_field.name]
            elif config_field.required:
                problems.append(f"{config_field.name}: is required ({config_field.description})")
            continue
        problem = _config_type_problem(config_field.type, value)
        if problem:
            problems.append(f"{config_field.name}: {problem}")
            continue
        if isinstance(value, str) and len(value) > 2000:
            problems.append(f"{config_field.name}: must be at most 2000 characters")
            continue
        (secret if config_field.secret else plain)[config_field.name] = value
    return plain, secret, problems


def _config_type_problem(kind: str, value) -> str | None:
    if kind == "string":
        return None if isinstance(value, str) else "must be a text"
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if kind == "number":
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "must be a number"
    return None


def integration_secrets(integration: Integration) -> dict:
    """The secret configuration values, decrypted (for calls only: never shown, never logged)."""
    if not integration.secrets:
        return {}
    try:
        return json.loads(decrypt_secret(integration.secrets))
    except ValueError:
        logger.error(
            "integration of %s: its secrets cannot be decrypted with the configured keys", integration.pk
        )
        return {}


def integration_config(integration: Integration) -> dict:
    """Every configuration value, secrets included, as calls need them."""
    return {**integration.config, **integration_secrets(integration)}


# --- creating, changing, removing ---------------------------------------------------------------


def integration_put(*, connector: Connector, data: dict, user=None) -> Integration:
    """Create or replace the connector's integration from the API's body (``spec``, ``config``,
    ``sync``, ``maintainer_email``). Every problem is reported at once, by field:
    ``ValidationError({"spec": [...], "config": [...], "sync": [...]})``."""
    if not isinstance(data, dict):
        raise ValidationError({"detail": "send an object with spec, config, sync and maintainer_email"})
    existing = Integration.objects.filter(connector=connector).first()
    errors: dict[str, list[str]] = {}
    unknown = set(data) - {"spec", "config", "sync", "maintainer_email"}
    for name in sorted(unknown):
        errors[name] = ["unknown field"]
    spec_text = data.get("spec")  # always sent: a PUT replaces the spec (config and sync may stay)
    spec = None
    try:
        spec = spec_load(spec_text)
    except SpecInvalid as exc:
        errors["spec"] = exc.problems
    if spec is not None:
        refusal = host_refusal(spec)
        if refusal:
            errors["spec"] = [f"host: {refusal}"]
    if spec is not None:
        config_raw = data.get("config")
        if config_raw is None and existing is not None:  # left out: kept, as the sync settings are
            config_raw = {name: value for name, value in existing.config.items() if spec.config_field(name)}
        plain, secret, problems = _config_clean(config_raw, spec, existing)
        if problems:
            errors["config"] = problems
    sync_raw = data.get("sync")
    if sync_raw is None and existing is not None:
        sync_raw = existing.sync
    sync, problems = _sync_clean(sync_raw, spec)
    if problems:
        errors["sync"] = problems
    maintainer = data.get("maintainer_email", existing.maintainer_email if existing else "") or ""
    if not isinstance(maintainer, str):
        errors["maintainer_email"] = ["must be an e-mail address"]
    elif maintainer:
        try:
            validate_email(maintainer)
        except ValidationError:
            errors["maintainer_email"] = ["must be an e-mail address"]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        integration = existing or Integration(connector=connector, created_by=user)
        changed_api = existing is None or existing.spec.get("host") != spec.document.get("host")
        integration.spec_text = spec_text
        integration.spec = spec.document
        integration.config = plain
        integration.secrets = encrypt_secret(json.dumps(secret)) if secret else ""
        integration.sync = sync.as_json()
        integration.maintainer_email = maintainer
        integration.updated_at = timezone.now()
        if changed_api:  # another API: what was known of the old one's health means nothing
            integration.health_status, integration.health_error = Health.UNKNOWN, ""
            integration.health_checked_at = integration.health_changed_at = None
        integration.save()
        if (
            sync.config_io is not None
            and not Resource.objects.filter(connector=connector, alias=CONFIG_IO).exists()
        ):
            resource_create(connector=connector, alias=CONFIG_IO, format="string", settable=True, sync=True)
        _schedule(integration, sync)
        # Its health shows soon after it is saved, not at the next beat (a new API, or new
        # credentials, may well fail: that is what the product manager wants to know first).
        task_send_on_commit(
            "integrations.health_check", connector.pk, later="it is checked at the next HEALTH_INTERVAL"
        )
    logger.info("integration of %s saved (%s, %d operations)", connector.pk, spec.title, len(spec.operations))
    return integration


def host_refusal(spec: Spec) -> str | None:
    """Why the platform will not call the spec's host (it resolves to a private address, say),
    told when the spec is saved; a name that does not resolve now is accepted (the health check
    will say). Every call checks again."""
    from integrations.client import CallFailed, HostRefused, host_resolve

    try:
        host_resolve(spec.host)
    except HostRefused as exc:
        return exc.reason
    except CallFailed:
        return None
    return None


def integration_delete(*, integration: Integration) -> None:
    """Remove the integration and its schedule; its devices, and their values, stay."""
    connector_id = integration.connector_id
    with transaction.atomic():
        _unschedule(connector_id)
        integration.delete()


def integration_connector_deleting(*, connector: Connector, **_) -> None:
    """``connectors.hooks.connector_deleting``: the schedule goes with the connector."""
    _unschedule(connector.pk)


def _task_name(connector_id: str) -> str:
    return f"integration-sync:{connector_id}"


def _schedule(integration: Integration, sync: SyncSettings) -> None:
    """The integration's runs every ``interval_seconds`` (a django-celery-beat periodic task)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    interval, _ = IntervalSchedule.objects.get_or_create(
        every=sync.interval_seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name=_task_name(integration.connector_id),
        defaults={
            "task": SYNC_TASK,
            "interval": interval,
            "args": json.dumps([integration.connector_id]),
            "enabled": sync.enabled,
            "description": "Sync the connector's integration (assets and their state)",
        },
    )


def _unschedule(connector_id: str) -> None:
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=_task_name(connector_id)).delete()


# --- runs ---------------------------------------------------------------------------------------


def sync_start(*, integration: Integration, user=None) -> tuple[Job, bool]:
    """Queue a run of the integration as a job (``integrations.sync`` runs it). Runs never
    overlap: while one is queued or running, that one is returned instead (``(job, False)``)."""
    connector = integration.connector
    running = _sync_in_progress(connector)
    if running is not None:
        return running, False
    try:
        with transaction.atomic():
            job = job_create(
                kind=JobKind.INTEGRATION_SYNC,
                business=connector.business,
                connector=connector,
                created_by=user,
            )
            job_dispatch_on_commit(job=job)
    except IntegrityError:  # another request queued one at the same moment
        running = _sync_in_progress(connector)
        if running is None:
            raise
        return running, False
    return job, True


def _sync_in_progress(connector: Connector) -> Job | None:
    return (
        Job.objects.filter(
            connector=connector, kind=JobKind.INTEGRATION_SYNC, state__in=[JobState.QUEUED, JobState.RUNNING]
        )
        .order_by("-created_at")
        .first()
    )


def sync_scheduled(*, connector_id: str) -> None:
    """Celery beat's run of a connector's integration: queued unless one is already under way
    (a slow run is not stacked up behind). A schedule left over from a removed integration is
    removed."""
    integration = (
        Integration.objects.select_related("connector__business").filter(connector_id=connector_id).first()
    )
    if integration is None:
        _unschedule(connector_id)
        return
    if not SyncSettings.of(integration.sync).enabled:
        return
    sync_start(integration=integration)


def integration_spec(integration: Integration) -> Spec:
    """The integration's spec, read from the text it was given: the operations keep the
    document's order (a jsonb column keeps its keys in an order of its own)."""
    return spec_read(spec_parse(integration.spec_text))


# --- health -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthOutcome:
    status: str
    error: str = ""


def health_check(*, integration: Integration, now=None) -> HealthOutcome:
    """``GET`` the spec's ``x-exosite-health-path`` (else its ``basePath``): any 2XX is healthy.

    On a change to unhealthy the maintainer (or, without one, the business's admins) gets one
    e-mail, and one when it recovers; repeated checks with the same outcome send nothing. The
    change is decided under a row lock, so two checks at once send one e-mail."""
    from integrations.client import CallFailed, ThirdParty
    from integrations.emails import health_email_send

    spec = integration_spec(integration)
    error = ""
    try:
        with ThirdParty(spec, integration_config(integration), retries=1) as api:
            answer = api.get(health_path(spec))
        if not answer.ok:
            error = f"GET {health_path(spec)} answered {answer.status}"
    except CallFailed as exc:
        error = exc.reason
    status = Health.UNHEALTHY if error else Health.HEALTHY
    now = now or timezone.now()
    with transaction.atomic():
        row = Integration.objects.select_for_update().filter(pk=integration.pk).first()
        if row is None:  # removed meanwhile
            return HealthOutcome(status=status, error=error)
        previous = row.health_status
        changed = previous != status
        fields = {"health_status": status, "health_error": error[:500], "health_checked_at": now}
        if changed:
            fields["health_changed_at"] = now
        Integration.objects.filter(pk=row.pk).update(**fields)
        for name, value in fields.items():
            setattr(integration, name, value)
        # Unknown → healthy is the first check going well: nothing to tell.
        if changed and (status == Health.UNHEALTHY or previous == Health.UNHEALTHY):
            recipients = health_recipients(row)
            transaction.on_commit(lambda: health_email_send(integration=integration, recipients=recipients))
    if changed:
        logger.warning("integration of %s is now %s%s", integration.pk, status, f": {error}" if error else "")
    return HealthOutcome(status=status, error=error)


def health_path(spec: Spec) -> str:
    """Where health is checked: ``x-exosite-health-path`` (an endpoint of the API, under its
    ``basePath``), else the ``basePath`` itself."""
    if spec.health_path:
        return spec.base_path.rstrip("/") + spec.health_path
    return spec.base_path


def health_recipients(integration: Integration) -> list[str]:
    if integration.maintainer_email:
        return [integration.maintainer_email]
    return business_admin_emails(business_id=integration.connector.business_id)


def health_due() -> list[str]:
    """The connectors whose integration is due a health check (``HEALTH_INTERVAL``)."""
    from datetime import timedelta

    # A little early rather than a whole beat late: checks then keep their interval.
    due = timezone.now() - timedelta(seconds=settings.HEALTH_INTERVAL * 0.9)
    never_or_due = Q(health_checked_at__isnull=True) | Q(health_checked_at__lt=due)
    return list(Integration.objects.filter(never_or_due).values_list("connector_id", flat=True))
