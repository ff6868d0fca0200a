"""The device API's content rows (shared/docs/device-api.md): list, info, download with ``Range``, upload.

``GET /provision/download`` lists the connector's content ids (``text/csv``, one per line);
``?id=<id>&info=true`` answers ``<mime>,<bytes>,<updated unix s>,<description>``; ``?id=<id>``
streams the item (``206`` for one ``Range``, ``416`` past its end) and is a ``content_download``
event in Logs. ``POST /provision/upload?id=<id>`` (ours) stores the raw body as an item of the
request's ``Content-Type``: ``204`` and a ``content_upload`` event, ``413`` at 64 MB (counted
while it streams in). Every row
needs the device's credentials, like reads and writes.

Devices may create items and replace their own uploads; people's items and firmware packages
(``package_…``) are theirs to read only (``403``).
"""

import logging

from django.core.exceptions import ValidationError

from connectors.content.errors import ContentForbidden, ContentTooLarge, UploadInterrupted
from connectors.content.ranges import RangeNotSatisfiable, content_range
from connectors.content.selectors import content_find, content_ids, content_open
from connectors.content.services import content_upload
from devices.auth import device_authenticate
from devices.device_api.context import Context
from devices.device_api.protocol import BadRequest, DeviceResponse, parse_fields, text
from devices.events import EventType, event_emit

logger = logging.getLogger(__name__)
CSV = "text/csv; charset=utf-8"


def _query(ctx: Context) -> dict[str, str | None]:
    return parse_fields(ctx.request.query)


def _content_id(params: dict) -> str | None:
    if "id" not in params:
        return None
    content_id = params["id"]
    if not content_id:
        raise BadRequest("id must name a content item")
    return content_id


def download(ctx: Context) -> DeviceResponse:
    params = _query(ctx)
    content_id = _content_id(params)
    device = device_authenticate(ctx.credentials())
    if content_id is None:
        ids = content_ids(connector=device.connector)
        return DeviceResponse(200, "".join(f"{i}\n" for i in ids).encode(), CSV)
    item = content_find(connector_id=device.connector_id, content_id=content_id)
    if item is None:
        return text(404, "no such content")
    if "info" in params and (params["info"] or "true").lower() not in ("false", "0"):
        updated = int(item.updated_at.timestamp())
        return DeviceResponse(
            200, f"{item.content_type},{item.size},{updated},{item.description}".encode(), CSV
        )
    try:
        stream, byte_range = content_open(item=item, range_header=ctx.request.header("range"))
    except RangeNotSatisfiable as exc:
        return text(416, exc.message, [("Content-Range", exc.content_range)])
    except FileNotFoundError:
        logger.error("content %s of connector %s is missing from storage", item.content_id, item.connector_id)
        return text(404, "no such content")
    start, end = byte_range if byte_range else (0, item.size - 1)
    headers = [("Accept-Ranges", "bytes"), ("ETag", f'"{item.sha256}"')]
    if byte_range:
        headers.append(("Content-Range", content_range(start, end, item.size)))
    if ctx.request.method != "HEAD":
        event_emit(
            connector_id=ctx.connector_id, type=EventType.CONTENT_DOWNLOAD, identity=device.identity,
            ip=ctx.ip, connection_id=ctx.connection_id,
            payload={"id": item.content_id, "size": item.size,
                     "range": f"{start}-{end}" if byte_range else None},
        )  # fmt: skip
    return DeviceResponse(
        206 if byte_range else 200, content_type=item.content_type, headers=headers, stream=stream,
        stream_length=max(0, end - start + 1),
    )  # fmt: skip


def upload(ctx: Context) -> DeviceResponse:
    params = _query(ctx)
    content_id = _content_id(params)
    if content_id is None:
        raise BadRequest("id is required")
    device = device_authenticate(ctx.credentials())
    request = ctx.request
    try:
        item, _ = content_upload(
            connector=device.connector, content_id=content_id, stream=request.body_stream,
            content_type=request.header("content-type"), length=request.body_length,
            device_identity=device.identity,
        )  # fmt: skip
    except ValidationError as exc:
        return text(400, "; ".join(exc.messages))
    except ContentTooLarge as exc:
        return text(413, exc.message)
    except ContentForbidden as exc:
        return text(403, exc.message)
    except UploadInterrupted as exc:
        return text(400, str(exc))
    event_emit(
        connector_id=ctx.connector_id, type=EventType.CONTENT_UPLOAD, identity=device.identity, ip=ctx.ip,
        connection_id=ctx.connection_id,
        payload={"id": item.content_id, "size": item.size, "content_type": item.content_type},
    )  # fmt: skip
    return DeviceResponse(204)
