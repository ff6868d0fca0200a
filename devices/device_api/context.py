"""One HTTP device request on its way through the handlers: the request, the connector its host
names, a connection id for Logs, and the credentials it carries (``devices.auth``).

Shared by the dispatcher (``handlers``) and the content rows (``content``), so that neither
imports the other's internals.
"""

import base64
import binascii
from dataclasses import dataclass

from devices.auth import DeviceCredentials
from devices.device_api.protocol import DeviceRequest


@dataclass
class Context:
    """A device request, the connector its host names, and the id correlating its events."""

    request: DeviceRequest
    connector_id: str
    connection_id: str

    @property
    def ip(self) -> str:
        return self.request.client_ip

    @property
    def insecure(self) -> bool:
        return self.request.scheme != "https"

    def credentials(self) -> DeviceCredentials:
        """The request's credentials, as HTTP carries them: ``X-Exosite-CIK``, an
        ``Authorization: Basic`` header, or the client certificate a trusted proxy forwarded."""
        request = self.request
        basic, unreadable = None, ""
        authorization = request.header("authorization")
        if authorization and authorization[:6].lower() == "basic ":
            basic = _basic_credentials(authorization[6:])
            unreadable = "malformed_authorization" if basic is None else ""
        return DeviceCredentials(
            connector_id=self.connector_id, ip=self.ip, token=request.header("x-exosite-cik"),
            basic=basic, client_certificate=request.client_certificate, unreadable=unreadable,
            insecure=self.insecure, connection_id=self.connection_id,
        )  # fmt: skip


def _basic_credentials(encoded: str) -> str | None:
    """The ``<identity>:<password>`` of a Basic ``Authorization`` header, or None.

    Tolerated: base64 without its ``=`` padding (some device HTTP stacks drop it; the text it
    encodes is the same)."""
    encoded = encoded.strip()
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if ":" in decoded else None
