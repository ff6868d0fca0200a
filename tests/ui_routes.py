"""The web UI's routes as the URL resolver knows them, and a small world that names an object for
each of their path parameters, for tests that must cover every page (tests/web/test_ui_access.py).

The UI is everything the resolver serves outside the API (``/api/...``, ``/api:1/...``, whose
routes are tests/routes.py's) and Django's admin (``/admin/``)."""

import re
from functools import cached_property
from io import BytesIO

from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.services import invitation_create
from claiming.services import end_user_create
from connectors.content.services import content_upload
from connectors.services import connector_update
from devices.services import device_update
from firmware.services import rollout_start
from integrations.services import integration_put
from tests.api_world import FIRMWARE
from tests.integrations.pump_cloud import pump_cloud_spec
from tests.pki.certs import make_leaf
from tests.routes import url_patterns

NOT_UI_PREFIXES = ("api/", "api:", "admin/")
INTEGRATION_HOST = "127.0.0.1:9"  # nothing listens there
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def ui_routes() -> set[str]:
    """Every web UI route, as the resolver spells it (``connectors/<segment:connector_id>/logs/``).

    Function views do not say which methods they take; the access table names them and its
    meta-test asks each route for the others (they must answer ``405``)."""
    return {route for route, _ in url_patterns() if not route.startswith(NOT_UI_PREFIXES)}


class UiWorld:
    """The people of tests/conftest.py (an admin, a developer and a viewer of Acme; Globex's
    admin as the outsider) and a connector of Acme with a settable ``mode`` resource and the
    device ``dev-1`` (tagged, with a pinned certificate); what only some pages name (a content
    item, a rollout, an end user, an invitation, a password reset link) is made on first use, before the
    request under test, through the same services the pages use."""

    def __init__(self, *, users: dict, connector, device):
        self.users = users
        self.connector = connector
        self.device = device
        self.business = connector.business
        device_update(device=device, certificate=make_leaf(device.identity).pem)

    def url(self, route: str) -> str:
        """``route`` (as the resolver spells it) with the world's objects in its path."""
        if "/firmware/" in route:
            self.firmware_enabled  # noqa: B018 - made on first use
        if "/integration/" in route:
            self.integration  # noqa: B018 - made on first use
        values = {
            "connector_id": lambda: self.connector.pk,
            "identity": lambda: self.device.identity,
            "alias": lambda: "mode",
            "content_id": lambda: self.content_id,
            "rollout_id": lambda: self.rollout_id,
            "user_id": lambda: self.end_user_id,
            "key": lambda: self.invitation_key,
            "uidb64": lambda: self.password_reset[0],
            "token": lambda: self.password_reset[1],
            "asset_name": lambda: "brandlogo.png",
        }
        return "/" + _PARAMETER.sub(lambda m: str(values[m.group(1)]()), route)

    @cached_property
    def firmware_enabled(self) -> bool:
        connector_update(connector=self.connector, changes={"firmware_update_enabled": True})
        self.connector.refresh_from_db()
        return True

    @cached_property
    def integration(self):
        """An integration of the connector with the pump cloud's API at a port where nothing
        listens (the world's fixture allows loopback hosts): its calls fail at once."""
        return integration_put(connector=self.connector, data=self.integration_body, user=self.users["admin"])

    @property
    def integration_body(self) -> dict:
        return {
            "spec": pump_cloud_spec(INTEGRATION_HOST),
            "config": {"username": "pump-user", "password": "pump-Secret-123"},
            "sync": {"list_operation": "listAssets", "state_operation": "getAssetState"},
            "maintainer_email": "ops@example.com",
        }

    @cached_property
    def content_id(self) -> str:
        """A content item in the connector's store."""
        data = b"\x7fELF firmware bytes"
        item, _ = content_upload(
            connector=self.connector, content_id="firmware.bin", stream=BytesIO(data), length=len(data)
        )
        return item.content_id

    @cached_property
    def rollout_id(self) -> int:
        """A firmware rollout to the device."""
        self.firmware_enabled  # noqa: B018 - made on first use
        devices = [self.device.identity]
        return rollout_start(connector=self.connector, config_otau=FIRMWARE, devices=devices).pk

    @cached_property
    def end_user_id(self) -> int:
        """An end user of the connector (claiming on)."""
        connector_update(connector=self.connector, changes={"claiming_enabled": True})
        self.connector.refresh_from_db()
        return end_user_create(connector=self.connector, email="end.user@example.com").pk

    @cached_property
    def invitation_key(self) -> str:
        """A pending invitation to Acme for an address that has no account yet."""
        _, key = invitation_create(business=self.business, email="invited@example.com", role="viewer")
        return key

    @cached_property
    def password_reset(self) -> tuple[str, str]:
        """The link of a password reset mail to the admin: ``(uidb64, token)``."""
        user = self.users["admin"]
        return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
