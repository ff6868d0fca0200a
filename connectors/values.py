"""Rules for resource values: formats, allowed values and ranges, size.

Shared by the device API (device writes and records), the management API (cloud sets) and the
resource definitions themselves, so every path applies the same rules.
"""

import math
import re
from dataclasses import dataclass, field

MAX_VALUE_BYTES = 65_536
_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$")
_BOOLEANS = {"true", "false", "1", "0"}
NUMERIC_FORMATS = {"number", "integer", "float"}
FORMATS = ("number", "integer", "float", "string", "boolean")


def format_with_article(fmt: str) -> str:
    """The format with its article, for messages: "an integer", "a number", "a float"."""
    return f"an {fmt}" if fmt[:1] in "aeiou" else f"a {fmt}"


def _is_number(fmt: str, value: str) -> bool:
    if fmt == "integer":
        return bool(_INTEGER.match(value))
    # "1e999" is written like a number but is none: as a float it is infinity.
    return bool(_FLOAT.match(value)) and math.isfinite(float(value))


@dataclass(frozen=True)
class ResourceRules:
    """What a resource accepts. Built once per resource definition and cached by the device API."""

    alias: str
    format: str
    settable: bool = False
    sync: bool = True
    initial: str | None = None
    discrete: frozenset = field(default_factory=frozenset)
    ranges: tuple = ()

    @classmethod
    def of(cls, resource) -> "ResourceRules":
        """The rules of a resource (a ``connectors.models.Resource``, saved or not)."""
        discrete, ranges = parse_allowed(resource.format, resource.allowed)
        return cls(
            alias=resource.alias,
            format=resource.format,
            settable=resource.settable,
            sync=resource.sync,
            initial=resource.initial,
            discrete=discrete,
            ranges=ranges,
        )

    @property
    def pushes_cloud_values(self) -> bool:
        """Cloud sets wait as ``set`` for the device to acknowledge them."""
        return self.settable and self.sync

    def check(self, value: str) -> str | None:
        """Why ``value`` is not acceptable for this resource, or None."""
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            return f"{self.alias}: value is larger than {MAX_VALUE_BYTES} bytes"
        if "\x00" in value:
            # Not text, and PostgreSQL cannot store it in a text column.
            return f"{self.alias}: value contains a NUL character"
        fmt = self.format
        if fmt in NUMERIC_FORMATS:
            if not _is_number(fmt, value):
                if _FLOAT.match(value) and fmt != "integer":
                    return f"{self.alias}: {value[:40]!r} is not a finite {fmt} (too large)"
                return f"{self.alias}: {value[:40]!r} is not a valid {fmt}"
            if self.discrete or self.ranges:
                number = float(value)
                if number in self.discrete:
                    return None
                if any(low <= number <= high for low, high in self.ranges):
                    return None
                return f"{self.alias}: {value[:40]!r} is not an allowed value"
            return None
        if fmt == "boolean" and value.lower() not in _BOOLEANS:
            return f"{self.alias}: {value[:40]!r} is not a boolean (true/false/1/0)"
        if self.discrete and value not in self.discrete:
            return f"{self.alias}: {value[:40]!r} is not an allowed value"
        return None


def parse_allowed(fmt: str, allowed) -> tuple[frozenset, tuple]:
    """Split ``allowed`` into discrete values and numeric ranges; ValueError names a bad entry."""
    if allowed in (None, ""):
        return frozenset(), ()
    if not isinstance(allowed, list):
        raise ValueError('must be a list of values or ranges like "0-100"')
    discrete, ranges = set(), []
    for entry in allowed:
        if isinstance(entry, bool) or not isinstance(entry, (str, int, float)):
            raise ValueError(f"{entry!r} is not a value or a range")
        text = str(entry).strip()
        if fmt in NUMERIC_FORMATS:
            match = _RANGE.match(text) if isinstance(entry, str) else None
            if match:
                low, high = float(match.group(1)), float(match.group(2))
                if not (math.isfinite(low) and math.isfinite(high)):
                    raise ValueError(f"range {text[:40]!r} has a bound too large to be a number")
                if low > high:
                    raise ValueError(f"range {text!r} has its bounds the wrong way round")
                ranges.append((low, high))
            elif _is_number(fmt, text):
                discrete.add(float(text))
            else:
                raise ValueError(f'{text!r} is neither {format_with_article(fmt)} nor a range like "0-100"')
        elif fmt == "boolean":
            if text.lower() not in _BOOLEANS:
                raise ValueError(f"{text!r} is not a boolean")
            discrete.add(text)
        else:
            discrete.add(text)
    return frozenset(discrete), tuple(ranges)


def cloud_value_to_text(value) -> str:
    """A value sent as JSON by the management API, in the text form devices read."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        # JSON's 1e999 parses as infinity: no resource format holds it.
        raise ValueError("must be a finite number")
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise ValueError("must be a string, a number or a boolean")
