"""Web UI forms of firmware updates. They parse what people type; the rules are the services'."""

import json

from django import forms
from django.core.exceptions import ValidationError

from core.forms import UiForm
from devices.models import Status


class RolloutForm(UiForm):
    package = forms.ChoiceField(required=False, label="Firmware package")
    message = forms.CharField(
        required=False, label="Or a config_otau message (JSON)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='{"version", "name", "description", "type": "FILE" | "JSON" | "URL_LIST", "payload"}',
    )  # fmt: skip
    target = forms.ChoiceField(
        choices=[("devices", "These devices"), ("filter", "Every device matching a filter")],
        widget=forms.RadioSelect, initial="devices", label="Devices to update",
    )  # fmt: skip
    devices = forms.CharField(
        required=False, label="Identities", help_text="One per line.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocapitalize": "off"}),
    )  # fmt: skip
    tags = forms.CharField(
        required=False, label="Tags", help_text="name or name:value, one per line; all must match.",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocapitalize": "off"}),
    )  # fmt: skip
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Status.choices])
    identity = forms.CharField(required=False, max_length=128, label="Identity prefix")
    wave_size = forms.IntegerField(
        required=False, min_value=1, help_text="Devices per wave; empty: all at once."
    )
    success_threshold = forms.IntegerField(
        required=False, min_value=0, max_value=100, label="Success threshold (%)",
        help_text="A wave in which fewer devices succeed pauses the rollout; empty: never pauses.",
    )  # fmt: skip
    device_timeout = forms.IntegerField(
        required=False, min_value=10, label="Device timeout (seconds)",
        help_text="A device silent this long counts as failed; empty: the server's default.",
    )  # fmt: skip

    def __init__(self, *args, packages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["package"].choices = [("", "— none: use the message below —")] + [
            (p["id"], f"{p['version']} — {p['name']} ({p['id']})") for p in packages
        ]

    def clean_message(self):
        text = self.cleaned_data["message"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None

    def service_arguments(self) -> dict:
        """The form as ``firmware.services.rollout_start`` arguments."""
        data = self.cleaned_data
        arguments = {
            "package_id": data["package"] or None,
            "config_otau": data["message"] if not data["package"] else None,
            "wave_size": data["wave_size"],
            "success_threshold": None
            if data["success_threshold"] is None
            else data["success_threshold"] / 100,
            "device_timeout": data["device_timeout"],
        }
        if data["target"] == "devices":
            arguments["devices"] = [line.strip() for line in data["devices"].splitlines() if line.strip()]
        else:
            device_filter = {}
            tags = [line.strip() for line in data["tags"].splitlines() if line.strip()]
            if tags:
                device_filter["tag"] = tags
            if data["status"]:
                device_filter["status"] = data["status"]
            if data["identity"]:
                device_filter["identity"] = data["identity"]
            arguments["device_filter"] = device_filter
        return arguments

    # The rollout service's device filter is this form's tag box.
    service_error_fields = {"filter": "tags"}
