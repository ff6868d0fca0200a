"""DRF authentication: personal API tokens (``Authorization: Token <key>``) and HTTP Basic with
the account's e-mail address and password, throttled (accounts/backends.py)."""

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from accounts.backends import LoginThrottled, login_retry_after
from accounts.models import ApiToken, hash_api_key


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Looks the key up by its hash; the key itself is never stored."""

    keyword = "Token"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token header.") from None
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_api_key(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Token <key>`` in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=ApiTokenAuthentication.keyword
        )


def login_throttled_error(retry_after: int) -> exceptions.Throttled:
    """The API's answer to a throttled log-in: ``429``, ``{"detail": ...}`` and ``Retry-After``."""
    error = exceptions.Throttled(wait=retry_after)
    error.detail = exceptions.ErrorDetail(LoginThrottled(retry_after).message, code="throttled")
    return error


class ThrottledBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic (``curl -u email:password``). Too many wrong passwords for the account or from
    the address answer ``429`` with ``Retry-After`` instead of checking the password; verified
    credentials are remembered for a while, so scripts do not pay the password hash each call."""

    def authenticate_credentials(self, userid, password, request=None):
        user = authenticate(request=request, username=userid, password=password)
        if user is None:
            wait = login_retry_after(request)
            if wait:
                raise login_throttled_error(wait)
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return user, None


class ThrottledBasicScheme(OpenApiAuthenticationExtension):
    """Documents HTTP Basic as drf-spectacular does for DRF's own class."""

    target_class = ThrottledBasicAuthentication
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}
