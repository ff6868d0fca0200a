"""Device search: the filters, orderings and pages of a connector's device list.

One implementation for every place that lists devices — the management API
(``GET /api/v1/connectors/<id>/devices/``), the Murano Device2 list, the web UI and a firmware
rollout's device selection — so a filter means the same thing everywhere and bad input is
refused the same way.

Built for 1,000,000 devices in one connector. The indexes it relies on (``devices/models.py``
and migrations 0002–0004; each name below is an index of the database):

- ``identity`` (prefix) is a range on the identity compared byte by byte, so it and the default
  ordering use one index whatever the database's collation: on PostgreSQL
  ``device_identity_c`` (connector, identity ``COLLATE "C"``) INCLUDE (id); on SQLite, whose
  text order is bytewise already, the index of the ``device_unique_identity`` constraint
  (connector, identity). ``q`` (substring, any case) is an ``ILIKE`` that the pg_trgm GIN index
  ``device_identity_trgm`` answers (PostgreSQL; without pg_trgm, and on SQLite, it scans);
- ``status`` is a range of ``device_status_unlocked`` (connector, lifecycle, identity C) WHERE
  NOT locked or of ``device_status_locked`` (connector, identity C) WHERE locked (PostgreSQL);
- ``tag`` is an ``EXISTS`` per device, one probe of the ``tag_unique_value`` constraint's index
  (device, name, value). A page of a narrow tag (a few thousand devices) is found by computing
  every match and sorting them; a page in identity order of a ``name:value`` tag is read from
  ``tag_search_identity`` (connector, name, value, identity — ``COLLATE "C"`` and INCLUDE
  (device_id) on PostgreSQL; migration 0003), where a tag's devices already are in identity
  order; a broad tag by walking the ordering's index and testing each device
  (:meth:`DeviceFilter.page` picks from the planner's estimates, which the extended statistics
  of migration 0002 keep close). The (connector, name, value, device) index that tag filters
  once used was dropped by migration 0004: ``tag_search_identity`` holds the same keys;
- ``ip`` is an exact address or a network (``10.0.0.0/8``), a range of ``device_by_last_ip``
  (connector, last_ip) on PostgreSQL's ``inet``;
- the ``created_at`` and ``last_seen`` orderings read ``device_by_created_at`` and
  ``device_by_last_seen`` (connector, key, id);
- pages are keyset pages (a cursor names the last row seen), never ``OFFSET`` scans; devices
  never seen sort as older than any seen device (last for ``-last_seen``, first for
  ``last_seen``);
- the first page may carry a count, exact up to :data:`EXACT_COUNT_LIMIT` matches and found
  within :data:`COUNT_TIME_BUDGET_MS`, otherwise the planner's estimate (flagged as such).

Every parse error is a ``ValidationError({"<parameter>": ["..."]})``: the API answers it as a
``400`` naming the parameter, a form shows it next to the field.

The package, by concern: ``params`` (the query string: limits, orderings, parsing), ``sql``
(each filter's SQL), ``search`` (``DeviceFilter``), ``pagination`` (keyset pages) and
``counts``.
"""

from devices.filters.counts import COUNT_COST_LIMIT, COUNT_TIME_BUDGET_MS, EXACT_COUNT_LIMIT, device_count
from devices.filters.pagination import (
    MATCH_FIRST_LIMIT,
    DevicePage,
    device_offset_page,
    device_page,
    device_tags,
)
from devices.filters.params import (
    DEFAULT_ORDERING,
    DEFAULT_PAGE_SIZE,
    FILTER_PARAMETERS,
    MAX_CURSOR_LENGTH,
    MAX_IP_LENGTH,
    MAX_PAGE_SIZE,
    MAX_Q_LENGTH,
    MAX_TAG_FILTERS,
    MAX_TAG_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    ORDERINGS,
    IpFilter,
    parse_cursor,
    parse_int,
    parse_limit,
)
from devices.filters.search import DeviceFilter, device_list_query

__all__ = [
    "COUNT_COST_LIMIT",
    "COUNT_TIME_BUDGET_MS",
    "DEFAULT_ORDERING",
    "DEFAULT_PAGE_SIZE",
    "EXACT_COUNT_LIMIT",
    "FILTER_PARAMETERS",
    "MATCH_FIRST_LIMIT",
    "MAX_CURSOR_LENGTH",
    "MAX_IP_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_Q_LENGTH",
    "MAX_TAG_FILTERS",
    "MAX_TAG_NAME_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "ORDERINGS",
    "DeviceFilter",
    "DevicePage",
    "IpFilter",
    "device_count",
    "device_list_query",
    "device_offset_page",
    "device_page",
    "device_tags",
    "parse_cursor",
    "parse_int",
    "parse_limit",
]
