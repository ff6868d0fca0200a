"""Every change to firmware updates goes through these functions.

The management API, the rollout page and (later) the end-user portal start updates with
``rollout_start``; the device API's writes of ``otau_in`` arrive in ``otau_report_received``;
the Celery beat's ``rollouts_tick`` times out silent devices; ``rollout_advance`` sends waves
and pauses or completes rollouts. Delivery is the resource rule everyone else uses: a cloud set
of ``config_otau`` (``devices.services.device_state_set``), which wakes the device's long polls.
"""

import json
import logging
import math
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from connectors import runtime
from connectors.content.packages import config_otau_clean, config_otau_file_ids, config_otau_message
from connectors.models import Connector, ContentItem, Resource
from connectors.services import resource_create, resource_update
from core.tasks import task_send_on_commit
from devices.filters import DeviceFilter
from devices.models import Device
from devices.services import device_state_set
from firmware.models import (
    CONFIG_ALIAS,
    REPORT_ALIAS,
    DeviceUpdate,
    OtauReport,
    Rollout,
    RolloutState,
    UpdateStatus,
    is_failed_status,
    is_finished_status,
    is_reportable_status,
)

# Targeting by filter reads these device-list parameters (devices/filters/).
FILTER_PARAMETERS = ("status", "identity", "q", "tag")
MAX_EXPLICIT_DEVICES = 10_000
MAX_DEVICE_TIMEOUT = 30 * 24 * 3600
_BATCH = 1000

logger = logging.getLogger(__name__)


class FirmwareDisabled(Exception):
    """The connector's firmware updates are off (``firmware_update_enabled``)."""

    message = "Firmware updates are disabled on this connector; enable them in its settings first."


# --- the connector setting -----------------------------------------------------------------


def otau_resources_ensure(*, connector: Connector) -> None:
    """Define ``config_otau`` (string, settable from the cloud) and ``otau_in`` (string, written
    by devices) on the connector, or bring existing definitions back to those formats."""
    existing = {
        r.alias: r
        for r in Resource.objects.filter(connector=connector, alias__in=[CONFIG_ALIAS, REPORT_ALIAS])
    }
    config = existing.get(CONFIG_ALIAS)
    if config is None:
        resource_create(connector=connector, alias=CONFIG_ALIAS, format="string", settable=True, sync=True)
    elif config.format != "string" or not config.settable or not config.sync or config.allowed:
        resource_update(resource=config, format="string", settable=True, sync=True, allowed=[])
    report = existing.get(REPORT_ALIAS)
    if report is None:
        resource_create(connector=connector, alias=REPORT_ALIAS, format="string")
    elif report.format != "string" or report.allowed:
        resource_update(resource=report, format="string", allowed=[])


def firmware_settings_changed(*, connector: Connector, fields: set[str], created: bool) -> None:
    """A connector's settings were saved (``connectors.hooks.settings_changed``): turning
    firmware updates on defines their two resources. Turning them off keeps everything (devices'
    data, history); only new updates are refused."""
    if "firmware_update_enabled" in fields and connector.firmware_update_enabled:
        otau_resources_ensure(connector=connector)


# --- starting an update ----------------------------------------------------------------------


def _message(config_otau, package_id, connector: Connector) -> tuple[dict, str]:
    if (config_otau is None) == (package_id is None):
        raise ValidationError({"message": "give either a config_otau message or a package"})
    if package_id is not None:
        item = ContentItem.objects.filter(
            connector=connector, content_id=str(package_id), package__isnull=False
        ).first()
        if item is None:
            raise ValidationError({"package": "no such firmware package"})
        config = item.package["config_otau"]
    else:
        if isinstance(config_otau, str):
            try:
                config_otau = json.loads(config_otau)
            except json.JSONDecodeError as exc:
                raise ValidationError({"message": f"not valid JSON: {exc.msg}"}) from None
        try:
            config = config_otau_clean(config_otau)
        except ValidationError as exc:
            raise ValidationError({"message": exc.messages}) from None
    files = config_otau_file_ids(config)
    if files:
        found = set(
            ContentItem.objects.filter(connector=connector, content_id__in=files).values_list(
                "content_id", flat=True
            )
        )
        missing = [f for f in files if f not in found]
        if missing:
            names = ", ".join(missing)
            raise ValidationError({"message": f"config_otau.payload names content not in the store: {names}"})
    return config, str(package_id or "")


def _targets(connector: Connector, devices, device_filter) -> tuple[list[int], dict]:
    """The ids of the devices to update, in a stable order, and the target as asked."""
    if (devices is None) == (device_filter is None):
        raise ValidationError({"devices": "give either a list of devices or a filter"})
    if devices is not None:
        if not isinstance(devices, list) or not all(isinstance(d, str) and d for d in devices):
            raise ValidationError({"devices": "must be a list of identities"})
        identities = list(dict.fromkeys(devices))
        if not identities:
            raise ValidationError({"devices": "name at least one device"})
        if len(identities) > MAX_EXPLICIT_DEVICES:
            raise ValidationError(
                {"devices": f"name at most {MAX_EXPLICIT_DEVICES} devices, or target them with a filter"}
            )
        found = dict(
            Device.objects.filter(connector=connector, identity__in=identities).values_list("identity", "id")
        )
        missing = [i for i in identities if i not in found]
        if missing:
            shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
            raise ValidationError({"devices": f"no such devices in this connector: {shown}"})
        return [found[i] for i in identities], {"devices": identities}
    if not isinstance(device_filter, dict) or not device_filter:
        raise ValidationError(
            {"filter": "must be an object of device-list filters (status, identity, q, tag)"}
        )
    unknown = sorted(set(device_filter) - set(FILTER_PARAMETERS))
    if unknown:
        raise ValidationError({"filter": f"unknown filters: {', '.join(unknown)}"})
    try:
        parsed = DeviceFilter.from_params(device_filter, accept=FILTER_PARAMETERS)
    except ValidationError as exc:
        raise ValidationError(
            {
                "filter": [
                    f"{name}: {message}"
                    for name, messages in exc.message_dict.items()
                    for message in messages
                ]
            }
        ) from None
    ids = list(parsed.queryset(connector).order_by("id").values_list("id", flat=True))
    if not ids:
        raise ValidationError({"filter": "no device matches this filter"})
    return ids, {"filter": device_filter}


def _number(value, name: str, *, minimum, maximum, integer: bool):
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not float(value).is_integer())
    ):
        raise ValidationError({name: "must be a whole number" if integer else "must be a number"})
    if not minimum <= value <= maximum:
        raise ValidationError({name: f"must be between {minimum} and {maximum}"})
    return int(value) if integer else float(value)


@transaction.atomic
def rollout_start(
    *,
    connector: Connector,
    config_otau=None,
    package_id: str | None = None,
    devices: list[str] | None = None,
    device_filter: dict | None = None,
    wave_size: int | None = None,
    success_threshold: float | None = None,
    device_timeout: int | None = None,
    created_by=None,
) -> Rollout:
    """Start updating devices: explicit ``devices`` (identities) or every device matching
    ``device_filter`` (the device list's ``status``/``identity``/``q``/``tag``), with the
    ``config_otau`` message given (object or JSON text) or the one of the package ``package_id``.

    ``wave_size``: devices per wave (default: all at once). ``success_threshold`` (0–1): the
    share of a wave that must succeed, else the rollout pauses (default: never pauses).
    ``device_timeout``: seconds a device may stay silent before it counts as failed.
    The first wave goes out once this is committed (a Celery task).
    """
    if not Connector.objects.filter(pk=connector.pk, firmware_update_enabled=True).exists():
        raise FirmwareDisabled()
    config, package = _message(config_otau, package_id, connector)
    wave_size = _number(wave_size, "wave_size", minimum=1, maximum=1_000_000, integer=True)
    success_threshold = _number(success_threshold, "success_threshold", minimum=0, maximum=1, integer=False)
    device_timeout = _number(device_timeout, "device_timeout", minimum=10, maximum=MAX_DEVICE_TIMEOUT,
                             integer=True) or settings.FIRMWARE_DEVICE_TIMEOUT  # fmt: skip
    device_ids, target = _targets(connector, devices, device_filter)
    size = wave_size or len(device_ids)
    rollout = Rollout.objects.create(
        connector=connector, package_id=package, version=config["version"], config_otau=config,
        target=target, wave_size=wave_size, wave_count=math.ceil(len(device_ids) / size),
        success_threshold=success_threshold, device_timeout=device_timeout,
        device_count=len(device_ids), created_by=created_by if getattr(created_by, "pk", None) else None,
    )  # fmt: skip
    for start in range(0, len(device_ids), _BATCH):
        DeviceUpdate.objects.bulk_create(
            [
                DeviceUpdate(rollout=rollout, device_id=device_id, wave=(start + offset) // size)
                for offset, device_id in enumerate(device_ids[start : start + _BATCH])
            ]
        )
    _advance_on_commit(rollout.pk)
    return rollout


def _advance_on_commit(rollout_id: int) -> None:
    """Advance the rollout on a worker once committed. A broker that is down fails nothing: the
    rollout is running in the database, and the scheduler's next tick advances it."""
    later = "the rollout scheduler's next tick advances it"
    task_send_on_commit("firmware.rollout_advance", rollout_id, later=later)


# --- waves -------------------------------------------------------------------------------------


def _wave_send(rollout: Rollout, wave: int, limit: int) -> int:
    """Deliver the message to up to ``limit`` of the wave's queued devices (a cloud set of
    config_otau each); an unfinished update of the same device in another rollout is
    superseded. Returns how many were sent."""
    queued = list(
        DeviceUpdate.objects.filter(rollout=rollout, wave=wave, status=UpdateStatus.QUEUED)
        .select_related("device")
        .order_by("id")[:limit]
    )
    if not queued:
        return 0
    connector = Connector.objects.get(pk=rollout.connector_id)
    otau_resources_ensure(connector=connector)
    connector.refresh_from_db(fields=["updated_at"])
    rules = runtime.connector_rules(connector)
    message = config_otau_message(rollout.config_otau)
    now = timezone.now()
    superseded = DeviceUpdate.objects.filter(
        device_id__in=[u.device_id for u in queued], finished_at__isnull=True
    ).exclude(rollout=rollout)
    others = set(superseded.values_list("rollout_id", flat=True))
    superseded.update(
        status=UpdateStatus.CANCELLED, message=f"superseded by rollout {rollout.pk}", finished_at=now,
        deadline=None,
    )  # fmt: skip
    for update in queued:
        device_state_set(device=update.device, values={CONFIG_ALIAS: message}, rules=rules)
        update.status = UpdateStatus.SENT
        update.sent_at = now
        update.deadline = now + timedelta(seconds=rollout.device_timeout)
    DeviceUpdate.objects.bulk_update(queued, ["status", "sent_at", "deadline"], batch_size=_BATCH)
    for other in others:
        _advance_on_commit(other)
    return len(queued)


def rollout_wave_counts(rollout: Rollout, wave: int) -> dict[str, int]:
    rows = (
        DeviceUpdate.objects.filter(rollout=rollout, wave=wave)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def _failure_problem(rollout: Rollout, wave: int, counts: dict[str, int]) -> str | None:
    """Why the wave's failures pause the rollout, or None."""
    if rollout.success_threshold is None or rollout.waived_wave == wave:
        return None
    total = sum(n for status, n in counts.items() if status != UpdateStatus.CANCELLED)
    failed = sum(n for status, n in counts.items() if is_failed_status(status))
    allowed = math.floor(total * (1 - rollout.success_threshold) + 1e-9)
    if failed <= allowed:
        return None
    return (
        f"wave {wave + 1} of {rollout.wave_count}: {failed} of {total} devices failed; the "
        f"{rollout.success_threshold:.0%} success threshold allows at most {allowed}"
    )


def rollout_advance(*, rollout_id: int) -> Rollout | None:
    """Move a running rollout on: send its current wave, pause it when the wave has more
    failures than its threshold allows, start the next wave when this one has finished, and
    complete it after the last. Safe to call any time, from anywhere: each step locks the rollout.

    A wave goes out ``FIRMWARE_SEND_BATCH`` devices per transaction (a short one: device writes
    wait for none of it), each committed with the devices it marked ``SENT``. A worker that dies
    mid-wave therefore leaves the rest of the wave ``QUEUED`` in a running rollout, and whoever
    calls this next (the scheduler's tick, at the latest) sends the rest; nobody gets it twice."""
    while True:
        with transaction.atomic():
            rollout = Rollout.objects.select_for_update().filter(pk=rollout_id).first()
            if rollout is None or rollout.state != RolloutState.RUNNING:
                return rollout
            if not _rollout_step(rollout):
                return rollout


def _rollout_step(rollout: Rollout) -> bool:
    """One transaction's worth of ``rollout_advance``; True when there is more to do at once."""
    now = timezone.now()
    wave = rollout.current_wave
    limit = settings.FIRMWARE_SEND_BATCH
    more = _wave_send(rollout, wave, limit) >= limit
    if not more:
        counts = rollout_wave_counts(rollout, wave)
        problem = _failure_problem(rollout, wave, counts)
        if problem:
            rollout.state, rollout.state_reason = RolloutState.PAUSED, f"Paused: {problem}."
        elif any(not is_finished_status(status) for status in counts):
            pass  # the wave's devices have yet to report
        elif wave + 1 >= rollout.wave_count:
            rollout.state, rollout.finished_at = RolloutState.COMPLETED, now
            rollout.state_reason = "Every wave has finished."
        else:
            rollout.current_wave = wave + 1
            more = True
    rollout.updated_at = now
    rollout.save(update_fields=["state", "state_reason", "current_wave", "finished_at", "updated_at"])
    return more


@transaction.atomic
def rollout_set_state(*, rollout: Rollout, state: str) -> Rollout:
    """A person pauses, resumes or cancels a rollout.

    Resuming a rollout that its threshold paused accepts the current wave's failures: the wave
    finishes and the next ones go out. Cancelling drops the devices not sent yet; those already
    sent keep reporting into their history."""
    rollout = Rollout.objects.select_for_update().filter(pk=rollout.pk).first()
    if rollout is None:  # deleted with its connector since the caller found it
        raise Http404("No such rollout.")
    now = timezone.now()
    if state == rollout.state:
        return rollout
    if state == RolloutState.PAUSED and rollout.state == RolloutState.RUNNING:
        rollout.state_reason = "Paused by a person."
    elif state == RolloutState.RUNNING and rollout.state == RolloutState.PAUSED:
        rollout.waived_wave = rollout.current_wave
        rollout.state_reason = ""
        _advance_on_commit(rollout.pk)
    elif state == RolloutState.CANCELLED and rollout.is_active:
        DeviceUpdate.objects.filter(rollout=rollout, status=UpdateStatus.QUEUED).update(
            status=UpdateStatus.CANCELLED, message="rollout cancelled", finished_at=now
        )
        rollout.finished_at = now
        rollout.state_reason = "Cancelled by a person."
    else:
        # A conflict with the rollout's state, not bad input: the APIs answer 409.
        message = f"a {rollout.state} rollout cannot become {state}"
        raise ValidationError({"state": ValidationError(message, code="conflict")})
    rollout.state = state
    rollout.updated_at = now
    rollout.save(update_fields=["state", "state_reason", "waived_wave", "finished_at", "updated_at"])
    return rollout


# --- what devices report -------------------------------------------------------------------------


def _parse_report(value: str) -> tuple[str, str, str] | None:
    """``(version, status, message)`` of an otau_in value, or None when it is not a report."""
    try:
        report = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(report, dict):
        return None
    status, version, message = report.get("status"), report.get("version", ""), report.get("message", "")
    if not isinstance(status, str) or not is_reportable_status(status):
        return None
    if version is None:
        version = ""
    if message is None:
        message = ""
    if not isinstance(version, str) or len(version) > 64 or not isinstance(message, (str, int, float)):
        return None
    return version, status, str(message)[:1000]


def otau_report_received(*, device: Device, value: str) -> OtauReport | None:
    """A device wrote ``otau_in`` (``devices.hooks.value_written``): keep the report
    in its history and move its update.

    The update it is about is the device's unfinished one for the reported version (or its
    latest unfinished one when no version is given); a timed-out update still takes a late
    final report (``INSTALL_SUCCESS`` or an error), so history shows what really happened.
    A finished update may let its rollout move on (a Celery task once committed).
    """
    enabled = Connector.objects.filter(pk=device.connector_id, firmware_update_enabled=True).exists()
    if not enabled:
        return None
    parsed = _parse_report(value)
    now = timezone.now()
    with transaction.atomic():
        if parsed is None:
            return OtauReport.objects.create(
                device_id=device.pk, status="INVALID", raw=value[:4000], created_at=now,
                message="not a report: expected JSON {version, status, message} with a known status",
            )  # fmt: skip
        version, status, message = parsed
        update = _reported_update(device, version, status)
        if update is not None:
            update.status = status
            update.message = message
            update.reported_at = now
            if is_finished_status(status):
                update.finished_at, update.deadline = now, None
            else:
                update.deadline = now + timedelta(seconds=update.rollout.device_timeout)
            update.save(update_fields=["status", "message", "reported_at", "finished_at", "deadline"])
            if update.finished_at is not None and update.rollout.state == RolloutState.RUNNING:
                _advance_on_commit(update.rollout_id)
        return OtauReport.objects.create(
            device_id=device.pk, device_update=update, version=version, status=status, message=message,
            created_at=now,
        )  # fmt: skip


def _reported_update(device: Device, version: str, status: str) -> DeviceUpdate | None:
    late_final = is_finished_status(status)
    candidates = (
        DeviceUpdate.objects.select_for_update(of=("self",))
        .select_related("rollout")
        .filter(device_id=device.pk)
        .exclude(status=UpdateStatus.QUEUED)
        .filter(
            Q(finished_at__isnull=True) | Q(status=UpdateStatus.TIMEOUT)
            if late_final
            else Q(finished_at__isnull=True)
        )
        .order_by("-sent_at", "-id")
    )
    if version:
        candidates = candidates.filter(rollout__version=version)
    return candidates.first()


# --- the scheduler ---------------------------------------------------------------------------


def rollouts_tick(*, now=None) -> int:
    """Time out devices silent past their deadline, then move every running rollout on (the
    Celery beat runs this every ``FIRMWARE_TICK_SECONDS``). Returns how many timed out."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = DeviceUpdate.objects.filter(finished_at__isnull=True, deadline__lt=now).exclude(
            status=UpdateStatus.QUEUED
        )
        timed_out = expired.update(
            status=UpdateStatus.TIMEOUT, finished_at=now, deadline=None,
            message="no report from the device before its deadline",
        )  # fmt: skip
    for rollout_id in Rollout.objects.filter(state=RolloutState.RUNNING).values_list("id", flat=True):
        try:
            rollout_advance(rollout_id=rollout_id)
        except Exception:
            # One rollout that cannot move (a bug, a device row gone mid-wave) must not hold up
            # the others; it is tried again at the next tick.
            logger.exception("rollout %s could not be advanced", rollout_id)
    return timed_out
