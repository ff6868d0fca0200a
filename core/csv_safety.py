"""CSV files the platform writes, safe to open in a spreadsheet: the one place that neutralises
formula injection (CWE-1236), for every CSV writer of the platform.

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula, so a device identity such as ``-2+3`` or ``@SUM(1)``, or any text a device
or a person chose, could run as one on the machine of whoever opens an export. As OWASP
recommends, such a cell is written with a leading single quote (``'-2+3``), which spreadsheets
show as text; everything else is written as it is.

Reading a file back (the device import) takes the quote off again with ``csv_cell_restore``, so
an export imports unchanged. A text that itself starts with quotes before such a character gets
one quote more, so that any text makes the round trip exactly; in the device CSV no column may
start with a quote anyway (identities never contain one, PEM starts with ``-----``, tags are
JSON), so a quote before a formula character is always one an export added.
"""

import csv
import math
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def _quoted_formula(text: str) -> bool:
    # Quotes and then a trigger: ``=1``, ``'=1``, ``''=1``… A quote more is added on the way out
    # and taken off on the way in, so that every text makes the round trip exactly.
    return text.lstrip(_QUOTE).startswith(FORMULA_TRIGGERS)


def csv_cell_neutralise(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs as a formula (non-text values as they are)."""
    if isinstance(value, str) and _quoted_formula(value):
        return _QUOTE + value
    return value


def csv_cell_restore(text: str) -> str:
    """A cell of a CSV file as it was before ``csv_cell_neutralise``: without the quote it added."""
    if text.startswith(_QUOTE) and _quoted_formula(text):
        return text[1:]
    return text


def csv_value_cell(text: str) -> str:
    """A recorded value as a CSV cell: a plain number stays a number (``-5`` is no formula to a
    spreadsheet, and a data export must keep it one); any other text is neutralised as
    ``csv_cell_neutralise`` does."""
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number) and text == text.strip():
        return text
    return csv_cell_neutralise(text)


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through ``csv_cell_neutralise``."""

    def __init__(self, out, **options):
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([csv_cell_neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class LineEcho:
    """A file-like target for a CSV writer whose ``write`` hands back the line it is given:
    ``writer.writerow(row)`` then returns the row as text, for a streamed response."""

    def write(self, text: str) -> str:
        return text


def csv_writer(out, **options) -> SafeCsvWriter:
    """The writer for every CSV the platform produces (exports, reports)."""
    return SafeCsvWriter(out, **options)
