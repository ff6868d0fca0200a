"""Every change to end users, their sessions and device ownership goes through these functions.

The portal's JSON API and pages, the management API and the End Users tab, the admin and the
device API's ``pdaas_*`` writes all call them, so each rule of the seed's EveryCloud lives here
once. Ownership is kept in device tags (``claiming.models``): ``claim_code`` (the codes that
claim a device; one code may cover many devices), ``expires`` (unix seconds after which a claim
is refused), ``users`` (owner end-user ids) and ``apps`` (application ids the device's data goes
to). Product managers may edit those tags by hand as any tag; these rules read them as they are.

Claim refusals and portal log-in refusals are exceptions carrying the HTTP status the portal
answers (``ClaimRefused``, ``SessionRefused``); input errors are ``ValidationError`` with field
names, a conflict with what exists has the code ``"conflict"`` (409), as elsewhere.
"""

from claiming.services.claims import (
    PDAAS_RESOURCES,
    RESOURCE_CLAIM_CODE,
    RESOURCE_RESET,
    RESOURCE_USER_EMAIL,
    TAG_APPS,
    TAG_CLAIM_CODE,
    TAG_EXPIRES,
    TAG_USERS,
    ClaimRefused,
    Refused,
    claim,
    claim_codes_replace,
    default_apps,
    device_reset,
    release,
)
from claiming.services.device_side import (
    claim_code_written,
    claiming_settings_changed,
    default_claim_codes,
    pdaas_resources_ensure,
    reset_written,
    user_email_written,
    welcome_email,
)
from claiming.services.owners import PLATFORM_ALIASES, owner_firmware_update, owner_state_set
from claiming.services.sessions import (
    SessionRefused,
    session_create,
    session_end,
    session_start,
    session_user,
    sessions_end_all,
)
from claiming.services.users import (
    end_user_create,
    end_user_delete,
    end_user_password_set,
    end_user_update,
    link_create,
    link_use,
)

__all__ = [
    "PDAAS_RESOURCES",
    "PLATFORM_ALIASES",
    "RESOURCE_CLAIM_CODE",
    "RESOURCE_RESET",
    "RESOURCE_USER_EMAIL",
    "TAG_APPS",
    "TAG_CLAIM_CODE",
    "TAG_EXPIRES",
    "TAG_USERS",
    "ClaimRefused",
    "Refused",
    "SessionRefused",
    "claim",
    "claim_code_written",
    "claim_codes_replace",
    "claiming_settings_changed",
    "default_apps",
    "default_claim_codes",
    "device_reset",
    "end_user_create",
    "end_user_delete",
    "end_user_password_set",
    "end_user_update",
    "link_create",
    "link_use",
    "owner_firmware_update",
    "owner_state_set",
    "pdaas_resources_ensure",
    "release",
    "reset_written",
    "session_create",
    "session_end",
    "session_start",
    "session_user",
    "sessions_end_all",
    "user_email_written",
    "welcome_email",
]
