"""Firmware updates (OTAU): rollouts to devices, each device's part in them, and what devices
report on ``otau_in``.

A rollout delivers a ``config_otau`` message (a firmware package's, or one given as is) to its
devices by setting their ``config_otau`` resource, wave by wave; devices report progress by
writing ``otau_in`` (``{"version", "status", "message"}``), which moves their ``DeviceUpdate``
and lands in their ``OtauReport`` history.
"""

import re

from django.conf import settings
from django.db import models
from django.utils import timezone

from connectors.models import Connector
from devices.models import Device

CONFIG_ALIAS = "config_otau"
REPORT_ALIAS = "otau_in"


class UpdateStatus(models.TextChoices):
    """Where one device is in an update. QUEUED/SENT/TIMEOUT/CANCELLED are the platform's; the
    others are what devices report (ExoSense's statuses); any ``*_ERROR`` a device reports
    (``INIT_ERROR``…) is a failure too."""

    QUEUED = "QUEUED", "Queued (waiting for its wave)"
    SENT = "SENT", "Sent (no report yet)"
    INIT = "INIT", "Initialising"
    DOWNLOAD = "DOWNLOAD", "Downloading"
    DOWNLOAD_SUCCESS = "DOWNLOAD_SUCCESS", "Downloaded"
    DOWNLOAD_ERROR = "DOWNLOAD_ERROR", "Download failed"
    INSTALL = "INSTALL", "Installing"
    INSTALL_SUCCESS = "INSTALL_SUCCESS", "Installed"
    INSTALL_ERROR = "INSTALL_ERROR", "Install failed"
    TIMEOUT = "TIMEOUT", "Timed out (silent device)"
    CANCELLED = "CANCELLED", "Cancelled"


REPORTED_PROGRESS = {
    UpdateStatus.INIT,
    UpdateStatus.DOWNLOAD,
    UpdateStatus.DOWNLOAD_SUCCESS,
    UpdateStatus.INSTALL,
}
_ERROR_STATUS = re.compile(r"^[A-Z][A-Z0-9_]{0,25}_ERROR$")


def is_error_status(status: str) -> bool:
    return bool(_ERROR_STATUS.match(status))


def is_reportable_status(status: str) -> bool:
    """A status a device may report on ``otau_in``."""
    return status in REPORTED_PROGRESS or status == UpdateStatus.INSTALL_SUCCESS or is_error_status(status)


def is_failed_status(status: str) -> bool:
    return status == UpdateStatus.TIMEOUT or is_error_status(status)


def is_finished_status(status: str) -> bool:
    return status in (UpdateStatus.INSTALL_SUCCESS, UpdateStatus.CANCELLED) or is_failed_status(status)


class RolloutState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Rollout(models.Model):
    """A firmware update of a set of devices, all at once or in waves.

    Waves go out one after the other: the next one when every device of the current wave has
    finished (installed, failed, timed out). With a ``success_threshold``, a wave in which more
    devices fail than the threshold allows pauses the rollout until someone resumes (accepting
    that wave's failures) or cancels it. ``target`` keeps what was asked (device list or
    filter), for people to read.
    """

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="rollouts")
    package_id = models.CharField(max_length=128, blank=True, help_text="content id of the package, if any")
    version = models.CharField(max_length=64)
    config_otau = models.JSONField(help_text="the message devices receive in config_otau")
    target = models.JSONField(default=dict)
    wave_size = models.PositiveIntegerField(null=True, blank=True)
    wave_count = models.PositiveIntegerField(default=1)
    current_wave = models.PositiveIntegerField(default=0)
    # The wave whose failures a person accepted by resuming: it no longer pauses the rollout.
    waived_wave = models.IntegerField(null=True, blank=True)
    success_threshold = models.FloatField(null=True, blank=True)
    device_timeout = models.PositiveIntegerField(help_text="seconds a device may stay silent")
    state = models.CharField(max_length=16, choices=RolloutState.choices, default=RolloutState.RUNNING)
    state_reason = models.CharField(max_length=500, blank=True)
    device_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["connector", "-created_at"], name="rollout_by_connector")]

    def __str__(self):
        return f"rollout {self.pk} of {self.version} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in (RolloutState.RUNNING, RolloutState.PAUSED)


class DeviceUpdate(models.Model):
    """One device's part in a rollout: its wave, its status, and by when it must report.

    ``deadline`` is the time of sending (or of the device's last report) plus the rollout's
    device timeout; a device still unfinished then counts as failed (``TIMEOUT``).
    """

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="device_updates")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="firmware_updates")
    wave = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=32, default=UpdateStatus.QUEUED)
    message = models.CharField(max_length=1000, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rollout", "wave", "id"]
        constraints = [models.UniqueConstraint(fields=["rollout", "device"], name="device_update_unique")]
        indexes = [
            models.Index(fields=["rollout", "wave", "status"], name="device_update_by_wave"),
            models.Index(fields=["device", "finished_at"], name="device_update_by_device"),
            models.Index(fields=["finished_at", "deadline"], name="device_update_by_deadline"),
        ]

    def __str__(self):
        return f"{self.device_id} in rollout {self.rollout_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return is_finished_status(self.status)


class OtauReport(models.Model):
    """One ``otau_in`` write of a device: the version, status and message it reported.

    A write that is not a valid report is kept too (``status`` ``INVALID``, the value in
    ``raw``), so people can see what the firmware actually sent."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="otau_reports")
    device_update = models.ForeignKey(
        DeviceUpdate, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    version = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32)
    message = models.CharField(max_length=1000, blank=True)
    raw = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["device", "-created_at"], name="otau_report_by_device")]
        verbose_name = "firmware report"

    def __str__(self):
        return f"{self.device_id}: {self.status} {self.version}"
