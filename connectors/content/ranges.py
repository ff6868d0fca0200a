"""HTTP ``Range`` requests on content (RFC 9110 §14): one ``bytes=`` range per request.

``a-b``, ``a-`` and ``-n`` (the last n bytes) are served as ``206``; a range that starts past
the end (or an empty suffix) is unsatisfiable (``416`` with ``Content-Range: bytes */size``).
A header that is not a valid single byte range is ignored, as the RFC allows: the whole item
is served (``200``). Several ranges are served whole too: devices resume downloads with one.
"""

import re

_SPEC = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
# Longer numbers than this cannot name a position in an item under 64 MB anyway.
_MAX_DIGITS = 19


class RangeNotSatisfiable(Exception):
    """No byte of the requested range exists (``416``)."""

    def __init__(self, size: int):
        super().__init__(f"range not satisfiable (the item has {size} bytes)")
        self.size = size
        self.message = str(self)

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` that ``header`` asks of an item of ``size`` bytes, or None
    for the whole item. Raises ``RangeNotSatisfiable``."""
    if not header:
        return None
    match = _SPEC.match(header)
    if match is None:
        return None  # not one valid byte range: ignored
    first, last = match.groups()
    if not first and not last or len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if not first:  # suffix: the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, min(end, size - 1)


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end}/{size}"
