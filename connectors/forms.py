"""Web UI forms for connectors and resources.

Forms only parse what people type (lists one per line, blanks as "no value"); every rule is
checked by ``connectors.services``, whose field errors the views put back next to the fields.
"""

import re

from django import forms
from django.conf import settings

from connectors import pki
from connectors.identity import IdentityCasing, IdentityType
from connectors.models import HISTORY_RETENTION_MAX_DAYS, AuthType, ResourceFormat, Transport
from connectors.values import NUMERIC_FORMATS
from core.forms import UiForm

_LIST_SEPARATORS = re.compile(r"[\s,]+")
_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class TokenListField(forms.CharField):
    """Several short values, one per line (commas and spaces separate too): CIDRs, host names."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "off"})

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [item for item in _LIST_SEPARATORS.split(text) if item]

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return "\n".join(str(item) for item in value)
        return value

    def has_changed(self, initial, data) -> bool:
        return self.to_python(self.prepare_value(initial) or "") != self.to_python(data)


# What a file chooser offers for a certificate, and for a private key.
CERTIFICATE_FILE_TYPES = ".pem,.crt,.cer,application/x-pem-file,application/x-x509-ca-cert"
KEY_FILE_TYPES = ".pem,.key,application/x-pem-file"


class PemFileField(forms.FileField):
    """A PEM file chosen instead of pasted: its text, or None when no file was chosen.

    Only read here (at most one byte past what ``connectors.pki`` accepts, so that it can say
    the file is too large); whether the text is a certificate or a key is the service's call."""

    def __init__(self, *, accept: str = CERTIFICATE_FILE_TYPES, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.FileInput(attrs={"accept": accept}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if not upload:
            return None
        return upload.read(pki.PEM_MAX_CHARS + 1).decode("utf-8", errors="replace")


class SecretTextarea(forms.Textarea):
    """A textarea that never shows a value back: what was typed into it is a secret (a private
    key), even when the page comes back with an error."""

    def format_value(self, value):
        return None


def pem_text(typed: str | None, uploaded: str | None) -> str:
    """What people gave as PEM: the chosen file's text when there is one, else what they typed."""
    return uploaded if uploaded is not None else (typed or "")


class ConnectorCreateForm(UiForm):
    name = forms.CharField(max_length=200, help_text="Usually the device model, e.g. “Thermostat T1”.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    business = forms.TypedChoiceField(coerce=int, required=False, label="Business")

    def __init__(self, *args, businesses=(), default_business=None, **kwargs):
        """``businesses``: those the user may create connectors in; ``default_business``: the
        one a connector goes to when none is named (``business_default_for_new_connector``)."""
        super().__init__(*args, **kwargs)
        businesses = list(businesses)
        if len(businesses) > 1:
            self.fields["business"].choices = [("", "Choose a business…")] + [
                (b.pk, b.name) for b in businesses
            ]
            self.fields["business"].required = True
        elif businesses and default_business is None:
            # One business the user does not belong to (a superuser's): name it, preselected.
            self.fields["business"].choices = [(b.pk, b.name) for b in businesses]
            self.fields["business"].required = True
            self.fields["business"].initial = businesses[0].pk
        else:
            # Their one business (or none): nothing to choose; the service picks or explains.
            del self.fields["business"]


class ConnectorDeleteForm(UiForm):
    """Deleting a connector is confirmed by typing its name: one click on the wrong tab cannot
    delete a fleet."""

    name = forms.CharField(
        label="Type the connector's name to confirm", strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}),
    )  # fmt: skip

    def __init__(self, *args, connector, **kwargs):
        super().__init__(*args, **kwargs)
        self.connector = connector
        self.fields["name"].help_text = f"Its name is “{connector.name}”."

    def clean_name(self) -> str:
        typed = self.cleaned_data["name"]
        if typed.strip() != self.connector.name.strip():
            raise forms.ValidationError(
                f"That is not this connector's name: type “{self.connector.name}” to delete it."
            )
        return typed


class ConnectorSettingsForm(UiForm):
    """Every setting a product manager may change, by the service's field names."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    devmode = forms.BooleanField(
        required=False,
        label="Developer mode: accept plain HTTP",
        help_text="Devices may then connect without TLS, while you develop their firmware.",
    )
    transports = forms.MultipleChoiceField(
        choices=Transport.choices, widget=forms.CheckboxSelectMultiple, label="Transports",
        help_text="How the connector's devices may talk: the HTTP device API, MQTT, or both. Devices "
        "using a transport not ticked are refused.",
        error_messages={"required": "Tick at least one transport."},
    )  # fmt: skip
    identity_prefix = forms.CharField(max_length=64, required=False, label="Prefix")
    identity_type = forms.ChoiceField(choices=IdentityType.choices, label="Type")
    identity_length = forms.IntegerField(
        required=False, min_value=1, max_value=128, label="Length",
        help_text="Characters after the prefix; empty for any length. Ignored for MAC and UUID types.",
    )  # fmt: skip
    identity_casing = forms.ChoiceField(choices=IdentityCasing.choices, label="Letter case")
    auth_type = forms.ChoiceField(
        choices=AuthType.choices, label="Authentication",
        help_text="Devices already provisioned keep their own method.",
    )  # fmt: skip
    provisioning_enabled = forms.BooleanField(required=False, label="Provisioning enabled")
    presenter_identity = forms.BooleanField(
        required=False, label="Devices may present their own identity",
        help_text="Any identity that fits the format may provision without being whitelisted first.",
    )  # fmt: skip
    generate_identity = forms.BooleanField(required=False, label="Server generates identities")
    activation_window_hours = forms.IntegerField(
        min_value=1, max_value=24 * 365, label="Activation window (hours)",
        help_text="How long a whitelisted identity may wait for its first activation.",
    )  # fmt: skip
    ip_whitelisting_enabled = forms.BooleanField(required=False, label="Restrict first provisioning by IP")
    ip_whitelist = TokenListField(
        required=False, label="Allowed addresses",
        help_text="IPv4 or IPv6 addresses or CIDRs, one per line; at least one while restricting by IP.",
    )  # fmt: skip
    hostnames = TokenListField(
        required=False, label="Extra host names",
        help_text="Other DNS names that route device requests to this connector, one per line. IP "
        "addresses, localhost and the platform's own domains are not available.",
    )  # fmt: skip
    pki_enabled = forms.BooleanField(
        required=False, label="Verify client certificates against the CA",
        help_text="Device certificates must then be signed by the CA below; pinned certificates it did "
        "not sign are refused.",
    )  # fmt: skip
    pki_ca_certificate = forms.CharField(
        required=False, label="CA certificate (PEM)",
        help_text="The client CA that device certificates must chain to: a CA certificate, not expired. "
        "Empty: no CA.",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocapitalize": "off",
                                     "class": "mono"}),
    )  # fmt: skip
    pki_ca_certificate_file = PemFileField(
        label="…or upload the CA certificate file",
        help_text="A PEM file; it replaces what the box above holds.",
    )  # fmt: skip
    pki_ca_private_key = forms.CharField(
        required=False, label="CA private key (PEM)", strip=False,
        help_text="Only needed to sign CSRs. Stored encrypted and never shown again, not even when the "
        "page comes back with an error; leave empty to keep the current key.",
        widget=SecretTextarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off",
                                     "autocapitalize": "off", "class": "mono"}),
    )  # fmt: skip
    pki_ca_private_key_file = PemFileField(
        label="…or upload the CA private key file", accept=KEY_FILE_TYPES,
        help_text="A PEM file without passphrase; it is used instead of the box above.",
    )  # fmt: skip
    pki_ca_private_key_clear = forms.BooleanField(required=False, label="Remove the stored CA private key")
    pki_sign_csr = forms.BooleanField(required=False, label="Sign CSRs submitted at whitelisting")
    claiming_enabled = forms.BooleanField(
        required=False, label="End users claim devices on the connector's portal",
        help_text="Defines the pdaas_claim_code, pdaas_user_email and pdaas_reset resources, gives new "
        "devices a claim code (their identity, unless they have one) and opens the End Users tab.",
    )  # fmt: skip
    portal_subdomain = forms.CharField(
        required=False, max_length=63, label="Portal sub-domain",
        help_text="The portal answers at <sub-domain>.<PORTAL_DOMAIN>: one DNS label (letters, digits, "
        "hyphens), unique across the platform. Empty: the connector id.",
    )  # fmt: skip
    managed_apps = forms.JSONField(
        required=False, label="Managed applications (JSON)",
        help_text='A list of {"id", "name", "description", "url", "logo"}: applications end users may '
        "route their devices' data to.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "off",
                                     "class": "mono"}),
    )  # fmt: skip
    history_retention_days = forms.IntegerField(
        required=False, min_value=0, max_value=HISTORY_RETENTION_MAX_DAYS, label="Keep value history (days)",
        help_text="Older points are removed every hour. 0 keeps them forever; empty follows the "
        "platform's default ({default}).",
    )  # fmt: skip

    # Groups of the page, in order (fieldsets with a legend each).
    SECTIONS = (
        ("General", ("name", "description")),
        ("Protocol", ("devmode", "transports", "hostnames")),
        ("Identity format", ("identity_prefix", "identity_type", "identity_length", "identity_casing")),
        ("Authentication", ("auth_type",)),
        ("Provisioning", ("provisioning_enabled", "presenter_identity", "generate_identity",
                          "activation_window_hours", "ip_whitelisting_enabled", "ip_whitelist")),
        ("Public key infrastructure", ("pki_enabled", "pki_ca_certificate", "pki_ca_certificate_file",
                                       "pki_ca_private_key", "pki_ca_private_key_file",
                                       "pki_ca_private_key_clear", "pki_sign_csr")),
        ("Claiming", ("claiming_enabled", "portal_subdomain", "managed_apps")),
        ("Value history", ("history_retention_days",)),
    )  # fmt: skip
    # A field → the checkbox that turns its section on: the page hides the field while the box
    # is unticked (static/js/settings.js; without scripts every field shows). A hidden field is
    # still posted, so its value is kept for when the box is ticked again.
    SHOWN_BY = {
        "presenter_identity": "provisioning_enabled",
        "generate_identity": "provisioning_enabled",
        "activation_window_hours": "provisioning_enabled",
        "ip_whitelisting_enabled": "provisioning_enabled",
        "ip_whitelist": "ip_whitelisting_enabled",
        "pki_ca_certificate": "pki_enabled",
        "pki_ca_certificate_file": "pki_enabled",
        "pki_ca_private_key": "pki_enabled",
        "pki_ca_private_key_file": "pki_enabled",
        "pki_ca_private_key_clear": "pki_enabled",
        "pki_sign_csr": "pki_enabled",
        "portal_subdomain": "claiming_enabled",
        "managed_apps": "claiming_enabled",
    }
    # Given by pasting or by a file; the changes carry the one text as the service's field.
    _PEM_INPUTS = {
        "pki_ca_certificate": "pki_ca_certificate_file",
        "pki_ca_private_key": "pki_ca_private_key_file",
    }

    def __init__(self, *args, has_ca_private_key: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        retention = self.fields["history_retention_days"]
        default = settings.HISTORY_RETENTION_DAYS
        retention.help_text = retention.help_text.format(default=f"{default} days" if default else "forever")
        if not has_ca_private_key:
            del self.fields["pki_ca_private_key_clear"]

    def sections(self) -> list[tuple[str, list[tuple[forms.BoundField, str]]]]:
        """The page's sections in order: a title, and each field with the id of the checkbox
        that shows it ("" for fields always shown)."""
        return [
            (title, [(self[name], self._toggle_id(name)) for name in names if name in self.fields])
            for title, names in self.SECTIONS
        ]

    def _toggle_id(self, name: str) -> str:
        toggle = self.SHOWN_BY.get(name)
        return self[toggle].auto_id if toggle else ""

    def changes(self) -> dict:
        """The settings people changed, for ``connector_update``: untouched values are not sent
        again, so an old value that a newer rule would refuse does not block other changes."""
        data = self.cleaned_data
        skipped = {"pki_ca_private_key", "pki_ca_private_key_clear", *self._PEM_INPUTS.values()}
        changes = {name: data[name] for name in self.changed_data if name not in skipped}
        if data.get("pki_ca_certificate_file") is not None:
            changes["pki_ca_certificate"] = data["pki_ca_certificate_file"]
        key = pem_text(data.get("pki_ca_private_key"), data.get("pki_ca_private_key_file"))
        if key.strip():
            changes["pki_ca_private_key"] = key
        elif data.get("pki_ca_private_key_clear"):
            changes["pki_ca_private_key"] = ""
        if "managed_apps" in changes and changes["managed_apps"] is None:
            changes["managed_apps"] = []  # an emptied box: no applications
        return changes

    def service_error_field(self, key, errors):
        # What a chosen file held is explained next to the file input, not next to the box
        # (which may still hold the previous, valid value).
        field, messages = super().service_error_field(key, errors)
        file = self._PEM_INPUTS.get(field)
        if file is not None and getattr(self, "cleaned_data", {}).get(file) is not None:
            field = file
        return field, messages

    @property
    def private_key_not_kept(self) -> bool:
        """A private key was given but the page comes back with errors: it is not shown again,
        so people must give it again."""
        typed = (self.data.get("pki_ca_private_key") or "").strip()
        given = typed or self.files.get("pki_ca_private_key_file")
        return bool(self.is_bound and self.errors and given)


def _allowed_entry(fmt: str, text: str):
    """Numbers as JSON numbers (as API clients send them); ranges and other values as text."""
    if fmt in NUMERIC_FORMATS:
        if _INTEGER.match(text):
            return int(text)
        if _FLOAT.match(text):
            return float(text)
    return text


class ResourceForm(UiForm):
    alias = forms.CharField(
        max_length=100, help_text="The name devices write and read, e.g. temperature. No '.', '$' or spaces."
    )
    format = forms.ChoiceField(choices=ResourceFormat.choices)
    unit = forms.CharField(max_length=32, required=False, help_text="Shown next to values, e.g. °C.")
    allowed = forms.CharField(
        required=False, label="Allowed values",
        help_text="One per line: a value, or for numbers a range such as 0-100. Empty: anything of the "
        "format.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )  # fmt: skip
    settable = forms.BooleanField(
        required=False, label="The cloud may set this value",
        help_text="Commands to the device: a cloud value waits as “set” until the device reports it.",
    )  # fmt: skip
    initial = forms.CharField(
        required=False, strip=False, label="Initial value",
        help_text="What devices read before anything was written. Empty: none.",
    )  # fmt: skip
    sync = forms.BooleanField(
        required=False, initial=True, label="Synchronise with the device",
        help_text="Off: set and reported stay equal and nothing is pushed to the device.",
    )  # fmt: skip

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["alias"]

    @staticmethod
    def initial_for(resource) -> dict:
        return {
            "format": resource.format,
            "unit": resource.unit,
            "allowed": "\n".join(str(entry) for entry in resource.allowed or []),
            "settable": resource.settable,
            "initial": resource.initial or "",
            "sync": resource.sync,
        }

    def clean(self):
        data = super().clean()
        fmt = data.get("format")
        lines = [line.strip() for line in (data.get("allowed") or "").splitlines()]
        # The service checks entries against the format (one rule for the UI and the API).
        data["allowed"] = [_allowed_entry(fmt, line) for line in lines if line] if fmt else []
        initial = data.get("initial")
        data["initial"] = initial if initial not in (None, "") else None
        return data

    def service_fields(self) -> dict:
        names = ("format", "unit", "allowed", "settable", "initial", "sync")
        return {name: self.cleaned_data[name] for name in names}
