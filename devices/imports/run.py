"""One device import from start to end: ``device_import`` reads the file's batches, applies
them, and reports the result as it grows (progress, and checkpoints a job resumes from)."""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from connectors.models import Connector
from devices.imports.apply import Applied, apply_batches
from devices.imports.reader import Batch, batch_size_for, count_rows, read_ahead, read_batches
from devices.services import activation_deadline

# Rows whose errors a result keeps; ``error_count`` counts them all.
ERRORS_KEPT = 1000


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


def device_import(
    *, connector: Connector, file, progress: Progress | None = None,
    checkpoint: Callable[[ImportResult], None] | None = None, resume: ImportResult | None = None,
) -> ImportResult:  # fmt: skip
    """Whitelist the devices of a CSV file (a seekable binary file), creating the new ones and
    updating the changed ones; see the package docstring (``devices.imports``) for what a row
    means.

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
    total = count_rows(file)
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
        # (``apply._apply_batch``) computes its own again from the same one.
        recorded = {-1: result}

        def before_commit(batch: Batch, applied: Applied) -> None:
            after = _added(recorded[batch.index - 1], batch, applied)
            checkpoint(after)
            recorded[batch.index] = after
            recorded.pop(batch.index - 2, None)

    batches = read_ahead(read_batches(file, connector, batch_size_for(total), skip=result.done))
    for batch, applied in apply_batches(connector, batches, deadline, before_commit):
        result = _added(result, batch, applied)
        report(result, _refused(batch, applied))
    return result


def _refused(batch: Batch, applied: Applied) -> list[dict]:
    """The batch's refused rows, in file order: those refused when read, and those refused by
    their device's state when applied."""
    if not applied.refused:
        return batch.errors
    return sorted([*batch.errors, *applied.refused], key=lambda error: error["line"])


def _added(result: ImportResult, batch: Batch, applied: Applied) -> ImportResult:
    """``result`` with the batch's rows counted too (a new result: the old one is left as is)."""
    errors = _refused(batch, applied)
    room = max(0, ERRORS_KEPT - len(result.errors))
    return ImportResult(
        total=result.total, done=result.done + batch.handled, created=result.created + applied.created,
        updated=result.updated + applied.updated, unchanged=result.unchanged + applied.unchanged,
        error_count=result.error_count + len(errors), errors=result.errors + errors[:room],
    )  # fmt: skip
