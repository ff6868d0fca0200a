"""Management API: devices of a connector, their state and history."""

import csv

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.selectors import action_for_method
from connectors.identity import IDENTITY_MAX_LENGTH
from connectors.runtime import connector_rules
from connectors.selectors import connector_access
from connectors.values import NUMERIC_FORMATS
from core.csv_safety import LineEcho, csv_cell_neutralise, csv_value_cell
from core.openapi import TEXT_PATTERN, conflict, integer_schema, query, text_schema
from devices import services
from devices.api.serializers import (
    MAX_TIMESTAMP_US,
    DeviceCreateSerializer,
    DevicePageSerializer,
    DeviceSerializer,
    DeviceState,
    DeviceUpdateSerializer,
    IssuedCertificateSerializer,
    ValuePointSerializer,
)
from devices.filters import (
    DEFAULT_ORDERING,
    DEFAULT_PAGE_SIZE,
    EXACT_COUNT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_IP_LENGTH,
    MAX_PAGE_SIZE,
    MAX_Q_LENGTH,
    MAX_TAG_FILTERS,
    MAX_TAG_NAME_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    ORDERINGS,
    DeviceFilter,
    device_tags,
    parse_cursor,
    parse_limit,
)
from devices.models import Device, Status
from devices.selectors import (
    device_get,
    device_history,
    device_history_buckets,
    device_history_rows,
    device_state,
)


def whitelist_from_payload(connector, data) -> Device:
    """Shared by ``POST .../devices/`` and Device2 ``PUT .../identity/<id>``. With
    ``auth.type = "csr"`` the connector signs the CSR (``issued_certificate`` is the answer)."""
    auth = data.get("auth") or {}
    return services.device_whitelist(
        connector=connector,
        identity=data["identity"],
        auth_type=auth.get("type"),
        key=auth.get("key") or None,
        expire_us=auth.get("expire"),
        locked=data.get("locked", False),
        tags=data.get("tags"),
    )


def issued_certificate(device, data) -> dict | None:
    """``{"certificate": "<PEM>"}`` when the whitelisting sent a CSR, else None."""
    if (data.get("auth") or {}).get("type") == services.CSR:
        return {"certificate": device.certificate}
    return None


# POST .../devices/ answers the device, or the certificate issued for a CSR.
WHITELISTED_RESPONSE = PolymorphicProxySerializer(
    component_name="DeviceWhitelisted",
    serializers=[DeviceSerializer, IssuedCertificateSerializer],
    resource_type_field_name=None,
)


CREDENTIAL_CHANGE_HELP = (
    'an existing device\'s credentials change only by pinning a certificate ({"type": "certificate", '
    '"key": "<PEM>"}, or "" to clear it) or by revoking them ({"expire": 0})'
)


def update_from_payload(device, data) -> Device:
    """Shared by ``PATCH .../devices/<id>/`` and Device2 ``PATCH .../identity/<id>``.
    ``auth``: ``expire`` (0 revokes), or ``type: certificate`` with ``key`` (a PEM to pin, ""
    to clear); any other credential change is refused rather than ignored."""
    auth = data.get("auth") or {}
    certificate = None
    if "type" in auth or "key" in auth:
        if auth.get("type") != "certificate" or "key" not in auth:
            raise exceptions.ValidationError({"auth": [CREDENTIAL_CHANGE_HELP]})
        certificate = auth["key"]
    return services.device_update(
        device=device, locked=data.get("locked"), expire_us=auth.get("expire"), tags=data.get("tags"),
        certificate=certificate,
    )  # fmt: skip


LIST_DESCRIPTION = f"""
The connector's devices, a page at a time (follow `next` / `previous`: cursor links that keep
the filters). Filters combine with AND:

- `status`: the displayed status (`locked` wins over the others, then `expired`, `devmode`);
- `identity`: identities starting with this text; `q`: identities containing it (any case);
- `tag`: `name` (any value) or `name:value` (split on the first `:`, the value may hold more);
  repeat it to require every tag (at most {MAX_TAG_FILTERS});
- `ip`: the last IP address, exactly (`10.0.0.7`) or within a network (`10.0.0.0/8`, IPv6 too);
- `ordering`: {", ".join(f"`{name}`" for name in ORDERINGS)}. Devices never seen sort as older
  than every seen device: last for `-last_seen`, first for `last_seen`. Ties break by creation.

**Counts.** Only the first page (no `cursor`) carries `count`: exact up to
{EXACT_COUNT_LIMIT:,} matches, otherwise the database's estimate, with `count_is_estimate: true`.
Later pages answer `count: null`, so paging through a large fleet never counts it again.

A malformed parameter answers `400` naming it, e.g. `{{"ip": ["..."]}}`.
"""


# The device list's filters, shared with Device2's list. An empty value is no filter.
FILTER_PARAMETERS = {
    "status": query("status", text_schema(enum=["", *Status.values])),
    "identity": query("identity", text_schema(max_length=IDENTITY_MAX_LENGTH), "identity prefix"),
    "q": query("q", text_schema(max_length=MAX_Q_LENGTH), "substring of the identity, any case"),
    "tag": query(
        "tag",
        {
            "type": "array",
            "maxItems": MAX_TAG_FILTERS,
            "items": {
                "type": "string", "format": "tag-filter",
                "maxLength": MAX_TAG_NAME_LENGTH + 1 + MAX_TAG_VALUE_LENGTH,
            },
        },
        f"`name` or `name:value` (a name of at most {MAX_TAG_NAME_LENGTH} characters, not blank; "
        f"a value of at most {MAX_TAG_VALUE_LENGTH}); repeat for AND",
        explode=True,
    ),
    "ip": query(
        "ip", text_schema(max_length=MAX_IP_LENGTH, format="ip-or-network"),
        "last IP: an address (10.0.0.7) or a network (10.0.0.0/8), IPv4 or IPv6",
    ),
}  # fmt: skip
CURSOR_PARAMETER = query(
    "cursor",
    text_schema(max_length=MAX_CURSOR_LENGTH, format="cursor"),
    "opaque: from a page's next/previous URL",
)


class DeviceListView(APIView):
    """Devices of a connector: filtered, ordered, cursor-paginated (``devices/filters/``);
    POST whitelists one."""

    @extend_schema(
        description=LIST_DESCRIPTION,
        parameters=[
            *FILTER_PARAMETERS.values(),
            query("ordering", text_schema(enum=["", *ORDERINGS], default=DEFAULT_ORDERING)),
            query("limit", integer_schema(1, MAX_PAGE_SIZE, blank=True), f"default {DEFAULT_PAGE_SIZE}"),
            CURSOR_PARAMETER,
        ],
        responses=DevicePageSerializer,
        operation_id="api_v1_connectors_devices_list",
    )
    def get(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        params = request.query_params
        device_filter = DeviceFilter.from_params(params)
        limit, cursor = parse_limit(params), parse_cursor(params)
        page = device_filter.page(connector, cursor=cursor, limit=limit)
        count, is_estimate = (None, None)
        if cursor is None:
            count, is_estimate = device_filter.count(connector, first_page=page)
        url = request.build_absolute_uri()
        return Response(
            {
                "next": _page_url(url, page.next_cursor),
                "previous": _page_url(url, page.previous_cursor),
                "count": count,
                "count_is_estimate": is_estimate,
                "results": DeviceSerializer(
                    page.devices, many=True, context={"tags": device_tags(page.devices)}
                ).data,
            }
        )

    @extend_schema(
        request=DeviceCreateSerializer,
        responses={201: WHITELISTED_RESPONSE, 409: conflict("The identity is whitelisted already.")},
        description='Whitelist one device. With `{"auth": {"type": "csr", "key": "<CSR PEM>"}}` the '
        'connector\'s CA signs the CSR (CN = identity) and the answer is `{"certificate": "<PEM>"}`.',
    )
    def post(self, request, connector_id):
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        serializer = DeviceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = whitelist_from_payload(connector, serializer.validated_data)
        issued = issued_certificate(device, serializer.validated_data)
        return Response(issued or DeviceSerializer(device).data, status=status.HTTP_201_CREATED)


class DeviceDetailView(APIView):
    """One device: read, change (``locked``, ``tags``, ``auth.expire``; 0 revokes), delete."""

    def _device(self, request, connector_id, identity):
        connector = connector_access(
            user=request.user, connector_id=connector_id, action=action_for_method(request.method)
        ).connector
        return device_get(connector=connector, identity=identity)

    @extend_schema(responses=DeviceSerializer)
    def get(self, request, connector_id, identity):
        return Response(DeviceSerializer(self._device(request, connector_id, identity)).data)

    @extend_schema(request=DeviceUpdateSerializer, responses=DeviceSerializer)
    def patch(self, request, connector_id, identity):
        device = self._device(request, connector_id, identity)
        serializer = DeviceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        update_from_payload(device, serializer.validated_data)
        return Response(DeviceSerializer(device).data)

    @extend_schema(responses={204: None})
    def delete(self, request, connector_id, identity):
        services.device_delete(device=self._device(request, connector_id, identity))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ``{alias: value}``: values of the connector's settable resources, as devices write them.
STATE_CHANGE_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {
        "oneOf": [{"type": "string", "pattern": TEXT_PATTERN}, {"type": "number"}, {"type": "boolean"}]
    },
    "description": "alias → value: a settable resource of the connector, and a value its format and "
    "allowed values accept",
}


class DeviceStateBase(APIView):
    """A device's state: read it, or set cloud values (``{alias: value}``). Shared by
    ``/api/v1`` and Device2, which answer a change differently."""

    def state_read(self, request, connector_id, identity) -> dict:
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        device = device_get(connector=connector, identity=identity)
        return device_state(device=device, rules=connector_rules(connector))

    def state_set(self, request, connector_id, identity) -> tuple[Device, dict]:
        """Set the cloud values of the request's body; the device and the connector's rules."""
        connector = connector_access(user=request.user, connector_id=connector_id, action="write").connector
        device = device_get(connector=connector, identity=identity)
        rules = connector_rules(connector)
        services.device_state_set(device=device, values=request.data, rules=rules)
        return device, rules


class DeviceStateView(DeviceStateBase):
    """``{alias: {"reported", "set", "timestamp"}}``; PATCH ``{alias: value}`` sets cloud values."""

    @extend_schema(responses={200: DeviceState})
    def get(self, request, connector_id, identity):
        return Response(self.state_read(request, connector_id, identity))

    @extend_schema(
        request={"application/json": STATE_CHANGE_SCHEMA},
        responses={200: DeviceState},
    )
    def patch(self, request, connector_id, identity):
        device, rules = self.state_set(request, connector_id, identity)
        return Response(device_state(device=device, rules=rules))


def _page_url(url: str, cursor: str | None) -> str | None:
    return replace_query_param(url, "cursor", cursor) if cursor else None


def _text_param(request, name) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise exceptions.ValidationError({name: ["must not contain NUL characters"]})
    return value


def _int_param(request, name, default=None, minimum=0, maximum=MAX_TIMESTAMP_US):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["must be an integer"]}) from None
    if value < minimum or value > maximum:
        raise exceptions.ValidationError({name: [f"must be between {minimum} and {maximum}"]})
    return value


_BUCKET = {
    "type": "object",
    "properties": {
        "t": {"type": "integer", "description": "bucket start, µs"},
        "count": {"type": "integer"},
        "min": {"type": "number", "nullable": True},
        "max": {"type": "number", "nullable": True},
        "avg": {"type": "number", "nullable": True},
        "last": {"type": "string", "nullable": True, "description": "string resources only"},
    },
    "required": ["t", "count", "min", "max", "avg", "last"],
}
_POINT = {
    "type": "object",
    "properties": {
        "alias": {"type": "string"},
        "timestamp": {"type": "integer"},
        "value": {"type": "string"},
    },
    "required": ["alias", "timestamp", "value"],
}
# Ten years, in seconds: the largest bucket.
_MAX_EVERY = 10 * 366 * 24 * 3600


class DeviceHistoryView(APIView):
    """Recorded points, newest first; ``since``/``until`` are µs timestamps. With ``every``
    (seconds), one alias's points grouped into buckets, computed in the database."""

    @extend_schema(
        parameters=[
            query("alias", text_schema()),
            query("since", integer_schema(0, MAX_TIMESTAMP_US, blank=True), "µs timestamp (inclusive)"),
            query("until", integer_schema(0, MAX_TIMESTAMP_US, blank=True), "µs timestamp (inclusive)"),
            query("limit", integer_schema(1, 10_000, blank=True), "default 100 (points or buckets)"),
            query(
                "every", integer_schema(1, _MAX_EVERY, blank=True),
                "bucket width in seconds (needs alias): count, min, max, avg of numbers; last of strings",
            ),
        ],
        responses={200: {"type": "array", "items": {"anyOf": [_POINT, _BUCKET]}}},
    )  # fmt: skip
    def get(self, request, connector_id, identity):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        device = device_get(connector=connector, identity=identity)
        alias = _text_param(request, "alias") or None
        since_us, until_us = _int_param(request, "since"), _int_param(request, "until")
        limit = _int_param(request, "limit", 100, 1, 10_000)
        every = _int_param(request, "every", None, 1, _MAX_EVERY)
        if every is None:
            points = device_history(
                device=device, alias=alias, since_us=since_us, until_us=until_us, limit=limit
            )
            return Response(ValuePointSerializer(points, many=True).data)
        if alias is None:
            raise exceptions.ValidationError({"alias": ["every= groups one alias: name it"]})
        rule = connector_rules(connector).get(alias)
        buckets = device_history_buckets(
            device=device, alias=alias, numeric=rule is not None and rule.format in NUMERIC_FORMATS,
            every_us=every * 1_000_000, since_us=since_us, until_us=until_us, limit=limit,
        )  # fmt: skip
        return Response(buckets)


class _AnswerInJson(BaseContentNegotiation):
    """The CSV streams whatever the client accepts (``text/csv`` included); errors are JSON, as
    the API's always are."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DeviceHistoryCsvView(APIView):
    """``history.csv``: every recorded point in the range as ``timestamp,alias,value`` (µs,
    oldest first), streamed as it is read (no limit, nothing held in memory). Values that are
    not numbers are written so that no spreadsheet runs them as formulas."""

    content_negotiation_class = _AnswerInJson

    @extend_schema(
        parameters=[
            query("alias", text_schema()),
            query("since", integer_schema(0, MAX_TIMESTAMP_US, blank=True), "µs timestamp (inclusive)"),
            query("until", integer_schema(0, MAX_TIMESTAMP_US, blank=True), "µs timestamp (inclusive)"),
        ],
        responses={(200, "text/csv"): {"type": "string"}},
    )
    def get(self, request, connector_id, identity):
        connector = connector_access(user=request.user, connector_id=connector_id).connector
        device = device_get(connector=connector, identity=identity)
        rows = device_history_rows(
            device=device,
            alias=_text_param(request, "alias") or None,
            since_us=_int_param(request, "since"),
            until_us=_int_param(request, "until"),
        )
        response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"{connector.pk}-{device.identity}-history.csv"
        )
        return response


def _csv_lines(rows):
    writer = csv.writer(LineEcho())
    yield writer.writerow(["timestamp", "alias", "value"])
    for timestamp, alias, value in rows:
        yield writer.writerow([timestamp, csv_cell_neutralise(alias), csv_value_cell(value)])
