"""Applying a device import's batches: each valid row of a batch written in one transaction.

Per batch, one SELECT of the identities already there, a bulk INSERT of the new devices and
their tags (``COPY`` on PostgreSQL), UPDATEs of the devices whose certificate or tags changed,
and the rows refused by their device's state (a certificate that ``device_update`` would not
pin). On PostgreSQL two batches are written at once, on two connections (``apply_batches``).
"""

import functools
import logging
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from connectors.models import AuthType, Connector
from devices import hooks
from devices.imports.reader import BATCH_SIZE, Batch, Row
from devices.models import Device, DeviceTag, Lifecycle
from devices.services import certificate_change_refusal

logger = logging.getLogger(__name__)

# Batches applied at once on PostgreSQL, each on its own connection (see ``apply_batches``).
APPLY_CONNECTIONS = 2


def _chunks(items: list, size: int | None = None):
    # SQLite counts query parameters (Django assumes at most 999); PostgreSQL takes a batch at once.
    size = size or (900 if connection.vendor == "sqlite" else BATCH_SIZE)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(connector: Connector, identities: list[str]) -> dict[str, tuple[int, str]]:
    """``{identity: (id, certificate fingerprint)}`` of the devices among ``identities``."""
    if connection.vendor == "postgresql":
        # One array parameter: an IN list of 5,000 placeholders costs more to build than to run.
        # One lateral lookup per identity, so each is one probe of the (connector, identity)
        # index whatever the planner believes about the table: during a large import into a
        # new connector its statistics still say "a few devices", and a plain join (or
        # ``identity = ANY``) then reads every device of the connector for each batch.
        meta = Device._meta
        qn = connection.ops.quote_name
        sql = (
            f"SELECT d.{qn(meta.pk.column)}, d.{qn('identity')}, d.{qn('certificate_fingerprint')} "
            f"FROM unnest(%s::text[]) AS wanted (identity) CROSS JOIN LATERAL ("
            f"SELECT {qn(meta.pk.column)}, {qn('identity')}, {qn('certificate_fingerprint')} "
            f"FROM {qn(meta.db_table)} WHERE {qn('connector_id')} = %s "
            f"AND {qn('identity')} = wanted.identity LIMIT 1) d"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [identities, connector.pk])
            return {identity: (pk, fingerprint) for pk, identity, fingerprint in cursor.fetchall()}
    existing = {}
    for chunk in _chunks(identities):
        devices = Device.objects.filter(connector=connector, identity__in=chunk)
        for pk, identity, fingerprint in devices.values_list("id", "identity", "certificate_fingerprint"):
            existing[identity] = (pk, fingerprint)
    return existing


def _current_tags(device_ids: list[int]) -> dict[int, set[tuple[str, str]]]:
    """``{device id: {(name, value)}}`` for these devices."""
    current: dict[int, set] = defaultdict(set)
    if not device_ids:
        return current
    if connection.vendor == "postgresql":
        meta = DeviceTag._meta
        qn = connection.ops.quote_name
        device = qn(meta.get_field("device").column)
        sql = (
            f"SELECT {device}, {qn('name')}, {qn('value')} FROM {qn(meta.db_table)} WHERE {device} = ANY(%s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [device_ids])
            rows = cursor.fetchall()
    else:
        rows = []
        for chunk in _chunks(device_ids):
            rows += DeviceTag.objects.filter(device_id__in=chunk).values_list("device_id", "name", "value")
    for device_id, name, value in rows:
        current[device_id].add((name, value))
    return current


@dataclass(frozen=True)
class Applied:
    """What applying a batch's valid rows did: the rows created, updated and unchanged, and those
    refused by the database's state of their device (``{"line", "identity", "reason"}``)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: tuple[dict, ...] = ()


# What pinning a certificate writes (``device_update`` writes the same).
_PIN_FIELDS = ["certificate", "certificate_fingerprint", "auth_type"]


class _DeviceGone(Exception):
    """A device the batch meant to update was deleted meanwhile: the batch is applied again."""


def _certificate_changes(
    rows: list[Row], existing: dict[str, tuple[int, str]], deadline
) -> tuple[list[Device], list[Device], list[dict]]:
    """The certificates ``rows`` pin on existing devices, as ``device_update`` pins one
    (``_certificate_change``): ``(replaced, re-whitelisted, refused rows)``.

    The devices whose certificate changes are locked and read again in the batch's transaction
    (a first request with a certificate may be provisioning one now). A device provisioned with
    a token or a password is refused with the API's own words
    (``certificate_change_refusal``); a revoked one (``reprovision``) is whitelisted again,
    within the connector's activation window, for this certificate only; others get the new
    pin and the ``certificate`` auth type."""
    changing = {}  # device id → its row
    for row in rows:
        pk, fingerprint = existing.get(row.identity, (None, ""))
        if pk is not None and row.certificate is not None and row.fingerprint != fingerprint:
            changing[pk] = row
    if not changing:
        return [], [], []
    locked = {}
    for chunk in _chunks(list(changing)):
        devices = Device.objects.select_for_update().filter(pk__in=chunk)
        for pk, lifecycle, auth_type, fingerprint in devices.values_list(
            "pk", "lifecycle", "auth_type", "certificate_fingerprint"
        ):
            locked[pk] = (lifecycle, auth_type, fingerprint)
    if len(locked) < len(changing):
        raise _DeviceGone()
    replaced, rewhitelisted, refused = [], [], []
    for pk, row in changing.items():
        lifecycle, auth_type, fingerprint = locked[pk]
        if fingerprint == row.fingerprint:  # pinned meanwhile, by someone else
            continue
        refusal = certificate_change_refusal(Device(pk=pk, lifecycle=lifecycle, auth_type=auth_type))
        if refusal:
            refused.append({"line": row.line, "identity": row.identity, "reason": refusal})
            continue
        device = Device(
            pk=pk, certificate=row.certificate, certificate_fingerprint=row.fingerprint,
            auth_type=AuthType.CERTIFICATE,
        )  # fmt: skip
        if lifecycle == Lifecycle.REPROVISION:
            device.lifecycle, device.activation_deadline = Lifecycle.WHITELISTED, deadline
            rewhitelisted.append(device)
        else:
            replaced.append(device)
    return replaced, rewhitelisted, refused


def _apply(connector: Connector, rows: list[Row], deadline, before_commit=None) -> Applied:
    """Create the new devices of ``rows``, update the changed ones, refuse the rows whose
    certificate cannot be pinned on their device (the whole row: its tags are left alone too).
    ``before_commit(applied)`` runs last in the batch's transaction (see ``run.device_import``)."""
    existing = _existing(connector, [r.identity for r in rows])

    current = _current_tags([existing[r.identity][0] for r in rows if r.identity in existing and r.tags])

    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction and connection.vendor == "postgresql":
            # The batch's commit need not wait for its WAL to reach the disk: a database crash
            # loses the batch and the job's checkpoint written in it together (WAL is written in
            # order; the job's end is an ordinary commit, which flushes it all), and a resumed
            # or repeated import brings back whatever was lost.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        replaced, rewhitelisted, refused = _certificate_changes(rows, existing, deadline)
        refused_ids = {error["identity"] for error in refused}  # valid IDs, as the rows have them
        new_rows, tag_changes = [], {}
        for row in rows:
            if row.identity in refused_ids:
                continue
            if row.identity not in existing:
                new_rows.append(row)
                continue
            pk = existing[row.identity][0]
            if row.tags is not None:
                named = {name for name, _ in row.tags}
                wanted = {tag for tag in current[pk] if tag[0] not in named} | set(row.tags)
                if wanted != current[pk]:
                    tag_changes[pk] = wanted
        updated = len({d.pk for d in replaced + rewhitelisted} | set(tag_changes))

        ids = _insert_devices(connector, new_rows, deadline)
        new_tags = [
            (pk, row.identity, name, value)
            for pk, row in zip(ids, new_rows, strict=True)
            for name, value in row.tags or ()
        ]
        if replaced:
            Device.objects.bulk_update(replaced, _PIN_FIELDS, batch_size=1000)
        if rewhitelisted:
            Device.objects.bulk_update(
                rewhitelisted, [*_PIN_FIELDS, "lifecycle", "activation_deadline"], batch_size=1000
            )
        if tag_changes:
            for chunk in _chunks(list(tag_changes)):
                DeviceTag.objects.filter(device_id__in=chunk).delete()
            identities = {pk: identity for identity, (pk, _) in existing.items()}
            new_tags += [
                (pk, identities[pk], name, value)
                for pk, wanted in tag_changes.items()
                for name, value in sorted(wanted)
            ]
        _insert_tags(connector, new_tags)
        if ids:  # claiming gives them a default claim code (once per batch)
            added = [
                Device(pk=pk, connector=connector, identity=r.identity)
                for pk, r in zip(ids, new_rows, strict=True)
            ]
            hooks.devices_added.send(connector=connector, devices=added)
        unchanged = len(rows) - len(new_rows) - updated - len(refused)
        applied = Applied(len(new_rows), updated, unchanged, tuple(refused))
        if before_commit is not None:
            before_commit(applied)
    return applied


def _insert_devices(connector: Connector, rows: list[Row], deadline) -> list[int]:
    """Insert whitelisted devices for ``rows``; their ids, in order.

    On PostgreSQL by ``COPY`` (the ORM's per-object work would cost more than the database's),
    with ids drawn from the table's sequence first so the tags can follow without reading the
    devices back. The column values come from a ``Device`` as the model builds it, so each
    field's default and conversion apply exactly as in ``device_whitelist``.
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        devices = [
            Device(
                connector=connector,
                identity=r.identity,
                certificate=r.certificate or "",
                certificate_fingerprint=r.fingerprint,
                auth_type=AuthType.CERTIFICATE if r.certificate else "",
                activation_deadline=deadline,
            )
            for r in rows
        ]
        return [device.pk for device in Device.objects.bulk_create(devices, batch_size=1000)]
    meta = Device._meta
    template = Device(connector=connector, identity="", activation_deadline=deadline)
    fields = list(meta.concrete_fields)
    values = [f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields]
    names = [f.name for f in fields]
    written = ("id", "identity", "certificate", "certificate_fingerprint", "auth_type")
    at = {name: names.index(name) for name in written}
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        columns = ", ".join(qn(f.column) for f in fields)
        with (
            connection.wrap_database_errors,
            cursor.copy(f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN") as copy,
        ):
            for pk, row in zip(ids, rows, strict=True):
                values[at["id"]] = pk
                values[at["identity"]] = row.identity
                values[at["certificate"]] = row.certificate or ""
                values[at["certificate_fingerprint"]] = row.fingerprint
                values[at["auth_type"]] = AuthType.CERTIFICATE.value if row.certificate else ""
                copy.write_row(values)
    return ids


def _insert_tags(connector: Connector, tags: list[tuple[int, str, str, str]]) -> None:
    """Insert ``(device id, device identity, name, value)`` tags (by ``COPY`` on PostgreSQL)."""
    if not tags:
        return
    connector_id = connector.pk
    if connection.vendor != "postgresql":
        DeviceTag.objects.bulk_create(
            [
                DeviceTag(device_id=pk, connector_id=connector_id, identity=identity, name=n, value=v)
                for pk, identity, n, v in tags
            ],
            batch_size=2000,
        )
        return
    meta = DeviceTag._meta
    qn = connection.ops.quote_name
    columns = ", ".join(
        qn(meta.get_field(name).column) for name in ("device", "identity", "connector", "name", "value")
    )
    with connection.cursor() as cursor:
        with (
            connection.wrap_database_errors,
            cursor.copy(f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN") as copy,
        ):
            for pk, identity, name, value in tags:
                copy.write_row((pk, identity, connector_id, name, value))


def _apply_batch(connector: Connector, rows: list[Row], deadline, before_commit=None) -> Applied:
    if not rows:  # every row of the batch was refused: only the checkpoint to write
        if before_commit is not None:
            with transaction.atomic():
                before_commit(Applied())
        return Applied()
    try:
        return _apply(connector, rows, deadline, before_commit)
    except (IntegrityError, _DeviceGone):
        # Someone whitelisted one of these identities between our SELECT and INSERT (another
        # import, the API), or deleted one: the batch rolled back; once more, those devices now
        # exist (or no longer do).
        logger.info("device import: a batch met a concurrent whitelisting; retrying it")
        return _apply(connector, rows, deadline, before_commit)


def apply_batches(
    connector: Connector, batches: Iterator[Batch], deadline, before_commit=None
) -> Iterator[tuple[Batch, Applied]]:
    """``(batch, what applying it did)`` for each batch once it is applied, in file order.

    On PostgreSQL, outside a caller's transaction, ``APPLY_CONNECTIONS`` batches are applied at
    once, each by its own thread and database connection: most of an import's time is the
    database's (index entries, foreign-key checks), and one connection keeps one core busy.
    Batches never share an identity (a file naming an ID twice is refused on the later lines),
    so concurrent batches touch different devices. Inside a transaction (a caller's, or a
    test's) there is one connection, so batches go one after the other on it.

    ``before_commit(batch, applied)`` runs last in each batch's transaction. With it, batches
    applied at once still commit in file order: a batch waits for the one before it to commit
    (or rolls back if that one failed) before its own ``before_commit``, so a checkpoint never
    counts a batch whose predecessor is not in the database.
    """
    parallel = APPLY_CONNECTIONS > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    if not parallel:
        for batch in batches:
            hook = None if before_commit is None else functools.partial(before_commit, batch)
            yield batch, _apply_batch(connector, batch.rows, deadline, hook)
        return

    todo: queue.Queue = queue.Queue()

    def in_order(batch: Batch, previous: Future | None, applied: Applied) -> None:
        if previous is not None:
            previous.result()  # its commit; raises (rolling this batch back) if it failed
        before_commit(batch, applied)

    def apply_queued() -> None:  # one per connection, for the whole import
        try:
            while (item := todo.get()) is not None:
                batch, future, previous = item
                if not future.set_running_or_notify_cancel():
                    continue
                hook = None if before_commit is None else functools.partial(in_order, batch, previous)
                try:
                    future.set_result(_apply_batch(connector, batch.rows, deadline, hook))
                except BaseException as exc:  # raised to the consumer by future.result()
                    future.set_exception(exc)
        finally:
            connection.close()  # this thread's own connection

    appliers = [
        threading.Thread(target=apply_queued, name="device-import-apply", daemon=True)
        for _ in range(APPLY_CONNECTIONS)
    ]
    for thread in appliers:
        thread.start()
    pending: deque[tuple[Batch, Future]] = deque()
    previous = None
    try:
        for batch in batches:
            future = Future()
            todo.put((batch, future, previous))
            pending.append((batch, future))
            previous = future
            if len(pending) >= APPLY_CONNECTIONS:
                applied, future = pending.popleft()
                yield applied, future.result()
        while pending:
            applied, future = pending.popleft()
            yield applied, future.result()
    finally:
        for _, future in pending:  # stopped early: batches not started are dropped
            future.cancel()
        for _ in appliers:
            todo.put(None)
        for thread in appliers:
            thread.join()
