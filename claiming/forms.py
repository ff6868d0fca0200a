"""Forms of the End Users tab: create an end user, change one, set a password. They parse; the
rules (a unique e-mail per connector, password strength) are ``claiming.services``'."""

import json

from django import forms

from core.forms import UiForm


class EndUserCreateForm(UiForm):
    email = forms.EmailField(max_length=254, label="E-mail address")
    name = forms.CharField(max_length=200, required=False)
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty: the person chooses one from a password-reset link of the portal.",
    )  # fmt: skip
    verified = forms.BooleanField(required=False, label="E-mail address verified")

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "email": data["email"],
            "name": data["name"],
            "password": data["password"] or None,
            "verified": data["verified"],
        }


class EndUserEditForm(UiForm):
    email = forms.EmailField(max_length=254, label="E-mail address")
    name = forms.CharField(max_length=200, required=False)
    verified = forms.BooleanField(required=False, label="E-mail address verified")
    blocked = forms.BooleanField(
        required=False, help_text="A blocked user cannot log in; their sessions end."
    )
    user_data = forms.CharField(
        required=False,
        label="User data (JSON)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='An object; "app_<app id>": {"default": true} adds that app to the devices they claim.',
    )

    @classmethod
    def for_user(cls, user) -> "EndUserEditForm":
        return cls(
            initial={
                "email": user.email, "name": user.name, "verified": user.verified, "blocked": user.blocked,
                "user_data": json.dumps(user.user_data, indent=2, ensure_ascii=False),
            }
        )  # fmt: skip

    def clean_user_data(self):
        text = (self.cleaned_data.get("user_data") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Give an object: {"name": value, …}.')
        return value


class EndUserPasswordForm(UiForm):
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(render_value=False), label="New password"
    )
