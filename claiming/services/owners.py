"""What owners do with their devices on the portal: set values, start firmware updates. The
device is the caller's already (``claiming.selectors.device_of_end_user``); the rules are the
devices' and firmware's own services."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from claiming.models import EndUser
from claiming.services.claims import PDAAS_RESOURCES, TAG_USERS
from connectors.runtime import connector_rules
from devices.models import Device, DeviceTag
from devices.services import device_state_set
from firmware.models import CONFIG_ALIAS, REPORT_ALIAS, Rollout
from firmware.services import rollout_start

# Resources the platform works through: firmware updates (owners choose a version instead:
# ``owner_firmware_update``) and device-side claiming. Settable by the device maker, not by owners.
PLATFORM_ALIASES = frozenset({CONFIG_ALIAS, REPORT_ALIAS, *PDAAS_RESOURCES})


def owner_state_set(*, device: Device, values: dict) -> None:
    """Cloud values for an owned device: settable resources only, never ``PLATFORM_ALIASES``
    (``PermissionDenied`` otherwise), under the resources' rules (``ValidationError``), waking
    the device's long polls like any cloud set (``devices.services.device_state_set``)."""
    if not isinstance(values, dict) or not values:
        raise ValidationError({"detail": "send an object of {alias: value}"})
    rules = connector_rules(device.connector)
    fixed = sorted(
        alias
        for alias in values
        if alias in PLATFORM_ALIASES or (alias in rules and not rules[alias].settable)
    )
    if fixed:
        raise PermissionDenied(f"These values cannot be set: {', '.join(fixed)}.")
    device_state_set(device=device, values=values, rules=rules)


def owner_firmware_update(*, user: EndUser, message, devices: list[str]) -> Rollout:
    """The seed's ``POST /api/firmware/update``: send ``message`` (a ``config_otau``) to the
    user's own ``devices`` (identities); any other identity is ``Http404`` (nothing started)."""
    identities = list(dict.fromkeys(devices))
    owned = set(
        DeviceTag.objects.filter(
            connector_id=user.connector_id, name=TAG_USERS, value=str(user.pk), identity__in=identities
        ).values_list("identity", flat=True)
    )
    if any(identity not in owned for identity in identities):
        raise Http404("No such device.")
    return rollout_start(connector=user.connector, config_otau=message, devices=identities)
