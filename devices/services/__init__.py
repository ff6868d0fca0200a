"""Every change to devices, their credentials, tags and state goes through these functions.

The device API, the management API, the Device2 routes, the admin and the CLI all call them, so
each rule (activation, value validation, set/reported, revocation) lives here once. One module
per concern; every public name is importable from ``devices.services``:

- ``whitelist``: identities, whitelisting, pinned certificates, lock, tags, revocation, deletion;
- ``provisioning``: activation, first-request certificate provisioning, the rules "may activate
  now" and "may talk now", where and when a device was last seen;
- ``values``: device writes and records, cloud sets;
- ``bulk``: one change to many devices (the Devices tab's bulk actions), in the request or as a job.
"""

from devices.services.bulk import (
    BULK_ACTIONS,
    BULK_IN_REQUEST_LIMIT,
    BulkAction,
    device_ids_of,
    devices_bulk_apply,
    devices_bulk_start,
)
from devices.services.provisioning import (
    ALREADY_PROVISIONED,
    EXPIRED,
    INSECURE_TRANSPORT,
    INSECURE_TRANSPORT_MESSAGE,
    LOCKED,
    Refusal,
    activatable_sql,
    activation_refusal,
    certificate_refused,
    device_activate,
    device_certificate_provision,
    device_seen,
    talk_refusal,
    transport_allowed,
)
from devices.services.values import device_record, device_state_set, device_write
from devices.services.whitelist import (
    CSR,
    MAX_TIMESTAMP_US,
    activation_deadline,
    certificate_change_refusal,
    certificate_error,
    device_delete,
    device_revoke,
    device_states_initialise,
    device_tags_replace,
    device_update,
    device_whitelist,
    devices_add_external,
    devices_lock,
    devices_tag_set,
    identity_generate,
    tags_clean,
)

__all__ = [
    "BULK_ACTIONS",
    "BULK_IN_REQUEST_LIMIT",
    "BulkAction",
    "device_ids_of",
    "devices_bulk_apply",
    "devices_bulk_start",
    "ALREADY_PROVISIONED",
    "CSR",
    "EXPIRED",
    "INSECURE_TRANSPORT",
    "INSECURE_TRANSPORT_MESSAGE",
    "LOCKED",
    "MAX_TIMESTAMP_US",
    "Refusal",
    "activatable_sql",
    "activation_deadline",
    "activation_refusal",
    "certificate_change_refusal",
    "certificate_error",
    "certificate_refused",
    "device_activate",
    "device_certificate_provision",
    "device_delete",
    "device_record",
    "device_revoke",
    "device_seen",
    "device_state_set",
    "device_states_initialise",
    "device_tags_replace",
    "device_update",
    "device_whitelist",
    "device_write",
    "devices_add_external",
    "devices_lock",
    "devices_tag_set",
    "identity_generate",
    "tags_clean",
    "talk_refusal",
    "transport_allowed",
]
