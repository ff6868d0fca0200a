"""Firmware notices: owners are told when a newer firmware package for their devices' connector
is uploaded — a notice on their portal (until they dismiss it) and an e-mail (unless they turned
those off: ``EndUser.firmware_emails``)."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, QuerySet
from django.db.models.functions import Cast
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from claiming.models import EndUser
from claiming.services.claims import TAG_USERS
from connectors.content.selectors import content_find
from connectors.models import Connector
from connectors.selectors import portal_url
from core.tasks import task_send_on_commit
from devices.models import DeviceTag
from firmware.selectors import package_list
from portal.branding import branding_of
from portal.models import FirmwareNotice

logger = logging.getLogger(__name__)


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


# ---- Telling the owners (the ``portal.firmware_notices`` task) ----------------------------------

# Owners are read, locked and given their notices this many at a time.
OWNERS_CHUNK = 500


def version_key(version: str) -> tuple:
    """A sort key of a dotted version: numeric parts compare as numbers (``1.10`` > ``1.9``), other
    parts as text and above numbers (``2.0.0-rc1`` > ``2.0.0``; a warning to authors who use
    suffixes), and trailing zero parts do not count (``1.0`` is ``1.0.0``)."""
    parts = [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in version.strip().split(".")]
    while parts and parts[-1] == (0, 0, ""):
        parts.pop()
    return tuple(parts)


def package_is_newest(*, connector: Connector, package_id: str, version: str) -> bool:
    """Whether ``version`` (of package ``package_id``) is newer than every other firmware package
    of the connector: an older version uploaded after a newer one, or the same version under
    another id, tells nobody."""
    key = version_key(version)
    return all(
        version_key(other["version"]) < key
        for other in package_list(connector=connector)
        if other["id"] != package_id
    )


def firmware_package_uploaded(*, connector: Connector, content_id: str, package: dict) -> None:
    """``connectors.hooks.package_uploaded``: tell the owners once the upload commits (on a
    worker: there may be many of them, and e-mail servers are slow)."""
    task_send_on_commit(
        "portal.firmware_notices", connector.pk, content_id,
        later="the owners will not be told about this package (they are told on upload only)",
    )  # fmt: skip


def owners_of_connector(connector: Connector) -> QuerySet:
    """The connector's end users who own at least one of its devices: one probe of the ``users``
    tag index (connector, name, value) per end user, in one query."""
    owned = DeviceTag.objects.filter(
        connector_id=connector.pk, name=TAG_USERS, value=Cast(OuterRef("pk"), output_field=CharField())
    )
    return EndUser.objects.filter(connector=connector).filter(Exists(owned))


def firmware_notices_send(*, connector_id: str, package_id: str) -> int:
    """Tell the owners of connector ``connector_id``'s devices about firmware package
    ``package_id``, when the connector has claiming and firmware updates on and the package's
    version is newer than every other package's (``package_is_newest``). Returns how many
    notices were created (or renewed: the package was replaced by a newer version of itself).

    Each owner gets a notice (``FirmwareNotice``, one per user and package) and, when they are
    verified, not blocked and did not turn them off (``EndUser.firmware_emails``), an e-mail.
    Notices come first and e-mails go only to the owners whose notice this run created: a second
    delivery of the task, or a re-upload of the same version, creates nothing and e-mails nobody
    again. So an e-mail is sent at most once; one the e-mail server refused is logged, not
    retried (the notice on the portal remains).

    Owners are handled ``OWNERS_CHUNK`` at a time, each chunk's user rows locked while its notices
    are created (a concurrent delivery waits, then finds them), the e-mails sent after it commits.
    """
    connector = Connector.objects.filter(pk=connector_id).first()
    if connector is None or not (connector.claiming_enabled and connector.firmware_update_enabled):
        return 0
    item = content_find(connector_id=connector.pk, content_id=package_id)
    if item is None or item.package is None:
        return 0  # deleted (or no longer a valid package) since the upload
    config = item.package["config_otau"]
    version = config["version"]
    if not package_is_newest(connector=connector, package_id=package_id, version=version):
        return 0
    key = version_key(version)
    email = _FirmwareEmail(connector, config)
    notified = emailed = failed = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            owners = list(
                owners_of_connector(connector)
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update()[:OWNERS_CHUNK]
            )
            if not owners:
                break
            last_pk = owners[-1].pk
            told = dict(
                FirmwareNotice.objects.filter(user__in=owners, package_id=package_id).values_list(
                    "user_id", "version"
                )
            )
            new = [user for user in owners if user.pk not in told]
            FirmwareNotice.objects.bulk_create(
                [FirmwareNotice(user=user, package_id=package_id, version=version) for user in new]
            )
            # The package was replaced by a newer version under the same id: its notice is news again.
            stale = [user for user in owners if user.pk in told and version_key(told[user.pk]) < key]
            if stale:
                FirmwareNotice.objects.filter(user__in=stale, package_id=package_id).update(
                    version=version, created_at=timezone.now(), dismissed_at=None
                )
        notified += len(new) + len(stale)
        recipients = [u for u in new + stale if u.firmware_emails and u.verified and not u.blocked]
        sent = email.send(recipients)
        emailed += sent
        failed += len(recipients) - sent
    logger.info(
        "firmware %s (%s) of connector %s: %d new notices, %d e-mails sent, %d failed",
        version, package_id, connector.pk, notified, emailed, failed,
    )  # fmt: skip
    return notified


class _FirmwareEmail:
    """The e-mail about one package, rendered per owner (``portal/email/firmware_notice``)."""

    def __init__(self, connector: Connector, config: dict):
        branding = branding_of(connector)
        title = branding.get("title") or connector.name or connector.pk
        base = portal_url(connector)
        self.subject = " ".join(f"New firmware {config['version']} for {title}".split())
        self.context = {
            "title": title,
            "company": branding.get("companyName") or "",
            "version": config["version"],
            "name": config.get("name") or "",
            "description": config.get("description") or "",
            "devices_url": f"{base}devices/",
            "account_url": f"{base}account/",
        }

    def message(self, user: EndUser, connection) -> EmailMultiAlternatives:
        context = {**self.context, "user_name": user.name}
        message = EmailMultiAlternatives(
            self.subject,
            render_to_string("portal/email/firmware_notice.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [user.email],
            connection=connection,
        )
        html = render_to_string("portal/email/firmware_notice.html", context)
        message.attach_alternative(html, "text/html")
        return message

    def send(self, users: list[EndUser]) -> int:
        """E-mail ``users`` (one connection); how many messages the server took. A refusal is
        logged (the user's id, never their address) and the others are still sent."""
        if not users:
            return 0
        sent = 0
        try:
            with get_connection() as connection:
                for user in users:
                    try:
                        sent += connection.send_messages([self.message(user, connection)]) or 0
                    except OSError as exc:  # smtplib's errors are OSErrors
                        logger.warning("firmware notice e-mail to end user %s failed: %s", user.pk, exc)
        except OSError as exc:  # the e-mail server cannot be reached at all
            logger.warning("firmware notice e-mails to %d end users failed: %s", len(users) - sent, exc)
        return sent
