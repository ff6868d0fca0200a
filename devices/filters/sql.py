"""The SQL of each filter, for PostgreSQL (the fleet's database) and SQLite (the embedded one):
identity ranges compared byte by byte, tag rows, substring and network conditions, and the
planner's estimates that pick a page's strategy."""

from __future__ import annotations

import ipaddress
import json

from django.db import connections
from django.db.models import BooleanField, F, Func, Q, QuerySet, Value
from django.db.models.functions import Collate

from connectors.models import Connector
from devices.filters.params import IpFilter
from devices.models import DeviceTag


def identity_collated(rows: QuerySet):
    """The identity (of a device, or of a tag's device) compared byte by byte. PostgreSQL's
    database collation (often a locale) would keep ``LIKE 'x%'`` and the ordering off a plain
    index; "C" makes prefix search a range on the indexes ``device_identity_c`` and
    ``tag_search_identity``. SQLite compares text bytewise already."""
    if connections[rows.db].vendor == "postgresql":
        return Collate(F("identity"), "C")
    return F("identity")


def in_identity_range(rows: QuerySet, prefix: str | None) -> QuerySet:
    """``rows`` (with the ``identity_key`` alias) whose identity starts with ``prefix``: a range."""
    if not prefix:
        return rows
    rows = rows.filter(identity_key__gte=prefix)
    upper = _prefix_upper_bound(prefix)
    return rows.filter(identity_key__lt=upper) if upper is not None else rows


def tag_rows(connector: Connector, name: str, value: str | None) -> QuerySet:
    """The connector's tags ``name`` (with this ``value``, unless None)."""
    tags = DeviceTag.objects.filter(connector=connector, name=name)
    return tags.filter(value=value) if value is not None else tags


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (in code point
    order, which is UTF-8 byte order), or None when there is none."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters: skip past them
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _BooleanSql(Func):
    """``<lhs> <operator> <param>`` as a filter condition."""

    output_field = BooleanField()

    def __init__(self, lhs, operator: str, rhs):
        super().__init__(lhs, rhs, template="%(expressions)s", arg_joiner=f" {operator} ")


def identity_contains(q: str, vendor: str):
    if vendor == "postgresql":
        # ILIKE, unlike Django's UPPER(...) LIKE UPPER(...), is what the trigram index serves.
        return _BooleanSql(F("identity"), "ILIKE", Value(f"%{_like_escape(q)}%"))
    # SQLite's LIKE ignores ASCII case already; Django escapes the pattern.
    return Q(identity__icontains=q)


def ip_matches(ip: IpFilter, vendor: str, db: str):
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return Q(last_ip=str(ip))
    if vendor == "postgresql":
        # inet <<= cidr: PostgreSQL turns it into a range on the (connector, last_ip) index.
        return _BooleanSql(F("last_ip"), "<<=", Value(str(ip)))
    _register_sqlite_functions(db)
    return Func(F("last_ip"), Value(str(ip)), function="murano_ip_in_network", output_field=BooleanField())


def _ip_in_network(address: str | None, network: str) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _register_sqlite_functions(db: str) -> None:
    # SQLite has no network type; the embedded database tests addresses in Python.
    connection = connections[db]
    connection.ensure_connection()
    connection.connection.create_function("murano_ip_in_network", 2, _ip_in_network, deterministic=True)


def planner_estimate(rows: QuerySet) -> int:
    plan = json.loads(rows.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])
