"""Firmware notices: owners are told when a newer firmware package for their devices' connector
is uploaded — a notice on their portal (until they dismiss it) and an e-mail (unless they turned
those off: ``EndUser.firmware_emails``)."""

from django.http import Http404
from django.utils import timezone

from claiming.models import EndUser
from portal.models import FirmwareNotice


def notices_for(user: EndUser) -> list[FirmwareNotice]:
    """The user's notices not yet dismissed, newest first."""
    return list(
        FirmwareNotice.objects.filter(user=user, dismissed_at__isnull=True).order_by("-created_at", "-id")
    )


def notice_dismiss(*, user: EndUser, notice_id: int) -> None:
    """The user has seen notice ``notice_id`` (another user's is a 404)."""
    updated = FirmwareNotice.objects.filter(user=user, pk=notice_id, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )
    if not updated and not FirmwareNotice.objects.filter(user=user, pk=notice_id).exists():
        raise Http404("No such notice.")
