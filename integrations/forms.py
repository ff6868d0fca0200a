"""Forms of the Integration tab (``integrations.views``).

The rules are ``integrations.services``' and ``integrations.operations``': these forms only carry
the fields, as text, and turn them into the API's body (``spec``, ``config``, ``sync``,
``maintainer_email``; an operation's ``params`` and ``body``). A value that cannot be read as its
type is passed on as typed, so the service names it with every other problem at once. The
service's problems (``"<field>: <what>"``) are then shown next to the field they name.
"""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError

from core.forms import UiForm
from integrations.services import IDENTITY_KINDS, SyncSettings
from integrations.spec import SPEC_MAX_BYTES, Operation, Spec

CONFIG_PREFIX = "config_"
PARAM_PREFIX = "param_"
SYNC_TEXT_FIELDS = {
    "id_field": ("Asset id field", "The field of a listed asset that holds its id."),
    "id_parameter": (
        "Asset id parameter",
        "The parameter of the state and detail operations taking the asset id; empty: the only "
        "path (or query) parameter not filled from the configuration.",
    ),
    "list_field": (
        "List field",
        "When the list operation answers an object holding several arrays: the one of assets.",
    ),
    "page_parameter": (
        "Page parameter",
        "The list operation's parameter taking the next page; empty: one page.",
    ),
    "next_field": ("Next page field", "The field of the list's answer naming the next page."),
}
IDENTITY_LABELS = {
    "sha256": "sha256 of the asset id (hex)",
    "asset_id": "the asset id itself",
}


def _text(label: str, help_text: str = "", **attrs) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off", **attrs}),
    )


def _number(text: str, kind: str):
    """``text`` as an ``integer`` or ``number``; the text itself when it is not one (the service
    then says what it must be)."""
    text = text.strip()
    try:
        if kind == "integer":
            return int(text)
        value = float(text)
        return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    except ValueError:
        return text


def problem_split(problem: str) -> tuple[str, str]:
    """``"name: what"`` → ``("name", "what")``; ``("", problem)`` without a name."""
    name, separator, what = problem.partition(": ")
    return (name, what) if separator and name and " " not in name else ("", problem)


class IntegrationForm(UiForm):
    """The spec (pasted or uploaded), the configuration fields of ``spec`` (none without one),
    the sync settings (operations chosen among ``spec``'s) and the maintainer's address."""

    spec = forms.CharField(
        label="OpenAPI 2 (Swagger) document",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono", "spellcheck": "false"}),
        help_text="YAML or JSON. Every problem is listed with its place in the document.",
    )
    spec_file = forms.FileField(
        label="…or upload it",
        required=False,
        help_text=f"A .yaml, .yml or .json file of at most {SPEC_MAX_BYTES // 1024} KB; it replaces "
        "the text above.",
        widget=forms.FileInput(attrs={"accept": ".yaml,.yml,.json,application/json,text/yaml"}),
    )
    maintainer_email = forms.CharField(
        label="Maintainer's e-mail",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="Told when the API becomes unhealthy and when it recovers; empty: the business's admins.",
    )

    def __init__(self, *args, spec: Spec | None = None, secrets_set: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.form_spec = spec
        self.config_names: list[str] = []
        self.sync_names: list[str] = []
        if spec is None:
            return
        secrets_set = secrets_set or {}
        for config_field in spec.config_fields:
            name = CONFIG_PREFIX + config_field.name
            self.config_names.append(name)
            self.fields[name] = self._config_field(config_field, secrets_set.get(config_field.name, False))
        operation_choices = [("", "—")] + [
            (operation_id, f"{operation_id} ({operation.method.upper()} {operation.path})")
            for operation_id, operation in spec.operations.items()
        ]
        self.fields["list_operation"] = forms.CharField(
            label="List operation",
            required=False,
            widget=forms.Select(choices=operation_choices),
            help_text="Lists the assets (a JSON array, or an object holding one).",
        )
        self.fields["state_operation"] = forms.CharField(
            label="State operation",
            required=False,
            widget=forms.Select(choices=operation_choices),
            help_text="Called for each asset at every run; fields named like a resource become its value.",
        )
        self.fields["detail_operation"] = forms.CharField(
            label="Detail operation",
            required=False,
            widget=forms.Select(choices=operation_choices),
            help_text="Called once for a new asset; its fields become asset:<field> tags.",
        )
        for name, (label, help_text) in SYNC_TEXT_FIELDS.items():
            self.fields[name] = _text(label, help_text)
        self.fields["identity"] = forms.CharField(
            label="Device identity",
            required=False,
            widget=forms.Select(choices=[(kind, IDENTITY_LABELS[kind]) for kind in IDENTITY_KINDS]),
        )
        self.fields["interval_seconds"] = forms.CharField(
            label="Interval (seconds)",
            required=False,
            widget=forms.NumberInput(attrs={"min": 10, "step": 1}),
            help_text="How often the sync runs (at least 10 seconds).",
        )
        self.fields["config_io"] = forms.CharField(
            label="config_io of new devices (JSON)",
            required=False,
            strip=False,
            widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
            help_text="Set on each created device without one; empty: none.",
        )
        self.fields["enabled"] = forms.BooleanField(label="Run on schedule", required=False)
        self.sync_names = ["list_operation", "state_operation", "detail_operation", *SYNC_TEXT_FIELDS,
                           "identity", "interval_seconds", "config_io", "enabled"]  # fmt: skip
        self.order_fields(["spec", "spec_file", *self.config_names, *self.sync_names, "maintainer_email"])

    @staticmethod
    def _config_field(config_field, is_set: bool) -> forms.Field:
        label = config_field.name + ("" if config_field.required else " (optional)")
        help_text = config_field.description
        if config_field.type == "boolean":
            return forms.BooleanField(label=label, required=False, help_text=help_text)
        if config_field.secret:
            state = "set: leave empty to keep it" if is_set else "not set"
            field = forms.CharField(
                label=label,
                required=False,
                strip=False,
                help_text=f"{help_text} — {state}.",
                # Never shown back: not the stored value, not even what was typed.
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            )
            field.secret_set = is_set
            return field
        if config_field.type in ("integer", "number"):
            step = 1 if config_field.type == "integer" else "any"
            return forms.CharField(
                label=label,
                required=False,
                help_text=help_text,
                widget=forms.NumberInput(attrs={"step": step}),
            )
        return _text(label, help_text)

    @classmethod
    def initial_of(cls, integration) -> dict:
        """What the form shows of a saved integration (never a secret)."""
        sync = SyncSettings.of(integration.sync if integration is not None else {})
        initial = {
            **{name: getattr(sync, name) for name in SyncSettings.__dataclass_fields__},
            "interval_seconds": str(sync.interval_seconds),
            "config_io": "",
        }
        if sync.config_io is not None:
            initial["config_io"] = (
                sync.config_io if isinstance(sync.config_io, str) else json.dumps(sync.config_io, indent=2)
            )
        if integration is not None:
            initial["spec"] = integration.spec_text
            initial["maintainer_email"] = integration.maintainer_email
            for name, value in integration.config.items():
                initial[CONFIG_PREFIX + name] = value
        return initial

    # --- the posted form, as the service's body -------------------------------------------------

    def unshown_filled(self, data, shown: set[str], initial: dict):
        """``data`` (a copy of the POST) with the values of ``initial`` for this form's
        configuration and sync fields that the posted page did not show (a new spec's, or every
        one when the spec came alone): defaults and saved values, not empty fields."""
        for name in [*self.config_names, *self.sync_names]:
            if name in shown or name not in initial:
                continue
            value = initial[name]
            if isinstance(self.fields[name], forms.BooleanField):
                if value is True:
                    data[name] = "on"
                else:
                    data.pop(name, None)
            elif value is not None and not (isinstance(self.fields[name].widget, forms.PasswordInput)):
                data[name] = str(value)
        return data

    def spec_text(self) -> str:
        """The uploaded file's text, else the textarea's (``ValidationError`` for a file that is
        not UTF-8 text, or too large)."""
        upload = self.cleaned_data.get("spec_file")
        if not upload:
            return self.cleaned_data.get("spec", "")
        if upload.size > SPEC_MAX_BYTES:
            raise ValidationError(f"The file is larger than {SPEC_MAX_BYTES // 1024} KB.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text (YAML or JSON).") from None

    def service_data(self, spec_text: str) -> dict:
        """The body of ``integration_put``: a secret left empty is ``None`` (keep the stored one);
        the sync settings only when this form showed them."""
        data = {"spec": spec_text, "maintainer_email": self.cleaned_data.get("maintainer_email", "").strip()}
        if self.form_spec is None:
            return data
        config = {}
        for config_field in self.form_spec.config_fields:
            value = self.cleaned_data.get(CONFIG_PREFIX + config_field.name)
            if config_field.type == "boolean":
                config[config_field.name] = bool(value)
            elif value in (None, ""):
                config[config_field.name] = None
            elif config_field.type in ("integer", "number"):
                config[config_field.name] = _number(value, config_field.type)
            else:
                config[config_field.name] = value
        data["config"] = config
        text_names = ("list_operation", "state_operation", "detail_operation", *SYNC_TEXT_FIELDS)
        sync = {name: self.cleaned_data.get(name, "") for name in text_names}
        sync["identity"] = self.cleaned_data.get("identity") or "sha256"
        interval = self.cleaned_data.get("interval_seconds", "").strip()
        sync["interval_seconds"] = _number(interval, "integer") if interval else SyncSettings.interval_seconds
        config_io = self.cleaned_data.get("config_io", "")
        if config_io.strip():
            try:
                sync["config_io"] = json.loads(config_io)
            except ValueError:
                sync["config_io"] = config_io  # the service says it is not valid JSON
        sync["enabled"] = bool(self.cleaned_data.get("enabled"))
        data["sync"] = sync
        return data

    def service_error_field(self, key, errors):
        """``spec`` problems stay whole ("<where>: <what>", listed by location); ``config`` and
        ``sync`` ones go to the field they name (without the name), else on top."""
        messages = [message for error in errors for message in error.messages]
        if key in ("config", "sync"):
            for message in messages:
                name, what = problem_split(message)
                field = (CONFIG_PREFIX + name if key == "config" else name) if name else None
                if field in self.fields:
                    self.add_error(field, what)
                else:
                    label = "Configuration" if key == "config" else "Sync settings"
                    self.add_error(None, f"{label}: {message}")
            return None, []
        if key in self.fields:
            return key, messages
        return None, [f"{key}: {message}" if key and key != "detail" else message for message in messages]


class OperationForm(UiForm):
    """One operation's parameters (those filled from the configuration are not fields) and its
    JSON body when it takes one."""

    def __init__(self, *args, spec: Spec, operation: Operation, **kwargs):
        super().__init__(*args, **kwargs)
        self.operation = operation
        self.from_config = []
        for parameter in operation.parameters:
            if parameter.location == "body":
                continue
            if spec.config_field(parameter.name) is not None:
                self.from_config.append(parameter)
                continue
            label = f"{parameter.name} ({parameter.location}{', required' if parameter.required else ''})"
            help_text = parameter.description + (f" Type: {parameter.type}." if parameter.type else "")
            choices = None
            if parameter.enum:
                choices = [("", "—")] + [(str(value), str(value)) for value in parameter.enum]
            elif parameter.type == "boolean":
                choices = [("", "—"), ("true", "true"), ("false", "false")]
            widget = (
                forms.Select(choices=choices)
                if choices
                else forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"})
            )
            self.fields[PARAM_PREFIX + parameter.name] = forms.CharField(
                label=label, required=False, strip=False, help_text=help_text, widget=widget
            )
        if operation.body is not None:
            body = operation.body
            self.fields["body"] = forms.CharField(
                label=f"Body (JSON{', required' if body.required else ''})",
                required=False,
                strip=False,
                help_text=body.description,
                widget=forms.Textarea(attrs={"rows": 5, "class": "mono", "spellcheck": "false"}),
            )

    def call_arguments(self) -> tuple[dict, object]:
        """``(params, body)`` for ``operation_call``: empty parameters are left out; a body that
        is not JSON is a ``ValidationError``."""
        params = {
            name[len(PARAM_PREFIX) :]: value
            for name, value in self.cleaned_data.items()
            if name.startswith(PARAM_PREFIX) and value != ""
        }
        body = None
        text = self.cleaned_data.get("body", "")
        if text and text.strip():
            try:
                body = json.loads(text)
            except ValueError as exc:
                raise ValidationError({"body": [f"not valid JSON ({exc})"]}) from None
        return params, body

    def service_error_field(self, key, errors):
        messages = [message for error in errors for message in error.messages]
        if key == "params":
            for message in messages:
                name, what = problem_split(message)
                field = PARAM_PREFIX + name
                if name and field in self.fields:
                    self.add_error(field, what)
                else:
                    self.add_error(None, message)
            return None, []
        if key == "body" and "body" in self.fields:
            return "body", messages
        return None, [f"{key}: {message}" if key else message for message in messages]
