"""State changes for accounts, businesses and API tokens."""

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import API_TOKEN_PREFIX, ApiToken, Business, Membership, Role, User, hash_api_key


@transaction.atomic
def account_create(*, email: str, password: str, business_name: str, role: str) -> Membership:
    """Create (or reuse) a user and a business and make the user a member with ``role``."""
    if role not in Role.values:
        raise ValidationError({"role": f"must be one of {', '.join(Role.values)}"})
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(email=email)
        validate_password(password, user)
        user.set_password(password)
        user.full_clean()
        user.save()
    elif password:
        validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
    business, _ = Business.objects.get_or_create(name=business_name.strip())
    membership, created = Membership.objects.get_or_create(
        business=business, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_add(*, business: Business, email: str, role: str) -> Membership:
    """Add an existing user to ``business`` (or change their role)."""
    if role not in Role.values:
        raise ValidationError({"role": f"must be one of {', '.join(Role.values)}"})
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        raise ValidationError({"email": "no account with this e-mail address"})
    membership, _ = Membership.objects.update_or_create(business=business, user=user, defaults={"role": role})
    return membership


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a personal API token. Returns the token and its key, which is never shown again."""
    key = API_TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user, name=name[:100], key_hash=hash_api_key(key), key_prefix=key[:12]
    )
    return token, key


def api_token_delete(*, token: ApiToken) -> None:
    token.delete()
