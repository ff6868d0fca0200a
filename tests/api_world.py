"""A small, complete world for tests that walk every API route (access control, Schemathesis):
a business with a member of each role, a connector with a resource and a device, another
business, and on demand the things some routes name (a job, a content item, a rollout)."""

import io
import re
from functools import cached_property

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import api_token_create, invitation_create
from tests.conftest import basic_auth
from tests.factories import make_connector, make_device, make_member, make_resource
from tests.integrations.pump_cloud import SPEC_HOST, pump_cloud_spec

# A config_otau message for firmware rollouts.
FIRMWARE = {"version": "2.0", "name": "fw", "type": "URL_LIST", "payload": ["https://example.com/fw-2.0.bin"]}
# Path parameters as the resolver (<segment:connector_id>) or OpenAPI ({connector_id}) spells them.
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\{(\w+)\}")


def file_upload(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"\x7fELF firmware bytes", content_type="application/octet-stream")


def png_image() -> bytes:
    """A small PNG image (a portal image upload)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def csv_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("identities.csv", b"ID,Tags\nimported-1,\n", content_type="text/csv")


class World:
    """Acme with an admin, a developer and a viewer (and a teammate whose membership the member
    routes change), a connector with a settable ``setpoint`` resource and the device
    ``device-1``; Globex, whose admin is the outsider; a personal API token for each person;
    a pending invitation. ``third_party``: the pump cloud (tests/integrations/pump_cloud.py,
    trusted and allowed by the caller's settings) that the connector's integration, made when a
    route needs it, calls; without one its spec names a host that does not resolve."""

    def __init__(self, third_party=None):
        self.third_party = third_party
        self.users = {
            "admin": make_member(business_name="Acme", role="admin").user,
            "developer": make_member(business_name="Acme", role="developer").user,
            "viewer": make_member(business_name="Acme", role="viewer").user,
            "outsider": make_member(business_name="Globex", role="admin").user,
        }
        self.business = self.users["admin"].businesses.get()
        self.teammate = make_member(business_name="Acme", role="viewer")
        self.connector = make_connector(business=self.business, devmode=True)
        make_resource(connector=self.connector, alias="setpoint", format="number", settable=True)
        self.device = make_device(connector=self.connector, identity="device-1")
        self.tokens = {role: api_token_create(user=user, name=role)[0] for role, user in self.users.items()}
        _, self.invitation = invitation_create(
            business=self.business, email="invited@example.com", role="viewer"
        )

    def path_values(self, route: str, role: str = "admin") -> dict:
        """Values naming the world's objects for the path parameters of ``route``; what only some
        routes need is made on first use, before the request under test."""
        names = {a or b for a, b in _PARAMETER.findall(route)}
        if "/firmware/" in route:
            self.enable_firmware()
        if "/claim" in route or "/end-users/" in route:
            self.enable_claiming()
        if "/integration/" in route:
            self.enable_integration()
        known = {
            "connector_id": lambda: self.connector.pk,
            "alias": lambda: "setpoint",
            "identity": lambda: self.device.identity,
            "business_id": lambda: self.business.pk,
            "member_id": lambda: self.teammate.pk,
            "token_id": lambda: self.tokens.get(role, self.tokens["admin"]).pk,
            "job_id": lambda: self.job_id,
            "content_id": lambda: self.content_id,
            "rollout_id": lambda: self.rollout_id,
            "user_id": lambda: self.end_user_id,
            "asset_name": lambda: "brandlogo.png",
            "operation_id": lambda: "getHealth",
        }
        return {name: known[name]() for name in names}

    def url(self, route: str, role: str = "admin", overrides: dict | None = None) -> str:
        """``route`` (as the resolver spells it) with the world's objects in its path."""
        values = {**self.path_values(route, role), **(overrides or {})}
        return "/" + _PARAMETER.sub(lambda m: str(values[m.group(1) or m.group(2)]), route)

    def client(self, role: str) -> APIClient:
        """A client logged in with HTTP Basic as ``role`` (``anonymous``: not logged in)."""
        client = APIClient()
        if role != "anonymous":
            client.credentials(**basic_auth(self.users[role]))
        return client

    def _admin_call(self, method: str, path: str, data, expected: int, **kwargs) -> dict:
        url = f"/api/v1/connectors/{self.connector.pk}/{path}"
        response = getattr(self.client("admin"), method)(url, data, **kwargs)
        assert response.status_code == expected, response.content
        return response.json()

    @cached_property
    def job_id(self) -> str:
        """A device import job, started through the API as the admin does."""
        return self._admin_call("post", "devices/import/", {"file": csv_upload()}, 202, format="multipart")[
            "id"
        ]

    @cached_property
    def content_id(self) -> str:
        """A content item, uploaded through the API as the admin does."""
        data = {"file": file_upload("firmware.bin")}
        return self._admin_call("post", "content/", data, 201, format="multipart")["id"]

    @cached_property
    def firmware_enabled(self) -> bool:
        self._admin_call("patch", "", {"firmware": {"enabled": True}}, 200, format="json")
        return True

    def enable_firmware(self) -> None:
        """Firmware updates on for the connector, as its admin turns them on (once)."""
        assert self.firmware_enabled

    @cached_property
    def claiming_enabled(self) -> bool:
        self._admin_call("patch", "", {"claiming": {"enabled": True}}, 200, format="json")
        # The device predates claiming: its default claim code (its identity), as its admin sets it.
        tags = {"tags": [{"name": "claim_code", "value": self.device.identity}]}
        self._admin_call("patch", f"devices/{self.device.identity}/", tags, 200, format="json")
        return True

    def enable_claiming(self) -> None:
        """Claiming on for the connector, as its admin turns it on (once); the device has a claim code."""
        assert self.claiming_enabled

    @cached_property
    def end_user_id(self) -> int:
        """An end user of the connector, created through the API as the admin does."""
        self.enable_claiming()
        user = self._admin_call("post", "end-users/", {"email": "end.user@example.com"}, 201, format="json")
        return user["id"]

    @cached_property
    def rollout_id(self) -> int:
        """A firmware rollout to the device, started through the API as the admin does."""
        self.enable_firmware()
        data = {"message": FIRMWARE, "devices": [self.device.identity]}
        return self._admin_call("post", "firmware/update/", data, 201, format="json")["id"]

    @property
    def integration_body(self) -> dict:
        """A PUT of the connector's integration with the pump cloud (docs/integrations.md)."""
        cloud = self.third_party
        return {
            "spec": pump_cloud_spec(cloud.host if cloud else SPEC_HOST),
            "config": {"username": "pump-user", "password": "pump-Secret-123"},
            "sync": {
                "list_operation": "listAssets",
                "state_operation": "getAssetState",
                "interval_seconds": 60,
            },
            "maintainer_email": "ops@example.com",
        }

    @cached_property
    def integration_enabled(self) -> bool:
        self._admin_call("put", "integration/", self.integration_body, 200, format="json")
        return True

    def enable_integration(self) -> None:
        """The connector integrated with the pump cloud, as its admin does it (once)."""
        assert self.integration_enabled
