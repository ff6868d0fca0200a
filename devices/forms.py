"""Web UI forms for devices: whitelisting one, the device list's filters, tags and cloud values.

As with connectors, forms only parse what people type; ``devices.services`` applies the rules
and its field errors come back next to the fields.
"""

from datetime import UTC

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors.forms import PemFileField, pem_text
from connectors.models import AuthType
from core.forms import UiForm

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


CERTIFICATE_HELP = (
    "The device's own certificate: its CN must be the identity, it must be valid now and, when the "
    "connector verifies certificates against its CA, signed by that CA. Never its private key."
)


def certificate_messages(errors: list[ValidationError]) -> list[str]:
    """A service's ``auth`` errors about a certificate (``devices.services``), said for a page
    whose field is the certificate rather than the API's ``auth.key``."""
    texts = []
    for error in errors:
        params = error.params or {}
        message = f"The certificate {params['problem']}" if "problem" in params else " ".join(error.messages)
        texts.append(message[:1].upper() + message[1:])
    return texts


def certificate_field(form: forms.Form) -> str:
    """Where a service's problem with the certificate is shown: next to the file input when a
    file was chosen (the box may hold something else), else next to the box."""
    chosen = getattr(form, "cleaned_data", {}).get("certificate_file") is not None
    return "certificate_file" if chosen else "certificate"


def _certificate_widget(rows: int) -> forms.Textarea:
    return forms.Textarea(
        attrs={"rows": rows, "spellcheck": "false", "autocapitalize": "off", "autocomplete": "off",
               "class": "mono", "placeholder": "-----BEGIN CERTIFICATE-----"}
    )  # fmt: skip


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
    certificate = forms.CharField(
        required=False,
        label="TLS client certificate (optional, PEM)",
        help_text=CERTIFICATE_HELP + " It is pinned from the start: the device provisions with it only.",
        widget=_certificate_widget(4),
    )
    certificate_file = PemFileField(
        label="…or upload the certificate file", help_text="A PEM file; it is used instead of the box above."
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

    def clean(self):
        data = super().clean()
        data["certificate"] = pem_text(data.get("certificate"), data.get("certificate_file"))
        if data["certificate"].strip() and data.get("key"):
            self.add_error(certificate_field(self), "Give a known token or a certificate, not both.")
        return data

    @property
    def pins_certificate(self) -> bool:
        return bool(self.cleaned_data.get("certificate", "").strip())

    @property
    def certificate_field(self) -> str:
        return certificate_field(self)

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        expire = data.get("expire")
        if self.pins_certificate:
            auth_type, key = AuthType.CERTIFICATE, data["certificate"]
        else:
            auth_type, key = None, data.get("key") or None
        return {
            "identity": data["identity"],
            "auth_type": auth_type,
            "key": key,
            "expire_us": int(expire.timestamp() * 1_000_000) if expire else None,
            "locked": data.get("locked", False),
            "tags": data.get("tags") or None,
        }

    def service_error_field(self, key, errors):
        messages = [m for error in errors for m in error.messages]
        if key == "auth" and any("expire" in m for m in messages):
            return "expire", messages
        if key == "auth" and self.pins_certificate:
            return self.certificate_field, certificate_messages(errors)
        return self.SERVICE_FIELDS.get(key), messages


class DeviceCertificateForm(UiForm):
    """The device page: pin a certificate on the device, or replace the pinned one."""

    certificate = forms.CharField(
        required=False, label="Certificate (PEM)", help_text=CERTIFICATE_HELP, widget=_certificate_widget(6)
    )
    certificate_file = PemFileField(
        label="…or upload the certificate file", help_text="A PEM file; it is used instead of the box above."
    )

    def clean(self):
        data = super().clean()
        data["certificate"] = pem_text(data.get("certificate"), data.get("certificate_file"))
        if not data["certificate"].strip() and not self.has_error("certificate_file"):
            self.add_error("certificate", "Paste the device's certificate or choose its file.")
        return data

    @property
    def certificate_field(self) -> str:
        return certificate_field(self)

    def service_error_field(self, key, errors):
        # Every problem of this form is the certificate's (one not about a field too).
        field = self.certificate_field if key in ("auth", None) else None
        return field, certificate_messages(errors)
