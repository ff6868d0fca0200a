"""Web forms of accounts: logging in (throttled) and accepting an invitation."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.backends import LoginThrottled, login_retry_after


class _ThrottleMessage:
    """Says so when a log-in was refused for too many failures, not for a wrong password."""

    def get_invalid_login_error(self):
        wait = login_retry_after(self.request)
        if wait:
            return ValidationError(LoginThrottled(wait).message, code="throttled")
        return super().get_invalid_login_error()


class LoginForm(_ThrottleMessage, AuthenticationForm):
    """The web log-in."""


class AdminLoginForm(_ThrottleMessage, AdminAuthenticationForm):
    """The back office's log-in."""


class InvitationPasswordForm(forms.Form):
    """Someone invited at an address without an account chooses its password."""

    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned
