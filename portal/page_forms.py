"""The forms of the portal's pages (``portal.views``): labels, ``autocomplete`` hints for
password managers and phones, and the services' errors next to their fields
(``core.forms.UiForm.add_service_errors``). The rules are the services'; these only read input."""

from django import forms

from core.forms import UiForm

NEW_PASSWORD_HELP = "At least 8 characters; not a common password, and not all digits."


def _text(label: str, autocomplete: str, *, required: bool = True, max_length: int = 200, **attrs):
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        widget=forms.TextInput(attrs={"autocomplete": autocomplete, **attrs}),
    )


def _email(autocomplete: str = "email"):
    return forms.CharField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": autocomplete, "inputmode": "email"}),
    )


def _password(label: str, autocomplete: str, help_text: str = ""):
    return forms.CharField(
        label=label,
        strip=False,
        max_length=4096,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class _NewPasswordForm(UiForm):
    """A new password typed twice."""

    password = _password("New password", "new-password", NEW_PASSWORD_HELP)
    password_confirm = _password("New password again", "new-password")

    def clean(self):
        data = super().clean()
        password, confirm = data.get("password"), data.get("password_confirm")
        if password and confirm is not None and password != confirm:
            self.add_error("password_confirm", "The two passwords differ.")
        return data


class SignupForm(UiForm):
    """An address and a name: the password is chosen from the welcome e-mail's link, by whoever
    holds the mailbox (``portal.accounts.signup``)."""

    email = _email()
    name = _text("Your name (optional)", "name", required=False)


class LoginForm(UiForm):
    email = _email("username")
    password = _password("Password", "current-password")


class EmailForm(UiForm):
    """One e-mail address: "send the e-mail again", "forgot my password"."""

    email = _email()


class VerifyForm(_NewPasswordForm):
    """Confirm the address; the password fields only for a user who has none yet."""

    def __init__(self, *args, needs_password: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not needs_password:
            del self.fields["password"]
            del self.fields["password_confirm"]


class SetPasswordForm(_NewPasswordForm):
    pass


class AccountForm(UiForm):
    name = _text("Your name", "name", required=False)
    firmware_emails = forms.BooleanField(label="E-mail me about new firmware", required=False)


class PasswordChangeForm(_NewPasswordForm):
    current_password = _password("Current password", "current-password")
    field_order = ["current_password", "password", "password_confirm"]


class ClaimForm(UiForm):
    claim_code = _text("Claim code", "off", max_length=255, autocapitalize="off", spellcheck="false")
    product = forms.CharField(required=False, widget=forms.HiddenInput)


class FirmwareForm(UiForm):
    """Choose one of the firmware packages (``choices``: ``[(package id, label)]``)."""

    package = forms.ChoiceField(label="Firmware version", widget=forms.RadioSelect)

    def __init__(self, *args, choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["package"].choices = choices


BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


class ValueForm(UiForm):
    """Set one settable value of a device (the ``alias`` is the form's, the rules the service's):
    a ``<select>`` of the allowed values (true/false for booleans), a number field for numbers,
    text otherwise."""

    def __init__(self, *args, alias: str, format: str, choices: list[str], current: str | None, **kwargs):
        kwargs.setdefault("prefix", None)
        # A page has a form per settable value: ids (``value-<alias>``, its errors' ids) differ.
        kwargs.setdefault("auto_id", f"%s-{alias}")
        super().__init__(*args, **kwargs)
        self.alias = alias
        label = f"New value of {alias}"
        if format == "boolean":
            field = forms.ChoiceField(label=label, choices=BOOLEAN_CHOICES)
        elif choices:
            field = forms.ChoiceField(label=label, choices=[(c, c) for c in choices])
        elif format in ("number", "integer", "float"):
            step = "1" if format == "integer" else "any"
            field = forms.CharField(
                label=label, widget=forms.NumberInput(attrs={"step": step, "inputmode": "decimal"})
            )
        else:
            field = forms.CharField(label=label, max_length=65536)
        field.initial = current
        self.fields["value"] = field

    def service_error_field(self, key, errors):
        # The service names the alias (or "detail"): here it is this form's one field.
        return "value", [message for error in errors for message in error.messages]
