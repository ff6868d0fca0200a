"""Claiming: a claim code claims the connector's unowned devices carrying it, all or nothing;
releasing by an owner; a hard reset; a device's claim codes. The tags of the seed's table
(shared/docs/claiming-and-portal.md, "Tags") are named here once."""

import json
import time

from django.core.exceptions import ValidationError
from django.db import transaction

from claiming import throttle
from claiming.models import (
    EndUser,
)
from core.db import row_lock
from devices.events import EventType, event_emit
from devices.models import Device, DeviceTag

# The tags of the seed's table (shared/docs/claiming-and-portal.md, "Tags").
TAG_CLAIM_CODE = "claim_code"
TAG_EXPIRES = "expires"
TAG_USERS = "users"
TAG_APPS = "apps"
TAG_VALUE_MAX = 255

# The device resources of device-side claiming, and their formats.
RESOURCE_CLAIM_CODE = "pdaas_claim_code"
RESOURCE_USER_EMAIL = "pdaas_user_email"
RESOURCE_RESET = "pdaas_reset"
PDAAS_RESOURCES = {RESOURCE_CLAIM_CODE: "string", RESOURCE_USER_EMAIL: "string", RESOURCE_RESET: "boolean"}


class Refused(Exception):
    """A refusal the portal answers with ``status`` and ``{"detail": message}`` (and
    ``Retry-After`` when ``retry_after`` is set)."""

    def __init__(self, status: int, message: str, *, reason: str = "", retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.reason, self.retry_after = status, message, reason, retry_after


class ClaimRefused(Refused):
    """A claim that did not happen: 404 unknown code, 410 expired, 409 owned by others, 429 too
    many attempts, 403 a blocked end user."""


# --- claiming --------------------------------------------------------------------------------


def default_apps(user: EndUser) -> list[str]:
    """The application ids the user's ``user_data`` marks ``app_<id>: {"default": true}`` (the
    value may also be that object as JSON text, as the seed's User Data stores it)."""
    apps = []
    for key, value in (user.user_data or {}).items():
        if not key.startswith("app_") or len(key) == 4:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, dict) and value.get("default") is True:
            apps.append(key[4:][:TAG_VALUE_MAX])
    return apps


def _expired(expires_values: list[str], now: float) -> bool:
    """A device whose ``expires`` tag (unix seconds) has passed; a value that is not a number
    is ignored (product managers edit tags by hand)."""
    for value in expires_values:
        try:
            if float(value) <= now:
                return True
        except ValueError:
            continue
    return False


def owner_tags(device: Device, user: EndUser, apps: list[str]) -> list[DeviceTag]:
    return [DeviceTag.of(device, TAG_USERS, str(user.pk))] + [DeviceTag.of(device, TAG_APPS, a) for a in apps]


def claim(*, user: EndUser, claim_code: str, ip: str = "") -> list[str]:
    """Claim every device of the user's connector carrying ``claim_code`` that has no owner: the
    user joins its ``users`` tag, and the apps their user data marks ``default`` its ``apps``.
    Returns the identities the user now owns with this code (those they owned already count).

    All or nothing, with the devices' rows locked: of two users claiming at once, one wins.
    Refusals (``ClaimRefused``): 404 no device has the code, 410 every device with it has an
    ``expires`` tag in the past, 409 every one of them has another owner, 429 too many
    attempts (refused claims count: codes are short secrets), 403 a blocked user.
    """
    if not isinstance(claim_code, str) or not claim_code.strip():
        raise ValidationError({"claim_code": "a claim code is required"})
    code = claim_code.strip()[:TAG_VALUE_MAX]
    connector_id = user.connector_id
    wait = throttle.claim_retry_after(user_id=user.pk, ip=ip)
    if wait:
        refusal = ClaimRefused(
            429, "Too many claim attempts; try again later.", reason="throttled", retry_after=wait
        )
        _claim_refused_event(user, code, ip, refusal, identities=[""])
        raise refusal
    try:
        identities = _claim_devices(user, code)
    except ClaimRefused as refusal:
        throttle.claim_attempted(user_id=user.pk, ip=ip, failed=True)
        _claim_refused_event(user, code, ip, refusal, identities=getattr(refusal, "identities", [""]))
        raise
    throttle.claim_attempted(user_id=user.pk, ip=ip, failed=False)
    claimed, already = identities
    payload = {"end_user": user.pk, "email": user.email, "claim_code": code}
    for identity in claimed:
        event_emit(
            connector_id=connector_id,
            type=EventType.CLAIMED,
            identity=identity,
            ip=ip,
            protocol="portal",
            payload=payload,
        )
    return sorted(claimed + already)


@transaction.atomic
def _claim_devices(user: EndUser, code: str) -> tuple[list[str], list[str]]:
    """(identities claimed now, identities the user owned already), or ``ClaimRefused``."""
    user = EndUser.objects.select_for_update().filter(pk=user.pk).first()
    if user is None:
        raise ClaimRefused(401, "This session has ended.", reason="no_user")
    if user.blocked:
        raise ClaimRefused(403, "This account is blocked.", reason="blocked")
    carrying = DeviceTag.objects.filter(connector_id=user.connector_id, name=TAG_CLAIM_CODE, value=code)
    # Locked in one order (by id) so that two claims of overlapping devices cannot deadlock.
    devices = list(
        Device.objects.select_for_update().filter(pk__in=carrying.values("device_id")).order_by("pk")
    )
    # Read after the locks: a claim that committed meanwhile is seen (and the code may be gone).
    tags: dict[int, dict[str, list[str]]] = {d.pk: {} for d in devices}
    rows = DeviceTag.objects.filter(
        device_id__in=list(tags), name__in=[TAG_CLAIM_CODE, TAG_EXPIRES, TAG_USERS]
    )
    for device_id, name, value in rows.values_list("device_id", "name", "value"):
        tags[device_id].setdefault(name, []).append(value)
    devices = [d for d in devices if code in tags[d.pk].get(TAG_CLAIM_CODE, ())]
    if not devices:
        raise ClaimRefused(404, "No device has this claim code.", reason="unknown_code")
    me, now = str(user.pk), time.time()
    mine = [d for d in devices if me in tags[d.pk].get(TAG_USERS, ())]
    live = [d for d in devices if not _expired(tags[d.pk].get(TAG_EXPIRES, []), now)]
    free = [d for d in live if not tags[d.pk].get(TAG_USERS)]
    if not mine and not live:
        refusal = ClaimRefused(410, "This claim code has expired.", reason="expired")
        refusal.identities = [d.identity for d in devices]
        raise refusal
    if not mine and not free:
        refusal = ClaimRefused(409, "The devices with this claim code already have an owner.", reason="owned")
        refusal.identities = [d.identity for d in devices]
        raise refusal
    apps = default_apps(user)
    DeviceTag.objects.bulk_create(
        [tag for device in free for tag in owner_tags(device, user, apps)], ignore_conflicts=True
    )
    return [d.identity for d in free], [d.identity for d in mine]


def _claim_refused_event(user: EndUser, code: str, ip: str, refusal: Refused, *, identities) -> None:
    payload = {
        "end_user": user.pk,
        "email": user.email,
        "claim_code": code,
        "status": refusal.status,
        "reason": refusal.reason,
        "message": refusal.message,
    }
    for identity in identities[:100]:
        event_emit(
            connector_id=user.connector_id,
            type=EventType.CLAIM_REFUSED,
            identity=identity,
            ip=ip,
            protocol="portal",
            payload=payload,
        )


@transaction.atomic
def release(*, user: EndUser, device: Device, ip: str = "") -> None:
    """The owner gives the device up: their id leaves its ``users`` tag. Its ``apps`` and claim
    codes stay (the apps may serve another owner; a hard reset, ``device_reset``, clears them)."""
    row_lock(device, missing="No such device.")
    DeviceTag.objects.filter(device=device, name=TAG_USERS, value=str(user.pk)).delete()
    payload = {"end_user": user.pk, "email": user.email, "by": "owner"}
    transaction.on_commit(
        lambda: event_emit(
            connector_id=device.connector_id,
            type=EventType.RELEASED,
            identity=device.identity,
            ip=ip,
            protocol="portal",
            payload=payload,
        )
    )


@transaction.atomic
def device_reset(*, device: Device, by: str = "device") -> None:
    """A hard reset (``pdaas_reset``): the device loses its owners (``users``) and ``apps``;
    its claim codes stay, so that it can be claimed again."""
    row_lock(device, missing="No such device.")
    removed = DeviceTag.objects.filter(device=device, name__in=[TAG_USERS, TAG_APPS])
    owners = list(removed.filter(name=TAG_USERS).values_list("value", flat=True))
    removed.delete()
    payload = {"owners_removed": owners, "by": by}
    transaction.on_commit(
        lambda: event_emit(
            connector_id=device.connector_id,
            type=EventType.DEVICE_RESET,
            identity=device.identity,
            payload=payload,
        )
    )


@transaction.atomic
def claim_codes_replace(*, device: Device, codes: list[str]) -> None:
    """Replace the device's ``claim_code`` tags with ``codes`` (owners and apps are kept)."""
    row_lock(device, missing="No such device.")
    cleaned = list(dict.fromkeys(c.strip()[:TAG_VALUE_MAX] for c in codes if c and c.strip()))
    DeviceTag.objects.filter(device=device, name=TAG_CLAIM_CODE).delete()
    DeviceTag.objects.bulk_create([DeviceTag.of(device, TAG_CLAIM_CODE, c) for c in cleaned])
