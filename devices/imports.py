"""Bulk whitelisting from CSV (management-api.md, "Bulk CSV"), and the same CSV out again.

The file is read as a stream, twice: a first pass counts the rows and proves the whole file is
readable (UTF-8, well-formed CSV) before anything is written, so a broken file fails as a whole
and never leaves half an import behind; the second pass validates each row and applies the
valid ones in batches (up to ``BATCH_SIZE``): one SELECT of the batch's identities already there, a
bulk INSERT of the new devices and their tags (``COPY`` on PostgreSQL), and UPDATEs of the
devices whose certificate or tags changed. A reader thread parses the next batch while the
database writes this one; on PostgreSQL two batches are written at once, on two connections
(most of an import is the database's work: ``_applied``). Each batch is its own transaction,
so a fleet of a million devices never holds one long transaction; a job that stops half-way has
recorded what it did, and re-running the same file is safe because an import is idempotent.

A ``TLS Client Certificate`` cell is checked as whitelisting one device checks it (one
certificate, CN = the ID, valid now, verified by the connector's CA when PKI is on).

What a row means for a device that already exists: a non-empty ``TLS Client Certificate`` cell
pins that certificate as ``device_update`` pins one (``PATCH .../devices/<id>/``): a device
provisioned with a token or a password is refused (the row, on its line, with the API's own
message: its credentials are revoked first), a revoked one is whitelisted again within the
connector's activation window, any other gets the new pin. A non-empty ``Tags`` cell sets the
values of the tag *names* it mentions and leaves the device's other tags alone (the ``users``,
``apps`` and ``claim_code`` tags of claiming survive a re-import of the factory file, where the
API's ``tags`` replaces them all); empty cells change nothing, so a CSV never clears a pin.
Credentials, lock and (but for a revoked device given a certificate) lifecycle and activation
deadline of existing devices are never touched. New devices are whitelisted with the
connector's activation window, as ``device_whitelist`` does, a certificate pinned with the
``certificate`` auth type.

The web request only checks the header (cheap) and stores the upload; a Celery task runs the
import (``device_import_job_run``). ``manage.py devices import`` runs ``device_import`` itself.
"""

import copy
import csv
import dataclasses
import functools
import io
import itertools
import json
import logging
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from connectors import pki
from connectors.models import AuthType, Connector
from core.csv_safety import csv_cell_restore, csv_writer
from devices.models import Device, DeviceTag, Lifecycle
from devices.services import activation_deadline, certificate_change_refusal, tags_clean

logger = logging.getLogger(__name__)

# Valid rows written per batch: large files in batches of BATCH_SIZE (fewer round trips and
# commits), small ones in about PROGRESS_STEPS batches so that a progress bar still moves, never
# fewer than MIN_BATCH_SIZE rows.
BATCH_SIZE = 10_000
MIN_BATCH_SIZE = 500
PROGRESS_STEPS = 10
# Batches applied at once on PostgreSQL, each on its own connection (see ``_applied``).
APPLY_CONNECTIONS = 2
# Rows whose errors a result keeps; ``error_count`` counts them all.
ERRORS_KEPT = 1000
# The header's column names (compared without case or surrounding spaces) and what they hold.
COLUMNS = {"id": "id", "tls client certificate": "certificate", "certificate": "certificate", "tags": "tags"}
CSV_HEADER = ["ID", "TLS Client Certificate", "Tags"]
_COLUMNS_HELP = "ID, TLS Client Certificate (or Certificate) and Tags"


class ImportFileError(Exception):
    """The file as a whole cannot be imported (not UTF-8, no header, bad columns, broken CSV)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ImportFileTooLarge(ImportFileError):
    """The file is larger than ``DEVICE_IMPORT_MAX_BYTES``."""

    def __init__(self):
        super().__init__(
            f"The file is larger than the {_size(settings.DEVICE_IMPORT_MAX_BYTES)} a device import accepts."
        )


@dataclass
class ImportResult:
    """What an import did. ``done`` counts rows handled: created, updated, unchanged or refused;
    ``errors`` holds the first ``ERRORS_KEPT`` refused rows (``{"line", "identity", "reason"}``)."""

    total: int | None = None
    done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)

    def counts(self) -> dict:
        return {
            "total": self.total, "done": self.done, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "error_count": self.error_count,
        }  # fmt: skip


# ``progress(result, new_errors)``: called once the rows are counted (``total`` set, nothing
# done yet) and after each batch, with the rows refused since the previous call.
Progress = Callable[[ImportResult, list[dict]], None]


# --- reading the file -------------------------------------------------------------------------


class _Raw(io.RawIOBase):
    """Any object with ``read(n)`` (an upload, a Django ``File`` from S3 or disk, a pipe) as a raw
    stream, so the standard buffered and text layers can sit on top. Closing it leaves the
    underlying file open: it belongs to the caller."""

    def __init__(self, file):
        self._file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._file.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size


def _text(file) -> io.TextIOWrapper:
    # utf-8-sig drops a BOM; newline="" leaves line ends to the csv module (RFC 4180 quoting).
    return io.TextIOWrapper(io.BufferedReader(_Raw(file), 1 << 20), encoding="utf-8-sig", newline="")


@dataclass(frozen=True)
class _Header:
    width: int
    id: int
    certificate: int | None
    tags: int | None
    names: dict  # column key → the name the file used, for messages


def _parse_header(cells: list[str]) -> _Header:
    found: dict[str, int] = {}
    names: dict[str, str] = {}
    unknown = []
    for index, cell in enumerate(cells):
        name = cell.strip()
        key = COLUMNS.get(name.lower())
        if key is None:
            unknown.append(name)
            continue
        if key in found:
            raise ImportFileError(
                f"The header names the column {names[key]!r} twice"
                + (f" (as {name!r})" if name != names[key] else "")
                + "."
            )
        found[key], names[key] = index, name
    if unknown and not found:
        shown = ", ".join(repr(c[:40]) for c in cells[:3])
        raise ImportFileError(
            f"The first line must be a header naming the columns {_COLUMNS_HELP}; it holds {shown}."
        )
    if unknown:
        name = unknown[0]
        what = f"an unknown column {name[:40]!r}" if name else "a column without a name"
        raise ImportFileError(f"The header has {what}; the columns are {_COLUMNS_HELP}.")
    if "id" not in found:
        raise ImportFileError(f"The header has no ID column; the columns are {_COLUMNS_HELP}.")
    return _Header(len(cells), found["id"], found.get("certificate"), found.get("tags"), names)


def _rows(text: io.TextIOWrapper) -> Iterator[tuple[int, list[str]]]:
    """``(line where the row starts, cells)`` for each row, the header first; blank rows (no
    cell with anything in it, as spreadsheets export them) are skipped. Cells that an export
    neutralised against formula injection (``'-abc``) are read without that quote
    (``core.csv_safety``). Whole-file problems raise ``ImportFileError``."""
    reader = csv.reader(text, strict=True)
    line = 1
    try:
        for cells in reader:
            if "".join(cells).strip():
                yield line, [csv_cell_restore(cell) for cell in cells]
            line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1].hex().upper()
        raise ImportFileError(
            f"The file is not UTF-8 text (byte 0x{bad} cannot be decoded); save it as “CSV UTF-8”."
        ) from None
    except csv.Error as exc:
        # ``line``: where the broken row starts (an unclosed quote runs on to the end).
        raise ImportFileError(f"Line {line}: the file is not valid CSV ({exc}).") from None


def _open_rows(file) -> tuple[_Header, Iterator[tuple[int, list[str]]]]:
    rows = _rows(_text(file))
    first = next(rows, None)
    if first is None:
        raise ImportFileError(f"The file is empty; it needs a header row ({_COLUMNS_HELP}) and rows.")
    return _parse_header(first[1]), rows


def import_header_check(file) -> None:
    """Raise ``ImportFileError`` unless ``file`` starts with a valid header; cheap enough to run
    on an upload before it is stored. Leaves the file at its start."""
    try:
        _open_rows(file)
    finally:
        file.seek(0)


def _count_rows(file) -> int:
    """The first pass: how many rows there are, and proof that the whole file reads."""
    _, rows = _open_rows(file)
    count = sum(1 for _ in rows)
    file.seek(0)
    return count


# --- rows ---------------------------------------------------------------------------------------


class _RowError(Exception):
    pass


@dataclass(slots=True)
class _Row:
    line: int
    identity: str
    certificate: str | None  # None: the cell was empty, leave the device's certificate as it is
    fingerprint: str
    tags: list[tuple[str, str]] | None  # None: the cell was empty, leave the device's tags alone


def _certificate(text: str, column: str, identity: str, ca_certificate: str) -> tuple[str, str]:
    """The certificate as stored (normalised PEM) and its SHA-256 fingerprint (hex), checked as
    whitelisting one device checks it: one certificate, CN = the ID, valid now, verified by
    the connector's CA when PKI is on."""
    try:
        return pki.device_certificate_clean(text, identity=identity, ca_certificate=ca_certificate)
    except pki.CertificateProblem as problem:
        raise _RowError(f"{column} {problem.message}") from None


def _tags(text: str, column: str) -> list[tuple[str, str]]:
    try:
        tags = json.loads(text)
    except ValueError as exc:
        raise _RowError(f"{column} is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    if tags is None:
        tags = []
    try:
        return tags_clean(tags)
    except ValidationError as exc:
        raise _RowError(f"{column}: {' '.join(exc.messages)}") from None


def _parse_row(line: int, cells: list[str], header: _Header, check, seen: dict, ca_certificate: str) -> _Row:
    """The row's device, or ``_RowError`` saying why not. ``seen`` maps each well-formed ID met
    so far to its line: an ID named twice is ambiguous, so every row after the first is refused
    (whether the first one was valid or not), and fixing one row never moves the refusal."""
    identity = _row_identity(line, cells, header, check, seen)
    cell = lambda index: cells[index].strip() if index is not None and index < len(cells) else ""  # noqa: E731
    certificate = fingerprint = None
    text = cell(header.certificate)
    if text:
        certificate, fingerprint = _certificate(text, header.names["certificate"], identity, ca_certificate)
    text = cell(header.tags)
    tags = _tags(text, header.names["tags"]) if text else None
    return _Row(line, identity, certificate, fingerprint or "", tags)


def _row_identity(line: int, cells: list[str], header: _Header, check, seen: dict) -> str:
    """The row's ID, noted in ``seen``, or ``_RowError``: the cheap first half of ``_parse_row``,
    all that a resumed import needs of the rows it skips."""
    if len(cells) > header.width:
        raise _RowError(f"the row has {len(cells)} fields; the header names {header.width}")
    if any("\x00" in c for c in cells):
        raise _RowError("the row contains a NUL character")
    cell = lambda index: cells[index].strip() if index is not None and index < len(cells) else ""  # noqa: E731
    identity = cell(header.id)
    if not identity:
        raise _RowError("ID is empty")
    problem = check(identity)
    if problem:
        raise _RowError(problem)
    first = seen.setdefault(identity, line)
    if first != line:
        raise _RowError(f"the ID is already on line {first}")
    return identity


# --- applying a batch ---------------------------------------------------------------------------


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
class _Applied:
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
    rows: list[_Row], existing: dict[str, tuple[int, str]], deadline
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
            refused.append({"line": row.line, "identity": row.identity[:200], "reason": refusal})
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


def _apply(connector: Connector, rows: list[_Row], deadline, before_commit=None) -> _Applied:
    """Create the new devices of ``rows``, update the changed ones, refuse the rows whose
    certificate cannot be pinned on their device (the whole row: its tags are left alone too).
    ``before_commit(applied)`` runs last in the batch's transaction (see ``device_import``)."""
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
        refused_ids = {error["identity"] for error in refused}
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
        unchanged = len(rows) - len(new_rows) - updated - len(refused)
        applied = _Applied(len(new_rows), updated, unchanged, tuple(refused))
        if before_commit is not None:
            before_commit(applied)
    return applied


def _insert_devices(connector: Connector, rows: list[_Row], deadline) -> list[int]:
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


def _apply_batch(connector: Connector, rows: list[_Row], deadline, before_commit=None) -> _Applied:
    if not rows:  # every row of the batch was refused: only the checkpoint to write
        if before_commit is not None:
            with transaction.atomic():
                before_commit(_Applied())
        return _Applied()
    try:
        return _apply(connector, rows, deadline, before_commit)
    except (IntegrityError, _DeviceGone):
        # Someone whitelisted one of these identities between our SELECT and INSERT (another
        # import, the API), or deleted one: the batch rolled back; once more, those devices now
        # exist (or no longer do).
        logger.info("device import: a batch met a concurrent whitelisting; retrying it")
        return _apply(connector, rows, deadline, before_commit)


# --- the import ---------------------------------------------------------------------------------


@dataclass
class _Batch:
    rows: list[_Row]  # valid rows, to apply
    errors: list[dict]  # refused rows
    handled: int  # rows read, refused ones included
    index: int = 0  # 0 for the file's first batch, then 1, 2…


def batch_size_for(total_rows: int) -> int:
    """Valid rows per batch for a file of ``total_rows``: see ``BATCH_SIZE``."""
    return max(MIN_BATCH_SIZE, min(BATCH_SIZE, -(-total_rows // PROGRESS_STEPS)))


def _batches(file, connector: Connector, size: int, skip: int = 0) -> Iterator[_Batch]:
    """The file's rows, validated, in batches of at most ``size`` valid rows (and at most twice
    that many read, so a file of bad rows still shows its progress). The first ``skip`` rows
    (done by an earlier run) are only noted for the duplicate-ID check."""
    header, rows = _open_rows(file)
    check = connector.identity_format.check
    ca_certificate = connector.pki_ca_certificate if connector.pki_enabled else ""
    seen: dict[str, int] = {}  # identity → line, to refuse the same ID twice in one file
    for line, cells in itertools.islice(rows, skip):
        try:
            _row_identity(line, cells, header, check, seen)
        except _RowError:
            pass
    batch = _Batch([], [], 0)
    for line, cells in rows:
        batch.handled += 1
        try:
            batch.rows.append(_parse_row(line, cells, header, check, seen, ca_certificate))
        except _RowError as exc:
            identity = cells[header.id].strip() if header.id < len(cells) else ""
            batch.errors.append({"line": line, "identity": identity[:200], "reason": str(exc)})
        if len(batch.rows) >= size or batch.handled >= 2 * size:
            yield batch
            batch = _Batch([], [], 0, batch.index + 1)
    yield batch


def _read_ahead(items: Iterator, depth: int = 2) -> Iterator:
    """``items``, produced by a thread of their own up to ``depth`` ahead of the consumer.

    Parsing the next batch (CSV, JSON, certificates: Python work) then overlaps with writing
    this one (the database's work, during which the consumer waits without holding the GIL).
    Exceptions raised by ``items`` are raised to the consumer; a consumer that stops early stops
    the producer too.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                slots.put((item, None))
                if stop.is_set():
                    return
            slots.put((end, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put((end, exc))

    producer = threading.Thread(target=produce, name="device-import-reader", daemon=True)
    producer.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # make room for a producer blocked on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
        producer.join()


def device_import(
    *, connector: Connector, file, progress: Progress | None = None,
    checkpoint: Callable[[ImportResult], None] | None = None, resume: ImportResult | None = None,
) -> ImportResult:  # fmt: skip
    """Whitelist the devices of a CSV file (a seekable binary file), creating the new ones and
    updating the changed ones; see the module docstring for what a row means.

    Whole-file problems raise ``ImportFileError`` before anything is written; refused rows are
    reported (line, identity, reason) through ``progress`` and in the result, never imported.
    Idempotent: importing the same file again creates and updates nothing.

    ``checkpoint(result)`` records how far the import got: once the rows are counted, then
    inside each batch's own transaction, with the result as of that batch, batches in file
    order, each committed before the next one's checkpoint. What it writes therefore commits
    with the batch it counts: a job's recorded progress is exactly what is in the database.
    ``resume`` is such a recorded result of an earlier run on the same file (its worker died):
    the rows it counts as done are skipped (their IDs still count for the duplicate-ID check)
    and its counts carried on, so the result is the same as if the first run had finished.
    """
    total = _count_rows(file)
    if resume is not None:
        result = dataclasses.replace(resume, total=total, errors=list(resume.errors))
    else:
        result = ImportResult(total=total)
    report = progress or (lambda result, errors: None)
    if checkpoint is not None:
        checkpoint(result)
    report(result, [])
    deadline = activation_deadline(connector, None)
    before_commit = None
    if checkpoint is not None:
        # The result as of each batch (by index; -1: before the first), computed in the batch's
        # transaction from the one before, which has committed by then. A batch tried twice
        # (``_apply_batch``) computes its own again from the same one.
        recorded = {-1: result}

        def before_commit(batch: _Batch, applied: _Applied) -> None:
            after = _added(recorded[batch.index - 1], batch, applied)
            checkpoint(after)
            recorded[batch.index] = after
            recorded.pop(batch.index - 2, None)

    batches = _read_ahead(_batches(file, connector, batch_size_for(total), skip=result.done))
    for batch, applied in _applied(connector, batches, deadline, before_commit):
        result = _added(result, batch, applied)
        report(result, _refused(batch, applied))
    return result


def _refused(batch: _Batch, applied: _Applied) -> list[dict]:
    """The batch's refused rows, in file order: those refused when read, and those refused by
    their device's state when applied."""
    if not applied.refused:
        return batch.errors
    return sorted([*batch.errors, *applied.refused], key=lambda error: error["line"])


def _added(result: ImportResult, batch: _Batch, applied: _Applied) -> ImportResult:
    """``result`` with the batch's rows counted too (a new result: the old one is left as is)."""
    errors = _refused(batch, applied)
    room = max(0, ERRORS_KEPT - len(result.errors))
    return ImportResult(
        total=result.total, done=result.done + batch.handled, created=result.created + applied.created,
        updated=result.updated + applied.updated, unchanged=result.unchanged + applied.unchanged,
        error_count=result.error_count + len(errors), errors=result.errors + errors[:room],
    )  # fmt: skip


def _applied(
    connector: Connector, batches: Iterator[_Batch], deadline, before_commit=None
) -> Iterator[tuple[_Batch, _Applied]]:
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

    def in_order(batch: _Batch, previous: Future | None, applied: _Applied) -> None:
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
    pending: deque[tuple[_Batch, Future]] = deque()
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


def device_import_start(*, connector: Connector, user, upload, file_name: str = ""):
    """Accept an uploaded CSV for import: refuse it at once when it is too large or its header
    is wrong, else store it, queue a job and run it on a Celery worker once committed."""
    from jobs.models import JobKind
    from jobs.services import job_create, job_dispatch_on_commit

    if upload.size > settings.DEVICE_IMPORT_MAX_BYTES:
        raise ImportFileTooLarge()
    import_header_check(upload)
    with transaction.atomic():
        job = job_create(
            kind=JobKind.DEVICE_IMPORT, business=connector.business, connector=connector,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            upload=upload, file_name=file_name or upload.name,
        )  # fmt: skip
        # A broker that is down does not fail the upload: the job waits, queued, until
        # ``jobs_recover`` can hand it over.
        job_dispatch_on_commit(job=job)
    return job


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:g} {unit}" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size} bytes"  # pragma: no cover


INTERNAL_FAILURE = (
    "The import stopped on an internal error. The rows counted as done were imported; "
    "importing the same file again is safe and completes it."
)


def device_import_job_run(*, job_id: str) -> None:
    """Run a queued device import job (the Celery task calls this): claim it, hold its lease,
    record its progress with each batch (pushed to its watchers); ``finished`` with its refused
    rows, or ``failed`` with the reason the file could not be imported.

    A job taken again after its worker died resumes from its last committed batch
    (``device_import``'s ``resume``): the rows before it are not applied twice and the counts
    come out as one run's. A second delivery of a job already taken does nothing."""
    from jobs.leases import JobLease
    from jobs.services import JobLost, job_claim, worker_name

    job = job_claim(job_id=job_id, worker=worker_name())
    if job is None:
        # Deleted with its connector, over, or taken by another delivery of the same task.
        logger.info("device import job %s: not queued, nothing to do", job_id)
        return
    with JobLease(job):
        try:
            _device_import_job(job)
        except JobLost:
            logger.warning("device import job %s was resumed elsewhere meanwhile; this worker stops", job_id)


def _device_import_job(job) -> None:
    from jobs.events import job_push
    from jobs.services import JobLost, job_fail, job_finish, job_progress

    if job.connector is None or not job.file:
        job_fail(job=job, detail="The job has no connector or no file to import.")
        return
    try:
        file = job.file.open("rb")
    except FileNotFoundError:
        logger.warning("device import job %s: its upload %s is gone from storage", job.pk, job.file.name)
        nothing = "nothing was imported" if not job.done else "the rows counted as done were imported"
        job_fail(job=job, detail=f"The uploaded file is no longer in storage; {nothing}. Upload it again.")
        return
    resume = None
    if job.done:
        resume = ImportResult(
            total=job.total, done=job.done, created=job.created, updated=job.updated,
            unchanged=job.unchanged, error_count=job.error_count, errors=list(job.errors),
        )  # fmt: skip

    # Checkpoints are written by the threads that apply batches, on a copy of the job of their
    # own; this thread pushes each one to the job's watchers once its batch has committed.
    recorded = copy.copy(job)

    def checkpoint(result: ImportResult) -> None:
        job_progress(job=recorded, errors=result.errors, push=False, **result.counts())

    def progress(result: ImportResult, new_errors: list[dict]) -> None:
        for name, value in result.counts().items():
            setattr(job, name, value)
        job_push(job)

    try:
        with file:
            device_import(
                connector=job.connector, file=file, progress=progress, checkpoint=checkpoint, resume=resume
            )
    except ImportFileError as exc:
        job_fail(job=job, detail=f"{exc.message} Nothing was imported.")
    except JobLost:
        raise
    except Exception:
        logger.exception("device import job %s failed", job.pk)
        job_fail(job=job, detail=INTERNAL_FAILURE)
    else:
        job_finish(job=job)


# --- export -------------------------------------------------------------------------------------


def devices_csv_export(*, connector: Connector, out, chunk_size: int = 2000) -> int:
    """Write the connector's devices to the text stream ``out`` in the import's CSV format, in
    identity order, a chunk at a time (never the whole fleet in memory). Importing the result
    into the same connector changes nothing (cells that a spreadsheet would run as a formula
    are written with a leading quote, which the import takes off). Returns the number of
    devices written."""
    writer = csv_writer(out)
    writer.writerow(CSV_HEADER)
    if connection.vendor == "sqlite":
        chunk_size = min(chunk_size, 900)
    count, last = 0, None
    while True:
        devices = Device.objects.filter(connector=connector).order_by("identity")
        if last is not None:
            devices = devices.filter(identity__gt=last)
        page = list(devices.values_list("id", "identity", "certificate")[:chunk_size])
        if not page:
            return count
        tags: dict[int, list] = defaultdict(list)
        ids = [pk for pk, _, _ in page]
        for device_id, name, value in (
            DeviceTag.objects.filter(device_id__in=ids).order_by("name", "value").values_list(
                "device_id", "name", "value"
            )
        ):  # fmt: skip
            tags[device_id].append({"name": name, "value": value})
        for pk, identity, certificate in page:
            tag_list = tags.get(pk)
            writer.writerow(
                [identity, certificate, json.dumps(tag_list, ensure_ascii=False) if tag_list else ""]
            )
        count += len(page)
        last = page[-1][1]
