"""A connector's devices as the import's CSV (``manage.py devices export``)."""

import json
from collections import defaultdict

from django.db import connection

from connectors.models import Connector
from core.csv_safety import csv_writer
from devices.imports.reader import CSV_HEADER
from devices.models import Device, DeviceTag


def devices_csv_export(*, connector: Connector, out, chunk_size: int = 2000) -> int:
    """Write the connector's devices to the text stream ``out`` in the import's CSV format, in
    identity order, a chunk at a time (never the whole fleet in memory). Importing the result
    into the same connector changes nothing (cells that a spreadsheet would run as a formula
    are written with a leading quote, which the import takes off). Returns the number of
    devices written."""
    writer = csv_writer(out)
    writer.writerow(CSV_HEADER)
    if connection.vendor == "sqlite":
        chunk_size = min(chunk_size, 900)
    count, last = 0, None
    while True:
        devices = Device.objects.filter(connector=connector).order_by("identity")
        if last is not None:
            devices = devices.filter(identity__gt=last)
        page = list(devices.values_list("id", "identity", "certificate")[:chunk_size])
        if not page:
            return count
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
            writer.writerow(
                [identity, certificate, json.dumps(tag_list, ensure_ascii=False) if tag_list else ""]
            )
        count += len(page)
        last = page[-1][1]
