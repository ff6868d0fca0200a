"""A connector's devices at a glance, for the pages that list connectors (``connectors.hooks.
devices_activity``): how many devices, how many of each status, and when one was last seen."""

from django.db.models import Count, Max

from connectors.selectors import DeviceActivity
from devices.models import Device, Status
from devices.selectors import status_q


def activity_by_connector(*, connector_ids: list[str]) -> dict[str, DeviceActivity]:
    """The activity of each connector of ``connector_ids`` that has devices: one aggregate
    query for all of them (one pass over their devices), the statuses counted by the Devices
    tab's own rule (``status_q``)."""
    per_status = {f"status_{status}": Count("id", filter=status_q(status)) for status in Status.values}
    rows = (
        Device.objects.filter(connector_id__in=connector_ids)
        .order_by()
        .values("connector_id")
        .annotate(total=Count("id"), last_seen=Max("last_seen"), **per_status)
    )
    return {
        row["connector_id"]: DeviceActivity(
            total=row["total"],
            by_status=tuple(
                (status, row[f"status_{status}"]) for status in Status.values if row[f"status_{status}"]
            ),
            last_seen=row["last_seen"],
        )
        for row in rows
    }
