"""A run of an integration: its assets become devices, and their state the devices' values.

What the seed's ``asset_sync`` and ``asset_fetch`` scripts did, built in (docs/integrations.md):

1. ``list_operation`` lists the assets, page after page when the answer says there is a next
   one; each page is handled before the next is asked for, ``BATCH`` assets at a time.
2. An asset's device identity is ``sha256(asset id)`` in hex, or the id itself; a missing device
   is created provisioned without credentials (``auth_type: integration``), tagged
   ``integration:asset_id=<id>``, with ``asset:<field>`` tags from ``detail_operation`` and its
   first ``config_io`` from the sync settings.
3. ``state_operation`` is called for every asset of the batch (``INTEGRATIONS_CONCURRENCY`` at a
   time); the fields named like one of the connector's resources are written through
   ``devices.services.device_write``, as a device's own write is (validation, history, Logs
   with protocol ``integration``, long polls, hooks). A field its resource refuses is skipped and
   reported.
4. One asset's failure is counted and the run goes on; the list failing ends the run (failed).

A run is a job (``jobs``): its counts and errors are kept and pushed as it goes, it holds a lease
while it works, and only one runs at a time per connector (a constraint on jobs).
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, transaction

from connectors.runtime import connector_rules
from connectors.values import cloud_value_to_text
from devices.errors import ValueRejected
from devices.models import INTEGRATION_AUTH, Device, DeviceTag
from devices.services import device_states_initialise, device_write, devices_add_external, devices_tag_set
from integrations.client import CallFailed, NotJson, ThirdParty
from integrations.models import Integration
from integrations.services import CONFIG_IO, SyncSettings, id_parameter, integration_config, integration_spec
from integrations.spec import Spec
from jobs.models import ERRORS_KEPT
from jobs.services import job_fail, job_finish, job_progress

logger = logging.getLogger(__name__)

BATCH = 200
MAX_PAGES = 100_000
ASSET_TAG = "integration:asset_id"
# Without a colon: the device list's ``tag=name:value`` filter splits at the first one.
GONE_TAG, GONE_VALUE = "integration_gone", "true"
DETAIL_TAG_PREFIX = "asset:"
PROTOCOL = "integration"


def asset_identity(asset_id: str, kind: str) -> str:
    """The device identity of an asset: ``sha256(id)`` in hex (the seed's way) or the id."""
    return hashlib.sha256(asset_id.encode()).hexdigest() if kind == "sha256" else asset_id


class _Run:
    def __init__(self, job, spec: Spec, sync: SyncSettings, api: ThirdParty, pool):
        self.job = job
        self.connector = job.connector
        self.spec, self.sync, self.api, self.pool = spec, sync, api, pool
        self.rules = connector_rules(self.connector)
        self.config_io = None
        if sync.config_io is not None:
            self.config_io = sync.config_io if isinstance(sync.config_io, str) else json.dumps(sync.config_io)
        self.seen: set[str] = set()
        self.listed = self.done = self.created = self.updated = self.unchanged = 0
        self.errors: list[dict] = []
        self.error_count = 0

    # --- listing --------------------------------------------------------------------------------

    def pages(self):
        operation = self.spec.operations[self.sync.list_operation]
        cursor, cursors = None, set()
        for _ in range(MAX_PAGES):
            values = {self.sync.page_parameter: cursor} if cursor is not None else {}
            answer = self.api.call(operation, values)
            if not answer.ok:
                raise CallFailed(f"{self.sync.list_operation} answered {answer.status}", status=answer.status)
            assets, next_value = self._assets_of(answer.body)
            yield assets, not (self.sync.page_parameter and next_value not in (None, "", False) and assets)
            if not self.sync.page_parameter or next_value in (None, "", False) or not assets:
                return
            key = json.dumps(next_value, sort_keys=True)
            if key in cursors:
                raise CallFailed(f"{self.sync.list_operation}: its next page ({key[:40]}) was listed already")
            cursors.add(key)
            cursor = next_value
        raise CallFailed(f"{self.sync.list_operation}: more than {MAX_PAGES:,} pages")

    def _assets_of(self, body) -> tuple[list, object]:
        if isinstance(body, list):
            return body, None
        if isinstance(body, dict) and not isinstance(body, NotJson):
            if self.sync.list_field:
                found = body.get(self.sync.list_field)
                if not isinstance(found, list):
                    raise CallFailed(
                        f"{self.sync.list_operation}: its answer has no array {self.sync.list_field}"
                    )
                return found, body.get(self.sync.next_field)
            arrays = [value for value in body.values() if isinstance(value, list)]
            if len(arrays) == 1:
                return arrays[0], body.get(self.sync.next_field)
            raise CallFailed(
                f"{self.sync.list_operation}: its answer holds {len(arrays) or 'no'} arrays; "
                "name the one of assets in list_field"
            )
        raise CallFailed(f"{self.sync.list_operation}: its answer is not a JSON array or object")

    # --- one batch ------------------------------------------------------------------------------

    def batch(self, assets: list) -> None:
        items = []  # (asset id, identity)
        for asset in assets:
            self.done += 1
            asset_id = asset.get(self.sync.id_field) if isinstance(asset, dict) else None
            if isinstance(asset_id, bool) or not isinstance(asset_id, str | int) or asset_id == "":
                self._error(
                    f"#{self.done}", "", f"the asset has no {self.sync.id_field} (a text or a number)"
                )
                continue
            asset_id = str(asset_id)
            if "\x00" in asset_id or len(asset_id) > 255:
                self._error(
                    f"#{self.done}",
                    "",
                    f"its {self.sync.id_field} cannot name a device (a NUL character, or over 255)",
                )
                continue
            if asset_id in self.seen:
                continue  # listed twice (a page that moved while we paged): once is enough
            self.seen.add(asset_id)
            identity = asset_identity(asset_id, self.sync.identity)
            problem = self.connector.identity_format.check(identity)
            if problem:
                self._error(asset_id, identity, f"identity {identity}: {problem}")
                continue
            items.append((asset_id, identity))
        if not items:
            return
        devices = {
            d.identity: d
            for d in Device.objects.filter(connector=self.connector, identity__in=[i for _, i in items]).only(
                "id", "connector_id", "identity", "locked"
            )
        }
        new = [(asset_id, identity) for asset_id, identity in items if identity not in devices]
        if self.config_io is not None and devices:  # the ones found: a config_io if they have none
            device_states_initialise(devices=list(devices.values()), values={CONFIG_IO: self.config_io})
        if new:
            for device in self._create(new):
                devices[device.identity] = device
        new_identities = {identity for _, identity in new}
        states = self._fetch_states(items) if self.sync.state_operation else {}
        # The batch's writes commit together (one flush to disk for the batch, not one per
        # asset); each in a savepoint of its own, so a database error loses only that asset.
        with transaction.atomic():
            for asset_id, identity in items:
                device = devices.get(identity)
                if device is None:
                    continue  # its creation failed (reported)
                written = False
                if asset_id in states:
                    written = self._write(asset_id, device, states[asset_id])
                if identity in new_identities:
                    continue
                if written:
                    self.updated += 1
                else:
                    self.unchanged += 1

    def _create(self, new: list[tuple[str, str]]) -> list[Device]:
        details = {}
        if self.sync.detail_operation:
            details = self._fetch(self.sync.detail_operation, new)
        rows = []
        for asset_id, identity in new:
            tags = [(ASSET_TAG, asset_id)]
            detail = details.get(asset_id)
            if isinstance(detail, CallFailed):
                self._error(asset_id, identity, f"{self.sync.detail_operation}: {detail.reason}")
            elif isinstance(detail, dict) and not isinstance(detail, NotJson):
                for name, value in detail.items():
                    if isinstance(value, str | int | float | bool) and value != "":
                        text = (
                            cloud_value_to_text(value)
                            if not isinstance(value, float) or value == value
                            else ""
                        )
                        text, tag = text.replace("\x00", ""), (DETAIL_TAG_PREFIX + name).replace("\x00", "")
                        if text and len(tag) <= 100:  # PostgreSQL text holds no NUL
                            tags.append((tag, text[:255]))
            elif detail is not None:
                self._error(
                    asset_id, identity, f"{self.sync.detail_operation}: the answer is not a JSON object"
                )
            rows.append((identity, tags))
        created = devices_add_external(
            connector=self.connector, devices=rows, auth_type=INTEGRATION_AUTH,
            states={CONFIG_IO: self.config_io} if self.config_io is not None else None,
        )  # fmt: skip
        self.created += len(created)
        return created

    def _fetch(self, operation_id: str, items: list[tuple[str, str]]) -> dict:
        """``{asset id: answer body or CallFailed}``, ``INTEGRATIONS_CONCURRENCY`` calls at a time."""
        operation = self.spec.operations[operation_id]
        parameter = id_parameter(self.sync, self.spec, operation_id)

        def call(asset_id: str):
            try:
                answer = self.api.call(operation, {parameter: asset_id})
            except CallFailed as exc:
                return exc
            if not answer.ok:
                return CallFailed(f"answered {answer.status}", status=answer.status)
            if isinstance(answer.body, NotJson):
                return CallFailed("the answer is not JSON")
            return answer.body

        asset_ids = [asset_id for asset_id, _ in items]
        return dict(zip(asset_ids, self.pool.map(call, asset_ids), strict=True))

    def _fetch_states(self, items: list[tuple[str, str]]) -> dict:
        states = {}
        identities = dict(items)
        for asset_id, body in self._fetch(self.sync.state_operation, items).items():
            if isinstance(body, CallFailed):
                self._error(asset_id, identities[asset_id], f"{self.sync.state_operation}: {body.reason}")
            elif not isinstance(body, dict):
                self._error(
                    asset_id,
                    identities[asset_id],
                    f"{self.sync.state_operation}: the answer is not a JSON object",
                )
            else:
                states[asset_id] = body
        return states

    def _write(self, asset_id: str, device: Device, state: dict) -> bool:
        if device.locked:
            return False  # a locked device takes no values, from its cloud either
        values, problems = {}, []
        for alias, raw in state.items():
            rule = self.rules.get(alias)
            if rule is None:
                continue
            try:
                text = cloud_value_to_text(raw) if not isinstance(raw, dict | list) else json.dumps(raw)
            except ValueError as exc:
                problems.append(f"{alias}: {exc}")
                continue
            problem = rule.check(text)  # "<alias>: <what>"
            if problem:
                problems.append(problem)
                continue
            values[alias] = text
        if problems:
            self._error(asset_id, device.identity, "; ".join(problems)[:500])
        if not values:
            return False
        try:
            with transaction.atomic():
                device_write(device=device, values=values, rules=self.rules, protocol=PROTOCOL)
        except ValueRejected as exc:  # checked above; a resource changed meanwhile
            self._error(asset_id, device.identity, exc.message)
            return False
        except DatabaseError:  # the device was deleted meanwhile, say
            logger.warning("integration of %s: asset %s not stored", self.connector.pk, asset_id, exc_info=1)
            self._error(asset_id, device.identity, "its values could not be stored (the device was removed?)")
            return False
        return True

    def _error(self, asset_id: str, identity: str, reason: str) -> None:
        # All are counted; the first ERRORS_KEPT are kept (a million failing assets stay small).
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append({"asset": asset_id, "identity": identity, "reason": self.api.redact(reason)})

    def mark_gone(self) -> int:
        """After a complete listing: the integration's devices whose asset was not listed carry
        the tag ``integration_gone=true`` (``?tag=integration_gone`` on the device list), and a device whose
        asset is listed again loses it. Nothing is deleted: the product manager decides. Returns
        how many devices are gone."""
        gone = {
            device_id
            for device_id, asset_id in DeviceTag.objects.filter(connector=self.connector, name=ASSET_TAG)
            .values_list("device_id", "value")
            .iterator(chunk_size=5000)
            if asset_id not in self.seen
        }
        devices_tag_set(connector=self.connector, name=GONE_TAG, value=GONE_VALUE, devices=gone)
        return len(gone)

    def progress(self, *, final: bool) -> None:
        job_progress(
            job=self.job, errors=self.errors, total=self.listed if final or self.listed else None,
            done=self.done, created=self.created, updated=self.updated, unchanged=self.unchanged,
            error_count=self.error_count,
        )  # fmt: skip


def sync_run(job) -> None:
    """Run the sync ``job`` of its connector's integration (the job's task calls this)."""
    integration = Integration.objects.filter(connector_id=job.connector_id).first()
    if integration is None:
        job_fail(job=job, detail="The connector's integration was removed.")
        return
    spec = integration_spec(integration)
    sync = SyncSettings.of(integration.sync)
    # A resumed run starts over: creating and writing again is harmless, counting twice is not.
    job_progress(job=job, errors=[], total=None, done=0, created=0, updated=0, unchanged=0, error_count=0)
    workers = max(1, settings.INTEGRATIONS_CONCURRENCY)
    with ThirdParty(spec, integration_config(integration)) as api, ThreadPoolExecutor(workers) as pool:
        run = _Run(job, spec, sync, api, pool)
        try:
            for assets, last in run.pages():
                run.listed += len(assets)
                for start in range(0, len(assets), BATCH):
                    run.batch(assets[start : start + BATCH])
                    run.progress(final=last)
        except CallFailed as exc:
            run.progress(final=True)
            job_fail(job=job, detail=f"Listing the assets failed: {api.redact(exc.reason)}")
            return
    run.progress(final=True)
    gone = run.mark_gone()
    if gone:
        devices = (
            "1 device of this integration stands"
            if gone == 1
            else f"{gone:,} devices of this integration stand"
        )
        note = f"{devices} for assets it no longer lists: "
        job.detail = f"{job.detail} {note}tagged {GONE_TAG}={GONE_VALUE}.".strip()
    job_finish(job=job)
    logger.info(
        "integration of %s: %d assets, %d created, %d updated, %d errors",
        job.connector_id, run.listed, run.created, run.updated, run.error_count,
    )  # fmt: skip
