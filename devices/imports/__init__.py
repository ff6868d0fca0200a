"""Bulk whitelisting from CSV (management-api.md, "Bulk CSV"), and the same CSV out again.

The file is read as a stream, twice: a first pass counts the rows and proves the whole file is
readable (UTF-8, well-formed CSV) before anything is written, so a broken file fails as a whole
and never leaves half an import behind; the second pass validates each row and applies the
valid ones in batches (up to ``BATCH_SIZE``): one SELECT of the batch's identities already there, a
bulk INSERT of the new devices and their tags (``COPY`` on PostgreSQL), and UPDATEs of the
devices whose certificate or tags changed. A reader thread parses the next batch while the
database writes this one; on PostgreSQL two batches are written at once, on two connections
(most of an import is the database's work). Each batch is its own transaction,
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

The package, by concern: ``reader`` (the CSV: header, rows, validation, batches), ``apply``
(a batch written to the database), ``run`` (``device_import``: one import with its progress
and checkpoints), ``job`` (the upload queued as a job, and the worker's side of it) and
``export`` (the fleet as the same CSV).
"""

from devices.imports.export import devices_csv_export, devices_csv_rows
from devices.imports.job import INTERNAL_FAILURE, device_import_job_run, device_import_start
from devices.imports.reader import (
    BATCH_SIZE,
    COLUMNS,
    CSV_HEADER,
    MIN_BATCH_SIZE,
    PROGRESS_STEPS,
    ImportFileError,
    ImportFileTooLarge,
    batch_size_for,
    import_header_check,
)
from devices.imports.run import ERRORS_KEPT, ImportResult, Progress, device_import

__all__ = [
    "BATCH_SIZE",
    "COLUMNS",
    "CSV_HEADER",
    "ERRORS_KEPT",
    "INTERNAL_FAILURE",
    "MIN_BATCH_SIZE",
    "PROGRESS_STEPS",
    "ImportFileError",
    "ImportFileTooLarge",
    "ImportResult",
    "Progress",
    "batch_size_for",
    "device_import",
    "device_import_job_run",
    "device_import_start",
    "devices_csv_export",
    "devices_csv_rows",
    "import_header_check",
]
