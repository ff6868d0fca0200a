"""The query-string parameters of a device list, parsed and checked: the limits, the orderings,
``limit``, ``cursor`` and each filter's value. Every parse error is a
``ValidationError({"<parameter>": ["..."]})``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from connectors.identity import IDENTITY_MAX_LENGTH
from devices.models import DeviceTag

# At most this many ``tag`` parameters (each one is a join).
MAX_TAG_FILTERS = 10
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Longest values accepted; anything longer cannot match and is refused as a mistake.
MAX_Q_LENGTH = IDENTITY_MAX_LENGTH
MAX_TAG_NAME_LENGTH = DeviceTag._meta.get_field("name").max_length
MAX_TAG_VALUE_LENGTH = DeviceTag._meta.get_field("value").max_length
MAX_IP_LENGTH = 64
MAX_CURSOR_LENGTH = 1024

# Parameters that filter; the rest of a query string (``limit``, ``cursor``…) is not ours.
FILTER_PARAMETERS = ("status", "identity", "q", "tag", "ip", "ordering")


@dataclass(frozen=True)
class Order:
    """A list ordering: the sort key, its direction, and whether the key may be NULL."""

    name: str
    key: str  # "identity", "created_at" or "last_seen"
    descending: bool
    nullable: bool = False

    @property
    def by_id_too(self) -> bool:
        # Identities are unique in a connector; the other keys need the id to break ties.
        return self.key != "identity"

    def reversed(self) -> Order:
        return Order(self.name, self.key, not self.descending, self.nullable)


ORDERINGS: dict[str, Order] = {
    "identity": Order("identity", "identity", descending=False),
    "-identity": Order("-identity", "identity", descending=True),
    "created_at": Order("created_at", "created_at", descending=False),
    "-created_at": Order("-created_at", "created_at", descending=True),
    "last_seen": Order("last_seen", "last_seen", descending=False, nullable=True),
    "-last_seen": Order("-last_seen", "last_seen", descending=True, nullable=True),
}
DEFAULT_ORDERING = "identity"

IpFilter = ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network


def param_error(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


def param_values(params, name: str) -> list[str]:
    """Every value of ``name`` in a QueryDict or a plain mapping (of strings or lists)."""
    if hasattr(params, "getlist"):
        return params.getlist(name)
    value = params.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def param_text(params, name: str, *, max_length: int) -> str | None:
    """One text parameter; absent or empty is ``None``."""
    values = param_values(params, name)
    if len(values) > 1:
        raise param_error(name, "give this parameter once")
    if not values or values[0] == "":
        return None
    value = values[0]
    check_text(name, value, max_length)
    return value


def check_text(name: str, value: str, max_length: int) -> None:
    if "\x00" in value:
        raise param_error(name, "must not contain NUL characters")
    if len(value) > max_length:
        raise param_error(name, f"must be at most {max_length} characters")


def parse_int(params, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer parameter within ``[minimum, maximum]``; absent or empty is ``default``."""
    raw = param_text(params, name, max_length=20)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise param_error(name, "must be an integer") from None
    if not minimum <= value <= maximum:
        raise param_error(name, f"must be between {minimum} and {maximum}")
    return value


def parse_limit(params, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    return parse_int(params, "limit", default=default, minimum=1, maximum=maximum)


def parse_cursor(params) -> str | None:
    """The ``cursor`` parameter (checked when the page is read)."""
    return param_text(params, "cursor", max_length=MAX_CURSOR_LENGTH)


def parse_tag(raw: str) -> tuple[str, str | None]:
    # "name" or "name:value"; the value may hold ":" itself, so split on the first one only.
    name, colon, value = raw.partition(":")
    if not name.strip():
        raise param_error("tag", "give a tag as name or name:value, with a non-empty name")
    if len(name) > MAX_TAG_NAME_LENGTH:
        raise param_error("tag", f"tag names are at most {MAX_TAG_NAME_LENGTH} characters")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise param_error("tag", f"tag values are at most {MAX_TAG_VALUE_LENGTH} characters")
    return name, (value if colon else None)


def parse_ip(raw: str) -> IpFilter:
    try:
        if "/" in raw:
            return ipaddress.ip_network(raw, strict=False)
        return ipaddress.ip_address(raw)
    except ValueError:
        raise param_error("ip", "give an IP address (10.0.0.7) or a network (10.0.0.0/8)") from None
