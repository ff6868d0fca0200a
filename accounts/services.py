"""State changes for accounts, businesses and API tokens."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

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


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    """One-time tokens with which an invited person sets their first password.

    Django's password-reset tokens hash the password into the token, so a token stops working
    as soon as a password is set; its own salt keeps it from doubling as a password-reset token
    (and the other way round). Valid for ``PASSWORD_RESET_TIMEOUT`` (three days by default).
    """

    key_salt = "accounts.services.InvitationTokenGenerator"


invitation_tokens = InvitationTokenGenerator()
INVALID_INVITATION = "This invitation is invalid, has expired or has already been accepted."
LAST_ADMIN = "A business must keep at least one admin."


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"Must be one of {', '.join(Role.values)}."})


def _lock_business(business: Business) -> None:
    # Membership changes of one business are serialised on its row, so two admins demoting each
    # other at the same moment cannot leave the business without an admin.
    Business.objects.select_for_update().filter(pk=business.pk).first()


def _admin_count(business: Business) -> int:
    return Membership.objects.filter(business=business, role=Role.ADMIN).count()


def invitation_token_create(*, user: User) -> str:
    """A token for :func:`invitation_accept`: ``<user id, base64>.<one-time token>``."""
    return f"{urlsafe_base64_encode(force_bytes(user.pk))}.{invitation_tokens.make_token(user)}"


@transaction.atomic
def membership_add(*, business: Business, email: str, role: str) -> tuple[Membership, str | None]:
    """Make the person with ``email`` a member of ``business`` with ``role``.

    Someone without an account gets an invited one: it has no usable password, so nobody can
    log in with it until the person accepts the invitation and chooses a password. Returns the
    membership and, for an account that has no password yet, an invitation token to hand over
    (``None`` for people who can already log in). Adding an existing member is an error: roles
    change with :func:`membership_update`.
    """
    _check_role(role)
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid e-mail address."}) from None
    _lock_business(business)
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(email=email)
        user.set_unusable_password()
        user.full_clean()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # invited into another business at the same moment
            user = User.objects.get(email__iexact=email)
    if not user.is_active:
        raise ValidationError({"email": "This account is disabled."})
    if Membership.objects.filter(business=business, user=user).exists():
        raise ValidationError({"email": "This person is already a member of the business."})
    membership = Membership.objects.create(business=business, user=user, role=role)
    token = None if user.has_usable_password() else invitation_token_create(user=user)
    return membership, token


@transaction.atomic
def membership_update(*, membership: Membership, role: str) -> Membership:
    """Change a member's role; the business's last admin stays an admin."""
    _check_role(role)
    _lock_business(membership.business)
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.ADMIN and role != Role.ADMIN and _admin_count(membership.business) <= 1:
        raise ValidationError({"role": LAST_ADMIN})
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Take a member out of the business (their account stays); never its last admin."""
    _lock_business(membership.business)
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.ADMIN and _admin_count(membership.business) <= 1:
        raise ValidationError(LAST_ADMIN)
    membership.delete()


@transaction.atomic
def invitation_accept(*, token: str, password: str) -> User:
    """An invited person chooses their password with the token from :func:`membership_add`.

    The token then stops working (it is bound to the password it was made with). Any problem
    with the token answers the same message, so it reveals nothing about accounts.
    """
    uidb64, _, key = token.partition(".")
    try:
        user_id = int(urlsafe_base64_decode(uidb64).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        user_id = None
    user = (
        User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user_id is not None
        else None
    )
    if user is None or user.has_usable_password() or not invitation_tokens.check_token(user, key):
        raise ValidationError({"token": INVALID_INVITATION})
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a personal API token. Returns the token and its key, which is never shown again."""
    key = API_TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user, name=name[:100], key_hash=hash_api_key(key), key_prefix=key[:12]
    )
    return token, key


def api_token_delete(*, token: ApiToken) -> None:
    token.delete()


# The business a fresh install makes for its first admin (renamed in the back office at will).
FIRST_BUSINESS_NAME = "My business"


@dataclass(frozen=True)
class FirstAdmin:
    """What ``first_admin_ensure`` found or made: the account to log in with, the password it
    generated (to show once; None when the operator chose it or the account existed) and the
    business it created (None when there was one already)."""

    user: User
    password: str | None
    business: Business | None


@transaction.atomic
def first_admin_ensure(*, email: str = "", password: str = "") -> FirstAdmin:
    """The first admin account of an install, made on first start (``runplatform``).

    With ``email`` and ``password`` (``DJANGO_SUPERUSER_*``) that superuser, created if missing;
    without, the first superuser, or ``admin@localhost`` with a generated password. While the
    install has no business at all, the admin also gets one, as its admin: a connector belongs
    to a business, so without one the first person to log in could not create anything.
    """
    generated = None
    if email and password:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_superuser(email=email, password=password)
    else:
        user = User.objects.filter(is_superuser=True).order_by("pk").first()
        if user is None:
            generated = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(email="admin@localhost", password=generated)
    business = None
    if not Business.objects.exists():
        business = Business.objects.create(name=FIRST_BUSINESS_NAME)
        Membership.objects.create(business=business, user=user, role=Role.ADMIN)
    return FirstAdmin(user=user, password=generated, business=business)
