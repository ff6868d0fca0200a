"""What claiming does when devices are added, when a connector turns claiming on, and when a
device writes a ``pdaas_*`` resource (device-side claiming). Connected in
``ClaimingConfig.ready()`` to ``devices.hooks`` and ``connectors.hooks``."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from claiming.emails import welcome_email_send
from claiming.models import (
    EndUser,
    LinkPurpose,
)
from claiming.services.claims import (
    PDAAS_RESOURCES,
    TAG_CLAIM_CODE,
    TAG_USERS,
    TAG_VALUE_MAX,
    claim_codes_replace,
    default_apps,
    device_reset,
    owner_tags,
)
from claiming.services.users import email_clean, end_user_create, link_create
from connectors.models import Connector, Resource
from connectors.services import resource_create
from core.db import row_lock
from core.tasks import task_send_on_commit
from devices.events import EventType, event_emit
from devices.models import Device, DeviceTag

logger = logging.getLogger(__name__)

# --- hooks: devices added, settings changed, device-side claiming ----------------------------


def default_claim_codes(*, connector: Connector, devices: list[Device]) -> None:
    """Devices were added (``devices.hooks.devices_added``): on a claiming connector, each one
    without a ``claim_code`` tag gets one equal to its identity (the seed's default)."""
    if not connector.claiming_enabled or not devices:
        return
    ids = [d.pk for d in devices]
    coded = set(
        DeviceTag.objects.filter(device_id__in=ids, name=TAG_CLAIM_CODE).values_list("device_id", flat=True)
    )
    DeviceTag.objects.bulk_create(
        [DeviceTag.of(d, TAG_CLAIM_CODE, d.identity[:TAG_VALUE_MAX]) for d in devices if d.pk not in coded],
        ignore_conflicts=True,
    )


def pdaas_resources_ensure(*, connector: Connector) -> None:
    """Define ``pdaas_claim_code``, ``pdaas_user_email`` (strings) and ``pdaas_reset`` (boolean)
    on the connector, where absent (existing definitions are the product manager's)."""
    existing = set(
        Resource.objects.filter(connector=connector, alias__in=list(PDAAS_RESOURCES)).values_list(
            "alias", flat=True
        )
    )
    for alias, fmt in PDAAS_RESOURCES.items():
        if alias not in existing:
            resource_create(connector=connector, alias=alias, format=fmt)


def claiming_settings_changed(*, connector: Connector, fields: set[str], created: bool) -> None:
    """A connector's settings were saved (``connectors.hooks.settings_changed``): turning
    claiming on defines the device-side claiming resources. Turning it off keeps everything."""
    if "claiming_enabled" in fields and connector.claiming_enabled:
        pdaas_resources_ensure(connector=connector)


def _claiming_connector(device: Device) -> Connector | None:
    # The device API's device carries a partial connector: read the one flag (and what the
    # welcome e-mail needs) only when a pdaas_* value was written.
    return Connector.objects.filter(pk=device.connector_id, claiming_enabled=True).first()


def claim_code_written(*, device: Device, value: str) -> None:
    """``pdaas_claim_code`` written by the device: its claim codes become this one."""
    code = (value or "").strip()
    if not code or _claiming_connector(device) is None:
        return
    claim_codes_replace(device=device, codes=[code])
    event_emit(
        connector_id=device.connector_id,
        type=EventType.CLAIM_CODE_SET,
        identity=device.identity,
        payload={"claim_code": code[:TAG_VALUE_MAX], "by": "device"},
    )


def reset_written(*, device: Device, value: str) -> None:
    """``pdaas_reset`` written by the device: ``true`` (or ``1``) is a hard reset."""
    if (value or "").strip().lower() not in ("true", "1") or _claiming_connector(device) is None:
        return
    device_reset(device=device, by="device")


def user_email_written(*, device: Device, value: str) -> None:
    """``pdaas_user_email`` written by the device (an input-enabled device asked its user):
    when the device has no owner, the end user with that address (created, unverified, when
    there is none) becomes its owner and gets the welcome e-mail with a one-time link to choose
    a password. When it has an owner nothing changes, and the ``owner_refused`` event says why.
    """
    connector = _claiming_connector(device)
    if connector is None or not (value or "").strip():
        return

    def refused(reason: str, email: str = "") -> None:
        event_emit(
            connector_id=device.connector_id,
            type=EventType.OWNER_REFUSED,
            identity=device.identity,
            payload={"email": email or value.strip()[:254], "reason": reason, "by": "device"},
        )

    try:
        email = email_clean(value)
    except ValidationError:
        return refused("not a valid e-mail address")
    with transaction.atomic():
        row_lock(device, missing="No such device.")
        if DeviceTag.objects.filter(device=device, name=TAG_USERS).exists():
            transaction.on_commit(lambda: refused("the device already has an owner", email))
            return None
        user = EndUser.objects.filter(connector=connector, email__iexact=email).first()
        created = user is None
        if created:
            user = end_user_create(connector=connector, email=email)
        elif user.blocked:
            transaction.on_commit(lambda: refused("this end user is blocked", email))
            return None
        DeviceTag.objects.bulk_create(owner_tags(device, user, default_apps(user)), ignore_conflicts=True)
        payload = {"end_user": user.pk, "email": user.email, "created": created, "by": "device"}
        transaction.on_commit(
            lambda: event_emit(
                connector_id=device.connector_id,
                type=EventType.OWNER_SET,
                identity=device.identity,
                payload=payload,
            )
        )
        # On a worker: an e-mail server never holds up the device's request, and the link's key
        # is made there, so it never travels through the broker.
        task_send_on_commit("claiming.welcome_email", user.pk, later="no welcome e-mail is sent")
    return None


def welcome_email(*, user_id: int, next_path: str = "") -> None:
    """Send the end user the welcome e-mail with a fresh one-time link (``verify``: confirm the
    address and choose a password; then go to ``next_path`` of the portal). A user deleted
    meanwhile gets nothing."""
    user = EndUser.objects.select_related("connector").filter(pk=user_id).first()
    if user is None or user.blocked:
        return
    welcome_email_send(
        user=user, link_key=link_create(user=user, purpose=LinkPurpose.VERIFY), next_path=next_path
    )
