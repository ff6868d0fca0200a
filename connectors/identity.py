"""The connector's identity format: which device identities it accepts."""

import re
from dataclasses import dataclass

from django.db import models

IDENTITY_MAX_LENGTH = 128
# Identities travel in URLs and form bodies; opaque ones are limited to URL-safe characters.
_OPAQUE = re.compile(r"^[A-Za-z0-9._~:@+\-]+$")
_PATTERNS = {
    "base10": re.compile(r"^[0-9]+$"),
    "base16": re.compile(r"^[0-9A-Fa-f]+$"),
    "mac:colon": re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"),
    "mac:dash": re.compile(r"^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}$"),
    "mac:none": re.compile(r"^[0-9A-Fa-f]{12}$"),
    "uuid:v4": re.compile(
        r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-4[0-9A-Fa-f]{3}-[89ABab][0-9A-Fa-f]{3}-[0-9A-Fa-f]{12}$"
    ),
}


class IdentityType(models.TextChoices):
    OPAQUE = "opaque", "Opaque"
    BASE10 = "base10", "Base 10"
    BASE16 = "base16", "Base 16"
    MAC_COLON = "mac:colon", "MAC (00:11:22:33:44:55)"
    MAC_DASH = "mac:dash", "MAC (00-11-22-33-44-55)"
    MAC_NONE = "mac:none", "MAC (001122334455)"
    UUID_V4 = "uuid:v4", "UUID v4"


class IdentityCasing(models.TextChoices):
    MIXED = "mixed", "Mixed"
    LOWER = "lower", "Lower"
    UPPER = "upper", "Upper"


@dataclass(frozen=True)
class IdentityFormat:
    """A connector's identity rules; ``check`` says why an identity does not fit, or None."""

    prefix: str = ""
    type: str = IdentityType.OPAQUE
    length: int | None = None
    casing: str = IdentityCasing.MIXED

    def check(self, identity: str) -> str | None:
        if not identity:
            return "identity is empty"
        if len(identity) > IDENTITY_MAX_LENGTH:
            return f"identity is longer than {IDENTITY_MAX_LENGTH} characters"
        if not _OPAQUE.match(identity):
            return "identity contains characters that are not allowed"
        if not identity.startswith(self.prefix):
            return f"identity does not start with the prefix {self.prefix!r}"
        rest = identity[len(self.prefix) :]
        if not rest:
            return "identity has nothing after the prefix"
        pattern = _PATTERNS.get(self.type)
        if pattern is not None and not pattern.match(rest):
            return f"identity is not of type {self.type}"
        if self.length is not None and len(rest) != self.length:
            return f"identity must have {self.length} characters after the prefix"
        if self.casing == IdentityCasing.LOWER and rest != rest.lower():
            return "identity must be lower case"
        if self.casing == IdentityCasing.UPPER and rest != rest.upper():
            return "identity must be upper case"
        return None
