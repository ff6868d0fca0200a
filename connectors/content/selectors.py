"""Reads of the content store: lists, one item, and its bytes as a stream."""

from django.http import Http404

from connectors.content.ranges import parse_range
from connectors.content.storage import ContentStream
from connectors.models import Connector, ContentItem


def content_list(*, connector: Connector):
    """The connector's items, by id."""
    return ContentItem.objects.filter(connector=connector).order_by("content_id")


def content_ids(*, connector: Connector) -> list[str]:
    return list(content_list(connector=connector).values_list("content_id", flat=True))


def content_find(*, connector_id: str, content_id: str) -> ContentItem | None:
    if not content_id or "\x00" in content_id or len(content_id) > 1000:
        return None  # cannot name an item; not worth a query (and PostgreSQL refuses NUL)
    return ContentItem.objects.filter(connector_id=connector_id, content_id=content_id).first()


def content_get(*, connector: Connector, content_id: str) -> ContentItem:
    """The item, or ``Http404``."""
    item = content_find(connector_id=connector.pk, content_id=content_id)
    if item is None:
        raise Http404("No such content item.")
    return item


def content_packages(*, connector: Connector):
    """The connector's firmware packages (``package_`` items with valid metadata), newest first."""
    return ContentItem.objects.filter(connector=connector, package__isnull=False).order_by(
        "-updated_at", "content_id"
    )


def content_open(*, item: ContentItem, range_header: str | None = None):
    """``(stream, (start, end) or None)`` for the bytes a download asks: the whole item, or the
    range of a valid ``Range`` header. Raises ``RangeNotSatisfiable``, ``FileNotFoundError``."""
    byte_range = parse_range(range_header, item.size)
    start, end = byte_range if byte_range is not None else (0, item.size - 1)
    return ContentStream(item.storage_name, start, end), byte_range
