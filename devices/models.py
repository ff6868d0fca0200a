"""Devices, their credentials, tags, state (digital twin) and value history."""

from django.db import models
from django.utils import timezone

from connectors.identity import IDENTITY_MAX_LENGTH
from connectors.models import AuthType, Connector


class Lifecycle(models.TextChoices):
    """Where a device is in its life; ``Device.status`` adds locked/expired/devmode on top."""

    WHITELISTED = "whitelisted", "Whitelisted"
    PROVISIONED = "provisioned", "Provisioned"
    REPROVISION = "reprovision", "Reprovision"


class Status(models.TextChoices):
    WHITELISTED = "whitelisted", "Whitelisted"
    PROVISIONED = "provisioned", "Provisioned"
    EXPIRED = "expired", "Expired"
    REPROVISION = "reprovision", "Reprovision"
    LOCKED = "locked", "Locked"
    DEVMODE = "devmode", "Devmode"


# A device that stands for another cloud's asset (``integrations``): it has no device credentials,
# and its values come from that cloud.
INTEGRATION_AUTH = "integration"
DEVICE_AUTH_TYPES = [*AuthType.choices, (INTEGRATION_AUTH, "Integration (no device credentials)")]


class Device(models.Model):
    """A device identity in a connector, with hashed credentials and lifecycle flags.

    ``lifecycle`` is stored; the displayed ``status`` also reflects ``locked``, an activation
    window that has passed (``expired``) and ``devmode`` (authenticated over plain HTTP).
    """

    # Not indexed alone: every index of the table leads with the connector already.
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="devices", db_index=False)
    identity = models.CharField(max_length=IDENTITY_MAX_LENGTH)
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.WHITELISTED)
    auth_type = models.CharField(max_length=16, choices=DEVICE_AUTH_TYPES, blank=True)
    # Unique by a constraint of Meta (a unique field would also get a LIKE index on PostgreSQL).
    token_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    certificate = models.TextField(blank=True)
    certificate_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    locked = models.BooleanField(default=False)
    devmode = models.BooleanField(default=False)
    activation_deadline = models.DateTimeField(null=True, blank=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["identity"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "identity"], name="device_unique_identity"),
            models.UniqueConstraint(fields=["token_hash"], name="device_unique_token"),
        ]
        # For the device list at fleet scale (devices/filters/). PostgreSQL also gets the
        # identity, trigram and status indexes of migration 0002, which Django's index API
        # cannot express for both databases.
        indexes = [
            models.Index(fields=["connector", "last_seen", "id"], name="device_by_last_seen"),
            models.Index(fields=["connector", "created_at", "id"], name="device_by_created_at"),
            models.Index(fields=["connector", "last_ip"], name="device_by_last_ip"),
        ]

    def __str__(self):
        return self.identity

    @property
    def is_expired(self) -> bool:
        return (
            self.lifecycle == Lifecycle.WHITELISTED
            and self.activation_deadline is not None
            and self.activation_deadline < timezone.now()
        )

    @property
    def status(self) -> str:
        if self.locked:
            return Status.LOCKED
        if self.is_expired:
            return Status.EXPIRED
        if self.lifecycle == Lifecycle.PROVISIONED and self.devmode:
            return Status.DEVMODE
        return self.lifecycle

    @property
    def reprovision(self) -> bool:
        return self.lifecycle == Lifecycle.REPROVISION


class DeviceTag(models.Model):
    """A name/value pair on a device (many values per name). Devices cannot see their tags."""

    # Neither key is indexed alone: the indexes below lead with them (fewer indexes to write
    # on every tag a bulk import inserts).
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="tags", db_index=False)
    # Denormalised so tag searches stay inside one connector's rows, and a page of the devices
    # with a tag, in identity order, is one range of one index (devices/filters/). A device's
    # identity never changes; every writer of tags sets it (``DeviceTag.of``, the bulk import).
    # A copy of the device's connector, without a constraint of its own in the database: the
    # device's key already ties the row to it (writers copy both, ``DeviceTag.of``), and the
    # second check per tag cost a bulk import a tenth of its time. Deleting a connector still
    # deletes its tags (Django's cascade, and the devices').
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    identity = models.CharField(max_length=IDENTITY_MAX_LENGTH, editable=False)
    name = models.CharField(max_length=100)
    value = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name", "value"]
        # Checking one device's tag is one probe of this constraint's index; a connector's
        # devices with a tag are read from ``tag_search_identity`` (connector, name, value,
        # identity) including the device id, built by migration 0003 (devices/filters/).
        constraints = [models.UniqueConstraint(fields=["device", "name", "value"], name="tag_unique_value")]

    def __str__(self):
        return f"{self.name}={self.value}"

    @classmethod
    def of(cls, device: Device, name: str, value: str) -> "DeviceTag":
        """A tag of ``device``, with the columns copied from it filled in."""
        return cls(
            device=device, connector_id=device.connector_id, identity=device.identity, name=name, value=value
        )


class DeviceState(models.Model):
    """One alias of a device's digital twin: last ``reported`` value, cloud ``set`` value."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="states", db_index=False)
    alias = models.CharField(max_length=100)
    reported = models.TextField(null=True, blank=True)
    set = models.TextField(null=True, blank=True)
    timestamp = models.BigIntegerField(help_text="µs since the epoch of the last change")

    class Meta:
        ordering = ["alias"]
        constraints = [models.UniqueConstraint(fields=["device", "alias"], name="state_unique_alias")]

    def __str__(self):
        return f"{self.alias}: reported={self.reported!r} set={self.set!r}"


class ValuePoint(models.Model):
    """One point of a resource's history for a device (what the device reported, and when).

    On PostgreSQL the table is partitioned by day of ``timestamp`` (``devices.partitions``; its
    primary key there is ``(id, timestamp)``, ids still come from one sequence). No foreign key
    constraint: a deleted device's points are removed in the background (``HistoryPurge``),
    not in the request that deletes it."""

    device = models.ForeignKey(
        Device, on_delete=models.DO_NOTHING, db_constraint=False, related_name="history", db_index=False
    )
    alias = models.CharField(max_length=100)
    timestamp = models.BigIntegerField(help_text="µs since the epoch")
    value = models.TextField()

    class Meta:
        ordering = ["-timestamp"]
        indexes = [models.Index(fields=["device", "alias", "timestamp"], name="history_by_alias_time")]

    def __str__(self):
        return f"{self.alias}@{self.timestamp}={self.value[:20]!r}"


class HistoryPurge(models.Model):
    """A deleted device whose history points are still to be removed: queued in the transaction
    that deletes it, worked off in batches by ``devices.history_purge``."""

    device_id = models.BigIntegerField(primary_key=True)
    queued_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"history of device {self.device_id}"


class ValueRollup(models.Model):
    """Five minutes of one device's alias added up (``devices.rollups``): what a downsampled
    read of a long range sums instead of the raw points. ``count``: every point; ``numbers``,
    ``total``, ``low``, ``high``: those whose value is a number; ``last_*``: the latest point
    (by timestamp, then id)."""

    device_id = models.BigIntegerField()
    alias = models.CharField(max_length=100)
    start = models.BigIntegerField(help_text="µs since the epoch, a multiple of five minutes")
    count = models.IntegerField()
    numbers = models.IntegerField()
    total = models.FloatField(null=True)
    low = models.FloatField(null=True)
    high = models.FloatField(null=True)
    last_timestamp = models.BigIntegerField()
    last_id = models.BigIntegerField()
    last_value = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device_id", "alias", "start"], name="rollup_unique_block")
        ]
        indexes = [models.Index(fields=["start"], name="rollup_by_start")]
        verbose_name = "value roll-up"

    def __str__(self):
        return f"{self.alias}@{self.start}×{self.count}"


class RollupRun(models.Model):
    """One run of the roll-ups (``devices.rollups.rollup_run``). After it, every point with an
    id up to ``rolled_max_id`` is in the roll-ups, and every point before ``rolled_until`` (µs)
    but those recorded late since (a timestamp in the past). ``seen_*``: the marks it took
    when it started, which the next run rolls up to (by then every transaction that had an id
    up to there has ended)."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    seen_max_id = models.BigIntegerField()
    seen_until = models.BigIntegerField()
    rolled_max_id = models.BigIntegerField(default=0)
    rolled_until = models.BigIntegerField(null=True, blank=True)
    blocks = models.IntegerField(default=0, help_text="roll-up blocks written")

    class Meta:
        ordering = ["-id"]
        verbose_name = "roll-up run"

    def __str__(self):
        return f"roll-up run {self.pk} to id {self.rolled_max_id}"
