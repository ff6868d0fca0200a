"""Reads about firmware updates: packages, rollouts with their counts, a device's updates."""

from django.db.models import Count
from django.http import Http404

from connectors.content.selectors import content_packages
from connectors.models import Connector
from devices.models import Device
from firmware.models import DeviceUpdate, OtauReport, Rollout, UpdateStatus


def package_list(*, connector: Connector) -> list[dict]:
    """The connector's firmware packages with their versions, newest upload first."""
    packages = []
    for item in content_packages(connector=connector):
        config = item.package["config_otau"]
        packages.append(
            {
                "id": item.content_id,
                "version": config["version"],
                "name": config["name"],
                "description": config.get("description"),
                "type": config["type"],
                "author": item.package.get("author"),
                "product": item.package.get("product"),
                "config_otau": config,
                "updated_at": item.updated_at,
            }
        )
    return packages


def rollout_list(*, connector: Connector):
    return Rollout.objects.filter(connector=connector).order_by("-created_at", "-id")


def rollout_get(*, connector: Connector, rollout_id: int) -> Rollout:
    rollout = Rollout.objects.filter(connector=connector, pk=rollout_id).first()
    if rollout is None:
        raise Http404("No such rollout.")
    return rollout


def rollout_counts(rollouts) -> dict[int, dict]:
    """``{rollout id: {"total": {status: n}, "waves": [{status: n}, ...]}}`` in one query."""
    rollouts = list(rollouts)
    result = {r.pk: {"total": {}, "waves": [{} for _ in range(r.wave_count)]} for r in rollouts}
    rows = (
        DeviceUpdate.objects.filter(rollout__in=rollouts)
        .values_list("rollout_id", "wave", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for rollout_id, wave, status, n in rows:
        counts = result[rollout_id]
        counts["total"][status] = counts["total"].get(status, 0) + n
        if wave < len(counts["waves"]):
            counts["waves"][wave][status] = n
    return result


def rollout_devices(*, rollout: Rollout, status: str | None = None, limit: int = 100):
    updates = DeviceUpdate.objects.filter(rollout=rollout).select_related("device").order_by("wave", "id")
    if status:
        updates = updates.filter(status=status)
    return updates[:limit]


def device_firmware(*, device: Device, history_limit: int = 50) -> dict:
    """A device's firmware: the version it last installed, its latest update and its reports."""
    installed = (
        OtauReport.objects.filter(device=device, status=UpdateStatus.INSTALL_SUCCESS)
        .order_by("-created_at", "-id")
        .values_list("version", flat=True)
        .first()
    )
    updates = list(DeviceUpdate.objects.filter(device=device).select_related("rollout").order_by("-id")[:20])
    reports = list(OtauReport.objects.filter(device=device).order_by("-created_at", "-id")[:history_limit])
    return {"installed_version": installed, "updates": updates, "reports": reports}
