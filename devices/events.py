"""Device events: every device interaction, streamed live to the Logs page and CLI.

An event is ``{"type", "identity", "ip", "protocol", "timestamp" (µs), "connection_id",
"payload"}``. It goes to the connector's recent-events buffer and to the channel-layer group
``connector_logs_group(connector_id)``. A change of a device's readable values also goes to
``device_wake_group(device_id)``, which long polls in any server process listen to.
"""

import time
from enum import StrEnum

from core import realtime


class EventType(StrEnum):
    PROVISIONED = "provisioned"
    PROVISION_DENIED = "provision_denied"
    DATA_IN = "data_in"
    WRITE_REJECTED = "write_rejected"
    RECORD = "record"
    READ = "read"
    AUTH_FAILED = "auth_failed"
    LOCKED_DENIED = "locked_denied"
    CONTENT_DOWNLOAD = "content_download"
    CONTENT_UPLOAD = "content_upload"  # (ours) a device's POST /provision/upload
    DELETED = "deleted"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    # Claiming (claiming.services): who did what is in the payload (end user id and e-mail).
    CLAIMED = "claimed"
    CLAIM_REFUSED = "claim_refused"
    RELEASED = "released"
    DEVICE_RESET = "device_reset"
    OWNER_SET = "owner_set"
    OWNER_REFUSED = "owner_refused"
    CLAIM_CODE_SET = "claim_code_set"


def now_us() -> int:
    return time.time_ns() // 1000


def connector_logs_group(connector_id: str) -> str:
    return f"connector_logs.{connector_id}"


def device_wake_group(device_id: int) -> str:
    return f"device_wake.{device_id}"


def event_emit(
    *,
    connector_id: str,
    type: EventType,
    identity: str = "",
    ip: str = "",
    protocol: str = "http",
    connection_id: str = "",
    payload=None,
    wake_device_id: int | None = None,
) -> dict:
    """Record and publish one event; optionally wake the long polls of a device."""
    event = {
        "type": str(type),
        "identity": identity,
        "ip": ip or "",
        "protocol": protocol,
        "timestamp": now_us(),
        "connection_id": connection_id,
        "payload": payload,
    }
    groups = {connector_logs_group(connector_id): {"type": "device.event", "event": event}}
    if wake_device_id is not None:
        groups[device_wake_group(wake_device_id)] = {"type": "device.wake", "device": wake_device_id}
    realtime.push(groups=groups, buffer=(connector_id, event))
    return event


def device_set_group(device_id: int) -> str:
    return f"device_set.{device_id}"


def device_sets_announce(device_id: int, aliases: list[str]) -> None:
    """Cloud values were set for ``device_id``: its long polls wake (its ``device_wake`` group,
    as ``event_emit`` wakes them for device writes), and the MQTT process holding its connection
    (``devices.mqtt``) sends it the values of ``aliases``, told on a ``device_set`` group of its
    own, so that the device's own writes (which wake long polls) cost MQTT processes nothing."""
    realtime.push(
        groups={
            device_wake_group(device_id): {"type": "device.wake", "device": device_id},
            device_set_group(device_id): {"type": "device.set", "device": device_id, "aliases": aliases},
        }
    )


def events_recent(connector_id: str, limit: int | None = None) -> list[dict]:
    return realtime.recent(connector_id, limit)


# Operator tickets: ``manage.py logs`` runs with the server's settings (and SECRET_KEY) but no
# browser session; it signs a short-lived ticket for one connector's stream instead.
_TICKET_SALT = "murano.devices.logs-ticket"
LOGS_TICKET_MAX_AGE = 60


def logs_ticket_issue(connector_id: str) -> str:
    """A signed ticket that opens ``connector_id``'s live Logs for the next minute."""
    from django.core import signing

    return signing.dumps({"connector": connector_id}, salt=_TICKET_SALT, compress=True)


def logs_ticket_connector(ticket: str) -> str | None:
    """The connector a valid, unexpired ticket names; None for anything else."""
    from django.core import signing

    try:
        data = signing.loads(ticket, salt=_TICKET_SALT, max_age=LOGS_TICKET_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    connector_id = data.get("connector") if isinstance(data, dict) else None
    return connector_id if isinstance(connector_id, str) else None
