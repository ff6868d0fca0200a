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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction

from connectors.runtime import connector_rules
from connectors.values import cloud_value_to_text
from devices.errors import ValueRejected
from devices.models import INTEGRATION_AUTH, Device
from devices.services import device_write, devices_add_external
from integrations.client import CallFailed, NotJson, ThirdParty
from integrations.models import Integration
from integrations.services import CONFIG_IO, SyncSettings, id_parameter, integration_config, integration_spec
from integrations.spec import Spec
from jobs.services import job_fail, job_finish, job_progress

logger = logging.getLogger(__name__)

BATCH = 200
MAX_PAGES = 100_000
ASSET_TAG = "integration:asset_id"
DETAIL_TAG_PREFIX = "asset:"
PROTOCOL = "integration"


def asset_identity(asset_id: str, kind: str) -> str:
    """The device identity of an asset: ``sha256(id)`` in hex (the seed's way) or the id."""
    return hashlib.sha256(asset_id.encode()).hexdigest() if kind == "sha256" else asset_id


@dataclass
class _Batch:
    size: int  # the assets of the list it holds (valid or not)
    items: list[tuple[str, str]]  # (asset id, identity)
    devices: dict[str, Device]  # by identity
    new: set[str]  # identities created by this batch
    states: dict[str, Future]  # by asset id


class _Run:
    def __init__(self, job, integration: Integration, spec: Spec, sync: SyncSettings, api: ThirdParty, pool):
        self.job = job
        self.connector = job.connector
        self.spec, self.sync, self.api, self.pool = spec, sync, api, pool
        self.rules = connector_rules(self.connector)
        self.config_io = None
        if sync.config_io is not None:
            self.config_io = sync.config_io if isinstance(sync.config_io, str) else json.dumps(sync.config_io)
        self.seen: set[str] = set()
        self.listed = self.position = self.done = self.created = self.updated = self.unchanged = 0
        self.errors: list[dict] = []

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
            yield assets
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

    def prepare(self, assets: list) -> _Batch:
        """A batch's devices, found or created, and its state calls sent (answered meanwhile,
        while the previous batch is written: ``write``)."""
        items = []  # (asset id, identity)
        for asset in assets:
            self.position += 1
            asset_id = asset.get(self.sync.id_field) if isinstance(asset, dict) else None
            if isinstance(asset_id, bool) or not isinstance(asset_id, str | int) or asset_id == "":
                self._error(
                    f"#{self.position}", "", f"the asset has no {self.sync.id_field} (a text or a number)"
                )
                continue
            asset_id = str(asset_id)
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
            return _Batch(size=len(assets), items=[], devices={}, new=set(), states={})
        devices = {
            d.identity: d
            for d in Device.objects.filter(connector=self.connector, identity__in=[i for _, i in items]).only(
                "id", "connector_id", "identity", "locked"
            )
        }
        new = [(asset_id, identity) for asset_id, identity in items if identity not in devices]
        if new:
            for device in self._create(new):
                devices[device.identity] = device
        states = self._send(self.sync.state_operation, items) if self.sync.state_operation else {}
        new_identities = {identity for _, identity in new}
        return _Batch(size=len(assets), items=items, devices=devices, new=new_identities, states=states)

    def write(self, batch: _Batch) -> None:
        """Write a prepared batch's states. Its writes commit together (one flush to disk for
        the batch, not one per asset), each in a savepoint of its own, so that a database error
        loses only that asset."""
        states = self._states(batch)
        with transaction.atomic():
            for asset_id, identity in batch.items:
                device = batch.devices.get(identity)
                if device is None:
                    continue  # its creation failed (reported)
                written = False
                if asset_id in states:
                    written = self._write(asset_id, device, states[asset_id])
                if identity in batch.new:
                    continue
                if written:
                    self.updated += 1
                else:
                    self.unchanged += 1
        self.done += batch.size

    def _create(self, new: list[tuple[str, str]]) -> list[Device]:
        details = {}
        if self.sync.detail_operation:
            details = self._fetch(self.sync.detail_operation, new)
        rows = []
        for asset_id, identity in new:
            tags = [(ASSET_TAG, asset_id[:255])]
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
                        if text and len(DETAIL_TAG_PREFIX + str(name)) <= 100:
                            tags.append((DETAIL_TAG_PREFIX + str(name), text[:255]))
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

    def _send(self, operation_id: str, items: list[tuple[str, str]]) -> dict:
        """``{asset id: future of its answer body or CallFailed}``: the calls are made by the
        pool, ``INTEGRATIONS_CONCURRENCY`` at a time."""
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

        return {asset_id: self.pool.submit(call, asset_id) for asset_id, _ in items}

    def _fetch(self, operation_id: str, items: list[tuple[str, str]]) -> dict:
        """``{asset id: answer body or CallFailed}``, once they have all answered."""
        return {asset_id: future.result() for asset_id, future in self._send(operation_id, items).items()}

    def _states(self, batch: _Batch) -> dict:
        states = {}
        identities = dict(batch.items)
        for asset_id, future in batch.states.items():
            body = future.result()
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
            problem = rule.check(text)
            if problem:
                problems.append(f"{alias}: {problem}")
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
        self.errors.append({"asset": asset_id, "identity": identity, "reason": self.api.redact(reason)})

    def progress(self) -> None:
        job_progress(
            job=self.job, errors=self.errors, total=self.listed,
            done=self.done, created=self.created, updated=self.updated, unchanged=self.unchanged,
            error_count=len(self.errors),
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
        run = _Run(job, integration, spec, sync, api, pool)
        # Pipelined: while one batch's states are written, the next one's are being fetched.
        pending = None
        try:
            for assets in run.pages():
                run.listed += len(assets)
                for start in range(0, len(assets), BATCH):
                    prepared = run.prepare(assets[start : start + BATCH])
                    if pending is not None:
                        run.write(pending)
                        run.progress()
                    pending = prepared
        except CallFailed as exc:
            if pending is not None:
                run.write(pending)
            run.progress()
            job_fail(job=job, detail=f"Listing the assets failed: {api.redact(exc.reason)}")
            return
        if pending is not None:
            run.write(pending)
    run.progress()
    job_finish(job=job)
    logger.info(
        "integration of %s: %d assets, %d created, %d updated, %d errors",
        job.connector_id, run.listed, run.created, run.updated, len(run.errors),
    )  # fmt: skip
