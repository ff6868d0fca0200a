"""Reading a device import's CSV: the header, the rows, each row validated, in batches.

The file is read as a stream (an upload, a file in S3 or on disk), never held in memory:
``count_rows`` is the first pass, proving the whole file readable; ``read_batches`` the second,
validating each row as whitelisting one device validates it and cutting the rows into batches
that ``read_ahead`` parses on a thread of its own while the database writes the one before.
"""

import csv
import io
import itertools
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from connectors import pki
from connectors.models import Connector
from core.csv_safety import csv_cell_restore
from devices.services import tags_clean

# Valid rows written per batch: large files in batches of BATCH_SIZE (fewer round trips and
# commits), small ones in about PROGRESS_STEPS batches so that a progress bar still moves, never
# fewer than MIN_BATCH_SIZE rows.
BATCH_SIZE = 10_000
MIN_BATCH_SIZE = 500
PROGRESS_STEPS = 10
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


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:g} {unit}" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size} bytes"  # pragma: no cover


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
    """Where the header put each column: the row width it names, and each column's index."""

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


def count_rows(file) -> int:
    """The first pass: how many rows there are, and proof that the whole file reads."""
    _, rows = _open_rows(file)
    count = sum(1 for _ in rows)
    file.seek(0)
    return count


# --- rows ---------------------------------------------------------------------------------------


class RowError(Exception):
    """Why a row is refused; the import reports it with the row's line and ID."""


@dataclass(slots=True)
class Row:
    """A valid row: the device it whitelists or updates."""

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
        raise RowError(f"{column} {problem.message}") from None


def _tags(text: str, column: str) -> list[tuple[str, str]]:
    try:
        tags = json.loads(text)
    except ValueError as exc:
        raise RowError(f"{column} is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    if tags is None:
        tags = []
    try:
        return tags_clean(tags)
    except ValidationError as exc:
        raise RowError(f"{column}: {' '.join(exc.messages)}") from None


def _parse_row(line: int, cells: list[str], header: _Header, check, seen: dict, ca_certificate: str) -> Row:
    """The row's device, or ``RowError`` saying why not. ``seen`` maps each well-formed ID met
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
    return Row(line, identity, certificate, fingerprint or "", tags)


def _row_identity(line: int, cells: list[str], header: _Header, check, seen: dict) -> str:
    """The row's ID, noted in ``seen``, or ``RowError``: the cheap first half of ``_parse_row``,
    all that a resumed import needs of the rows it skips."""
    if len(cells) > header.width:
        raise RowError(f"the row has {len(cells)} fields; the header names {header.width}")
    if any("\x00" in c for c in cells):
        raise RowError("the row contains a NUL character")
    cell = lambda index: cells[index].strip() if index is not None and index < len(cells) else ""  # noqa: E731
    identity = cell(header.id)
    if not identity:
        raise RowError("ID is empty")
    problem = check(identity)
    if problem:
        raise RowError(problem)
    first = seen.setdefault(identity, line)
    if first != line:
        raise RowError(f"the ID is already on line {first}")
    return identity


# --- batches ----------------------------------------------------------------------------------


@dataclass
class Batch:
    """Consecutive rows of the file, read and validated, to be applied in one transaction."""

    rows: list[Row]  # valid rows, to apply
    errors: list[dict]  # refused rows
    handled: int  # rows read, refused ones included
    index: int = 0  # 0 for the file's first batch, then 1, 2…


def batch_size_for(total_rows: int) -> int:
    """Valid rows per batch for a file of ``total_rows``: see ``BATCH_SIZE``."""
    return max(MIN_BATCH_SIZE, min(BATCH_SIZE, -(-total_rows // PROGRESS_STEPS)))


def read_batches(file, connector: Connector, size: int, skip: int = 0) -> Iterator[Batch]:
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
        except RowError:
            pass
    batch = Batch([], [], 0)
    for line, cells in rows:
        batch.handled += 1
        try:
            batch.rows.append(_parse_row(line, cells, header, check, seen, ca_certificate))
        except RowError as exc:
            identity = cells[header.id].strip() if header.id < len(cells) else ""
            batch.errors.append({"line": line, "identity": identity[:200], "reason": str(exc)})
        if len(batch.rows) >= size or batch.handled >= 2 * size:
            yield batch
            batch = Batch([], [], 0, batch.index + 1)
    yield batch


def read_ahead(items: Iterator, depth: int = 2) -> Iterator:
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
