"""The connector's identity format: which device identities it accepts."""

import re
from dataclasses import dataclass
from typing import NamedTuple

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


class IdentityProblem(NamedTuple):
    """Why an identity does not fit a format: ``reason``, a stable code (``empty``,
    ``too_long``, ``characters``, ``prefix``, ``nothing_after_prefix``, ``type``, ``length``,
    ``casing``) for code to compare, and ``message``, the sentence people read."""

    reason: str
    message: str


@dataclass(frozen=True)
class IdentityFormat:
    """A connector's identity rules; ``check`` says why an identity does not fit, or None."""

    prefix: str = ""
    type: str = IdentityType.OPAQUE
    length: int | None = None
    casing: str = IdentityCasing.MIXED

    def check(self, identity: str) -> str | None:
        """Why ``identity`` does not fit, as a sentence; None when it fits."""
        problem = self.problem(identity)
        return problem.message if problem else None

    def problem(self, identity: str) -> "IdentityProblem | None":
        """Why ``identity`` does not fit (a reason code and a sentence), or None."""
        if not identity:
            return IdentityProblem("empty", "identity is empty")
        if len(identity) > IDENTITY_MAX_LENGTH:
            return IdentityProblem("too_long", f"identity is longer than {IDENTITY_MAX_LENGTH} characters")
        if not _OPAQUE.match(identity):
            return IdentityProblem("characters", "identity contains characters that are not allowed")
        if not identity.startswith(self.prefix):
            return IdentityProblem("prefix", f"identity does not start with the prefix {self.prefix!r}")
        rest = identity[len(self.prefix) :]
        if not rest:
            return IdentityProblem("nothing_after_prefix", "identity has nothing after the prefix")
        pattern = _PATTERNS.get(self.type)
        if pattern is not None and not pattern.match(rest):
            return IdentityProblem("type", f"identity is not of type {self.type}")
        if self.length is not None and len(rest) != self.length:
            return IdentityProblem("length", f"identity must have {self.length} characters after the prefix")
        if self.casing == IdentityCasing.LOWER and rest != rest.lower():
            return IdentityProblem("casing", "identity must be lower case")
        if self.casing == IdentityCasing.UPPER and rest != rest.upper():
            return IdentityProblem("casing", "identity must be upper case")
        return None

    def regex(self) -> str:
        """``check`` as one regular expression that Python's ``re`` and PostgreSQL's ``~`` read
        alike (bracket expressions, ``{n}``, groups, no class shorthands), so that the database
        can count the identities that fit without reading them out. For identities of at most
        ``IDENTITY_MAX_LENGTH`` characters (every stored one)."""

        def chars(upper: str, lower: str, other: str = "") -> str:
            letters = {IdentityCasing.LOWER: lower, IdentityCasing.UPPER: upper}.get(
                self.casing, upper + lower
            )
            return f"[{letters}{other}]"

        hexdigit = chars("A-F", "a-f", "0-9")
        rest = {
            IdentityType.BASE10: "[0-9]",
            IdentityType.BASE16: hexdigit,
            IdentityType.MAC_COLON: f"{hexdigit}{{2}}(:{hexdigit}{{2}}){{5}}",
            IdentityType.MAC_DASH: f"{hexdigit}{{2}}(-{hexdigit}{{2}}){{5}}",
            IdentityType.MAC_NONE: f"{hexdigit}{{12}}",
            IdentityType.UUID_V4: (
                f"{hexdigit}{{8}}-{hexdigit}{{4}}-4{hexdigit}{{3}}-{chars('AB', 'ab', '89')}{hexdigit}{{3}}"
                f"-{hexdigit}{{12}}"
            ),
        }.get(self.type, chars("A-Z", "a-z", "0-9._~:@+-"))
        if self.type in (IdentityType.OPAQUE, IdentityType.BASE10, IdentityType.BASE16):
            rest += f"{{{self.length}}}" if self.length is not None else "+"
        # MAC and UUID types have no length of their own (the connector's settings drop it).
        # The prefix's characters are opaque-identity characters: letters, digits, ._~:@+-
        prefix = "".join(c if c.isalnum() else "\\" + c for c in self.prefix)
        return f"^{prefix}{rest}$"
