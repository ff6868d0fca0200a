"""The HTTP device protocol's wire format: requests, responses and the parsing rules.

Framework-free on purpose: the same handlers serve WSGI workers (short requests) and the ASGI
server (long polls), without Django's request/middleware machinery on the hot path.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

DEVICE_PATHS = ("/timestamp", "/provision/", "/onep:")
# Requests whose body the handler reads as a stream (up to CONTENT_MAX_BYTES), not in one piece.
STREAMED_UPLOAD_PATH = "/provision/upload"
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_HOST = re.compile(r"^[A-Za-z0-9.\-_:\[\]]{0,300}$")


def is_device_path(path: str) -> bool:
    return path == "/timestamp" or path.startswith(("/provision/", "/onep:"))


def host_name(raw: str | None) -> str:
    """The ``Host`` header if it can name a host (else "", which names none): anything else
    (a NUL, spaces, non-ASCII) must not reach a database lookup."""
    raw = (raw or "").strip()
    return raw if _HOST.match(raw) else ""


class BadRequest(Exception):
    """The request is malformed; ``status`` and a short plain-text reason go back."""

    def __init__(self, message: str, status: int = 400, headers: list | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or []


@dataclass
class DeviceRequest:
    method: str
    path: str
    query: bytes
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_ip: str
    scheme: str
    peer: str = ""
    # The TLS client certificate (PEM) a trusted proxy forwarded; None without one (or when the
    # header came from anyone else).
    client_certificate: str | None = None
    # Streamed uploads only: the body as a file (``read(n)``, b"" at its end) and its announced
    # length (None when sent chunked); ``body`` is then empty.
    body_stream: object = None
    body_length: int | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class DeviceResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # A streamed body (content downloads): an iterator of chunks with ``close()``, sent instead
    # of ``body``, and its exact length.
    stream: object = None
    stream_length: int = 0

    def all_headers(self) -> list[tuple[str, str]]:
        headers = list(self.headers)
        if self.status not in (204, 304):
            headers.append(("Content-Type", self.content_type))
            length = self.stream_length if self.stream is not None else len(self.body)
            headers.append(("Content-Length", str(length)))
        return headers

    def close(self) -> None:
        """Release a streamed body that will not be (fully) sent."""
        if self.stream is not None:
            self.stream.close()


def text(status: int, message: str = "", headers: list | None = None) -> DeviceResponse:
    return DeviceResponse(status, message.encode() if message else b"", headers=headers or [])


def _decode(part: bytes) -> str:
    if _BAD_PERCENT.search(part):
        raise BadRequest("malformed percent-encoding")
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8") from None


def parse_pairs(data: bytes) -> list[tuple[str, str | None]]:
    """``a=1&b&c=3`` → ``[("a", "1"), ("b", None), ("c", "3")]``, strictly decoded.

    Tolerated: a line end after the last pair (``a=1\\r\\n``, as firmware that prints its body
    sends it). A raw CR or LF cannot belong to a value (an encoder sends ``%0D``/``%0A``)."""
    pairs = []
    for chunk in data.rstrip(b"\r\n").split(b"&"):
        if not chunk:
            continue
        name, sep, value = chunk.partition(b"=")
        key = _decode(name)
        if not key:
            raise BadRequest("empty alias")
        pairs.append((key, _decode(value) if sep else None))
    return pairs


def parse_values(body: bytes) -> dict[str, str]:
    """A write body: each alias once, each with a value."""
    values: dict[str, str] = {}
    for alias, value in parse_pairs(body):
        if value is None:
            raise BadRequest(f"{alias}: missing value")
        if alias in values and values[alias] != value:  # the same pair twice says it once
            raise BadRequest(f"{alias}: given more than once, with different values")
        values[alias] = value
    return values


def parse_fields(data: bytes) -> dict[str, str | None]:
    """Named fields (an activation's body, a content query): a name given twice must say the
    same both times; which one a client meant is anyone's guess otherwise."""
    fields: dict[str, str | None] = {}
    for name, value in parse_pairs(data):
        if name in fields and fields[name] != value:
            raise BadRequest(f"{name}: given more than once, with different values")
        fields[name] = value
    return fields


def parse_aliases(query: bytes) -> list[str]:
    aliases = []
    for alias, _ in parse_pairs(query):
        if alias not in aliases:
            aliases.append(alias)
    return aliases


def encode_values(values: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in values.items()).encode()


_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def parse_timestamp_seconds(raw: str) -> int:
    """Unix seconds (fractions allowed) → µs."""
    raw = raw.strip()
    if not _NUMBER.match(raw):
        raise ValueError(raw)
    whole, _, fraction = raw.partition(".")
    fraction = (fraction + "000000")[:6]
    value = int(whole) * 1_000_000 + int(fraction)
    if value > 32_503_680_000 * 1_000_000:  # year 3000
        raise ValueError(raw)
    return value


def parse_if_modified_since(raw: str | None, default_us: int) -> tuple[int, int]:
    """The moment a long poll waits for changes after, as µs ``(start, end)``.

    A whole second (an HTTP-date, or unix seconds without a fraction) stands for all of that
    second, since HTTP dates have one-second resolution: ``end`` is its last µs. Otherwise (a
    fraction, or the default: now) ``start == end``.
    """
    if raw is None or not raw.strip():
        return default_us, default_us
    try:
        start = parse_timestamp_seconds(raw)
        return start, start if "." in raw else start + 999_999
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        raise BadRequest("If-Modified-Since must be unix seconds or an HTTP date") from None
    if moment is None:
        raise BadRequest("If-Modified-Since must be unix seconds or an HTTP date")
    if moment.tzinfo is None:
        # asctime (``Sun Nov  6 08:49:37 1994``), one of the three forms HTTP recipients must
        # accept, names no zone: HTTP dates are always UTC.
        moment = moment.replace(tzinfo=UTC)
    start = int(moment.timestamp()) * 1_000_000
    return start, start + 999_999


_REQUEST_TIMEOUT = re.compile(r"^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_request_timeout(raw: str, maximum: int) -> float:
    """A long poll's ``Request-Timeout`` (ms), served as at most ``maximum``.

    A longer one is not refused: real gateways send theirs in seconds × 1000 (``300000000``),
    and a poll answered ``304`` sooner than asked is one that a device repeats anyway. Fractions
    and exponents are numbers too. Not a number, or not above 0: ``400``."""
    raw = raw.strip()
    value = float(raw) if _REQUEST_TIMEOUT.match(raw) else 0.0  # "1e999" → inf → the maximum
    if not value > 0:
        raise BadRequest("Request-Timeout must be a number of milliseconds above 0")
    return min(value, maximum)
