"""A connector's devices as the import's CSV (``manage.py devices export``)."""

import json
from collections import defaultdict
from collections.abc import Iterator

from django.db import connection

from connectors.models import Connector
from core.csv_safety import csv_writer
from devices.imports.reader import CSV_HEADER
from devices.models import Device, DeviceTag


def devices_csv_rows(*, connector: Connector, device_filter=None, chunk_size: int = 2000) -> Iterator[list]:
    """The rows of the import's CSV for the connector's devices (those matching
    ``device_filter``, a ``devices.filters.DeviceFilter``, when given): the header, then one row
    per device in identity order, read a chunk at a time (never the whole fleet in memory).
    Write them with ``core.csv_safety.csv_writer``."""
    yield CSV_HEADER
    if connection.vendor == "sqlite":
        chunk_size = min(chunk_size, 900)
    matching = device_filter.queryset(connector) if device_filter is not None else None
    last = None
    while True:
        devices = (matching if matching is not None else Device.objects.filter(connector=connector)).order_by(
            "identity"
        )
        if last is not None:
            devices = devices.filter(identity__gt=last)
        page = list(devices.values_list("id", "identity", "certificate")[:chunk_size])
        if not page:
            return
        tags: dict[int, list] = defaultdict(list)
        ids = [pk for pk, _, _ in page]
        for device_id, name, value in (
            DeviceTag.objects.filter(device_id__in=ids).order_by("name", "value").values_list(
                "device_id", "name", "value"
            )
        ):  # fmt: skip
            tags[device_id].append({"name": name, "value": value})
        for pk, identity, certificate in page:
            tag_list = tags.get(pk)
            yield [identity, certificate, json.dumps(tag_list, ensure_ascii=False) if tag_list else ""]
        last = page[-1][1]


def devices_csv_export(*, connector: Connector, out, chunk_size: int = 2000, device_filter=None) -> int:
    """Write the connector's devices (those matching ``device_filter``, when given) to the text
    stream ``out`` in the import's CSV format (``devices_csv_rows``). Importing the result into
    the same connector changes nothing (cells that a spreadsheet would run as a formula are
    written with a leading quote, which the import takes off). Returns the number of devices
    written."""
    writer = csv_writer(out)
    count = -1  # the header is no device
    for row in devices_csv_rows(connector=connector, device_filter=device_filter, chunk_size=chunk_size):
        writer.writerow(row)
        count += 1
    return count
