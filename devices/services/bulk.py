"""One change to many devices at once (the Devices tab's bulk actions): lock, unlock, revoke
credentials, delete, add a tag, remove a tag.

A few hundred devices picked by hand are changed in the request (``devices_bulk_apply``); all
the devices matching a filter, or a larger list, by a background job with progress
(``devices_bulk_start`` queues it, ``devices_bulk_job_run`` is what its Celery task runs). Both
go through ``devices_bulk_apply`` a chunk at a time, so an action means the same thing however
many devices it touches, and the same thing as on one device's page: revoking sets what
``device_revoke`` sets (``REVOKED``), deleting queues the devices' history for removal and
records a ``deleted`` event per device as ``device_delete`` does, tags are checked by
``tags_clean``.

Every action can be run again harmlessly (a locked device stays locked, a deleted one is gone),
so a job resumed after its worker died simply starts from the first device again.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet

from connectors.models import Connector
from devices.events import EventType, event_emit
from devices.filters import FILTER_PARAMETERS, DeviceFilter
from devices.models import Device, DeviceTag
from devices.selectors import devices_in_chunks
from devices.services.history import history_forget_devices
from devices.services.whitelist import REVOKED, tags_clean
from jobs.leases import job_run
from jobs.models import Job, JobKind
from jobs.services import job_create, job_dispatch_on_commit, job_fail, job_outcome, job_progress

# The actions, as forms and jobs name them, with the past participle messages use.
BULK_ACTIONS = {
    "lock": "locked",
    "unlock": "unlocked",
    "revoke": "revoked",
    "delete": "deleted",
    "tag_add": "tagged",
    "tag_remove": "untagged",
}
TAG_ACTIONS = ("tag_add", "tag_remove")
# A selection of at most this many devices is changed in the request; more, or "all matching
# the filter", is a job.
BULK_IN_REQUEST_LIMIT = 500
# Devices changed per transaction (and per progress report) by a job.
BULK_BATCH = 500


@dataclass(frozen=True)
class BulkAction:
    """A checked bulk action: its name (one of ``BULK_ACTIONS``) and, for the tag actions, the
    tag (name, value)."""

    name: str
    tag: tuple[str, str] | None = None

    @classmethod
    def parse(cls, action: str, *, tag_name: str = "", tag_value: str = "") -> "BulkAction":
        """Raises ``ValidationError`` naming ``action`` or ``tag``."""
        if action not in BULK_ACTIONS:
            raise ValidationError({"action": f"choose one of {', '.join(BULK_ACTIONS)}"})
        if action not in TAG_ACTIONS:
            return cls(action)
        if not (tag_name or "").strip():
            raise ValidationError({"tag": "give the name of the tag"})
        ((name, value),) = tags_clean([{"name": tag_name, "value": tag_value or ""}])
        return cls(action, (name, value))

    @property
    def done(self) -> str:
        return BULK_ACTIONS[self.name]

    def as_params(self) -> dict:
        return {"action": self.name, "tag": list(self.tag) if self.tag else None}

    @classmethod
    def from_params(cls, params: Mapping) -> "BulkAction":
        tag = params.get("tag") or ["", ""]
        return cls.parse(params.get("action", ""), tag_name=tag[0], tag_value=tag[1])


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    size = min(BULK_BATCH, 900) if connection.vendor == "sqlite" else BULK_BATCH
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def devices_bulk_apply(*, connector: Connector, action: BulkAction, device_ids) -> int:
    """Apply ``action`` to the connector's devices among ``device_ids`` (ids of other
    connectors' devices are ignored), a chunk per transaction. Returns how many devices it
    changed (a tag added to a device that had it already, or an unlocked device unlocked, does
    not count)."""
    changed = 0
    for chunk in _chunks(sorted(set(device_ids))):
        changed += _apply_chunk(connector, action, chunk)
    return changed


@transaction.atomic
def _apply_chunk(connector: Connector, action: BulkAction, ids: list[int]) -> int:
    devices = Device.objects.filter(connector=connector, pk__in=ids)
    if action.name in ("lock", "unlock"):
        locked = action.name == "lock"
        return devices.exclude(locked=locked).update(locked=locked)
    if action.name == "revoke":
        return devices.update(**REVOKED)
    if action.name == "tag_add":
        name, value = action.tag
        tagged = DeviceTag.objects.filter(device_id__in=ids, name=name, value=value).values("device_id")
        rows = devices.exclude(pk__in=tagged).only("id", "connector_id", "identity")
        added = DeviceTag.objects.bulk_create(
            [DeviceTag.of(device, name, value) for device in rows], ignore_conflicts=True
        )
        return len(added)
    if action.name == "tag_remove":
        name, value = action.tag
        removed = DeviceTag.objects.filter(connector=connector, device_id__in=ids, name=name, value=value)
        return removed.delete()[1].get(DeviceTag._meta.label, 0)
    return _delete(connector, devices)


def _delete(connector: Connector, devices: QuerySet) -> int:
    """Delete ``devices`` as ``device_delete`` deletes one: rows locked first (a change in flight
    commits before), history queued for removal, a ``deleted`` event each once committed."""
    rows = list(devices.select_for_update().values_list("pk", "identity"))
    if not rows:
        return 0
    history_forget_devices([pk for pk, _ in rows])
    Device.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    identities = [identity for _, identity in rows]

    def announce() -> None:
        for identity in identities:
            event_emit(connector_id=connector.pk, type=EventType.DELETED, identity=identity)

    transaction.on_commit(announce)
    return len(rows)


# --- selections --------------------------------------------------------------------------------


def device_ids_of(*, connector: Connector, identities: list[str]) -> list[int]:
    """The ids of the connector's devices among ``identities`` (unknown ones are left out)."""
    ids: list[int] = []
    wanted = sorted(set(identities))
    size = 900 if connection.vendor == "sqlite" else 5000
    for start in range(0, len(wanted), size):
        chunk = wanted[start : start + size]
        ids += Device.objects.filter(connector=connector, identity__in=chunk).values_list("pk", flat=True)
    return ids


def filter_params(params: Mapping) -> dict[str, list[str]]:
    """The device-list filters of ``params`` as a job keeps them (``{name: [values]}``)."""
    kept = {}
    for name in FILTER_PARAMETERS:
        if name == "ordering":
            continue  # a bulk change goes in identity order whatever the list's
        values = params.getlist(name) if hasattr(params, "getlist") else params.get(name)
        if isinstance(values, str):
            values = [values]
        values = [str(v) for v in values or [] if str(v) != ""]
        if values:
            kept[name] = values
    return kept


def _matching_ids(connector: Connector, device_filter: DeviceFilter) -> Iterator[list[int]]:
    """The ids of the devices matching ``device_filter``, a chunk at a time in identity order."""
    for chunk in devices_in_chunks(device_filter.queryset(connector), BULK_BATCH):
        yield [pk for pk, _ in chunk]


# --- as a job ----------------------------------------------------------------------------------


def devices_bulk_start(*, connector: Connector, user, action: BulkAction, filters: Mapping | None = None,
                       identities: list[str] | None = None) -> Job:  # fmt: skip
    """Queue a job applying ``action`` to every device matching the device-list ``filters``
    (``q``, ``status``, ``tag``…, as ``DeviceFilter`` reads them), or to the devices named in
    ``identities``. A bad filter is refused now (``ValidationError``), not in the worker."""
    if identities is not None:
        params = {**action.as_params(), "identities": sorted(set(identities))}
    else:
        kept = filter_params(filters or {})
        DeviceFilter.from_params(kept)
        params = {**action.as_params(), "filter": kept}
    with transaction.atomic():
        job = job_create(
            kind=JobKind.DEVICE_BULK, business=connector.business, connector=connector,
            created_by=user if getattr(user, "is_authenticated", False) else None, params=params,
        )  # fmt: skip
        job_dispatch_on_commit(job=job)
    return job


def devices_bulk_job_run(*, job_id: str) -> None:
    """Run a queued bulk change job (the Celery task calls this): claim it, hold its lease,
    report ``total``, ``done`` (devices handled) and ``updated`` (devices changed) after each
    chunk; ``finished``, or ``failed`` with the reason."""
    job_run(job_id=job_id, label="bulk device change", work=_run)


def _run(job: Job) -> None:
    if job.connector is None:
        job_fail(job=job, detail="The job has no connector.")
        return
    connector = job.connector
    failed = (
        "The change stopped on an internal error; the devices counted as done were changed. "
        "Running it again is safe."
    )
    with job_outcome(job=job, label="bulk device", failed=failed):
        action = BulkAction.from_params(job.params)
        if "identities" in job.params:
            ids = device_ids_of(connector=connector, identities=job.params["identities"])
            total, chunks = len(ids), _chunks(ids)
        else:
            device_filter = DeviceFilter.from_params(job.params.get("filter") or {})
            total, chunks = device_filter.queryset(connector).count(), _matching_ids(connector, device_filter)
        done = changed = 0
        job_progress(job=job, total=total, done=0, updated=0)
        for chunk in chunks:
            changed += devices_bulk_apply(connector=connector, action=action, device_ids=chunk)
            done += len(chunk)
            # Devices whitelisted after the count was taken may match too: the bar stays whole.
            job_progress(job=job, total=max(total, done), done=done, updated=changed)
