"""Background jobs (bulk imports and the like): what was asked, how far it got, what went wrong."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# A job keeps the first this many row errors; ``error_count`` counts them all.
ERRORS_KEPT = 1000


class JobKind(models.TextChoices):
    DEVICE_IMPORT = "device_import", "Device import (CSV)"
    CLAIM_CODES = "claim_codes", "Claim code generation"
    INTEGRATION_SYNC = "integration_sync", "Integration sync"
    DEVICE_BULK = "device_bulk", "Bulk device change"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"


def _upload_to(job: "Job", filename: str) -> str:
    # One folder per job: uploads never collide, and a job's file is easy to find in the bucket.
    return f"jobs/{job.pk}/{filename}"


class Job(models.Model):
    """A long task run by a Celery worker on behalf of a business member.

    Scoped like connectors: visible to the members of ``business`` only. ``total`` is None until
    the worker has counted the work; ``done`` moves as it goes. ``created``, ``updated`` and
    ``unchanged`` count what happened to the rows that were applied; ``errors`` lists the first
    ``ERRORS_KEPT`` refused rows as ``{"line", "identity", "reason"}`` and ``error_count`` all of
    them. ``detail`` says why a ``failed`` job stopped, or that a job was resumed after its worker
    stopped.

    A worker holds a running job by a lease: it claims the job (``attempts`` goes up by one and
    fences off any earlier holder), and renews ``heartbeat_at`` every ``JOB_HEARTBEAT_SECONDS``
    while it works. A running job whose heartbeat is older than ``JOB_LEASE_SECONDS`` lost its
    worker (killed, out of memory, machine gone): ``jobs_recover`` resumes it or, after
    ``JOB_MAX_ATTEMPTS``, fails it. ``dispatched_at`` is when the job was last handed to the
    broker; None when that failed (the broker was down), so ``jobs_recover`` hands it again.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    business = models.ForeignKey("accounts.Business", on_delete=models.CASCADE, related_name="jobs")
    connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.CASCADE, related_name="jobs", null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    file = models.FileField(upload_to=_upload_to, max_length=300, blank=True)
    file_name = models.CharField(max_length=255, blank=True, help_text="the name the file was uploaded as")
    # What a job without a file was asked (a claim code generation: the device filter).
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="how many times a worker took the job")
    worker = models.CharField(max_length=200, blank=True, help_text="the worker that holds the job")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["business", "-created_at"], name="job_by_business"),
            models.Index(fields=["connector", "-created_at"], name="job_by_connector"),
            # What ``jobs_recover`` looks at: the few jobs not over, or over with an upload left.
            models.Index(
                fields=["state"],
                name="job_pending_work",
                condition=Q(state__in=[JobState.QUEUED, JobState.RUNNING]) | ~Q(file=""),
            ),
        ]
        constraints = [
            # An integration's sync runs never overlap: one queued or running per connector.
            models.UniqueConstraint(
                fields=["connector"],
                condition=Q(kind="integration_sync", state__in=["queued", "running"]),
                name="job_one_sync_at_a_time",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.pk} ({self.state})"

    @property
    def is_over(self) -> bool:
        return self.state in (JobState.FINISHED, JobState.FAILED)
