"""Web UI forms for devices: whitelisting one, the device list's filters, tags and cloud values.

As with connectors, forms only parse what people type; ``devices.services`` applies the rules
and its field errors come back next to the fields.
"""

from datetime import UTC

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors.forms import UiForm

TAG_LINE_HELP = "One tag per line as name=value (a name alone gives an empty value)."


def parse_tag_lines(text: str) -> list[dict]:
    """``name=value`` lines into the services' ``[{"name", "value"}]``; blank lines are skipped."""
    tags = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, _, value = line.partition("=")
        if not name.strip():
            raise ValidationError(f"Line {number}: a tag needs a name before the “=”.")
        tags.append({"name": name.strip(), "value": value.strip()})
    return tags


class DeviceWhitelistForm(UiForm):
    """ "+ New device(s)" → one device: identity, activation deadline, tags, known credentials."""

    identity = forms.CharField(
        max_length=128,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}),
    )
    expire = forms.DateTimeField(
        required=False,
        label="Activation deadline (UTC)",
        help_text="Empty: the connector's activation window from now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    tags = forms.CharField(
        required=False,
        help_text=TAG_LINE_HELP,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    key = forms.CharField(
        required=False,
        strip=False,
        label="Known token (optional)",
        help_text="Set by your manufacturing process: 40 hexadecimal characters (a password of at least "
        "20 bytes on password connectors). The device is then provisioned at once.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "spellcheck": "false"}),
    )
    locked = forms.BooleanField(required=False, label="Locked (refuse every request)")

    # Service field → form field.
    SERVICE_FIELDS = {"identity": "identity", "auth": "key", "tags": "tags", "locked": "locked"}

    def clean_expire(self):
        value = self.cleaned_data.get("expire")
        if value is None:
            return None
        # The field is labelled UTC: read the typed time as UTC, whatever the server's zone.
        value = timezone.make_naive(value, timezone.get_current_timezone()).replace(tzinfo=UTC)
        if value <= timezone.now():
            raise ValidationError("The deadline must be in the future.")
        return value

    def clean_tags(self):
        return parse_tag_lines(self.cleaned_data.get("tags") or "")

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        expire = data.get("expire")
        return {
            "identity": data["identity"],
            "key": data.get("key") or None,
            "expire_us": int(expire.timestamp() * 1_000_000) if expire else None,
            "locked": data.get("locked", False),
            "tags": data.get("tags") or None,
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        message_dict = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for key, messages in message_dict.items():
            field = self.SERVICE_FIELDS.get(key)
            if key == "auth" and any("expire" in m for m in messages):
                field = "expire"
            for message in messages:
                self.add_error(field, message)
