"""State changes for accounts, businesses and API tokens."""

import datetime
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import (
    API_TOKEN_PREFIX,
    INVITATION_KEY_PREFIX,
    ApiToken,
    Business,
    Invitation,
    Membership,
    Role,
    User,
    hash_api_key,
)
from accounts.selectors import invitation_for_key
from core.db import row_lock


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


INVALID_INVITATION = "This invitation is invalid, has expired or has already been accepted."
LAST_ADMIN = "A business must keep at least one admin."
WRONG_INVITATION_PASSWORD = (
    "This address already has an account: accept with its password, or log in and open the invitation link."
)
OTHER_ADDRESS = "This invitation is for another e-mail address."


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"Must be one of {', '.join(Role.values)}."})


def _lock_business(business: Business) -> None:
    # Membership changes of one business are serialised on its row, so two admins demoting each
    # other at the same moment cannot leave the business without an admin.
    Business.objects.select_for_update().filter(pk=business.pk).first()


def _admin_count(business: Business) -> int:
    return Membership.objects.filter(business=business, role=Role.ADMIN).count()


def _normalized_email(email: str) -> str:
    email = User.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid e-mail address."}) from None
    return email


@transaction.atomic
def invitation_create(
    *, business: Business, email: str, role: str, invited_by: User | None = None
) -> tuple[Invitation, str]:
    """Invite the person with ``email`` to join ``business`` with ``role``.

    Everyone is invited the same way, with or without an account, and the answer is the same
    either way: nothing here tells the inviting admin whether the address has an account. No
    account is created or changed until the person accepts (:func:`invitation_accept`).
    Inviting an address whose invitation to this business is pending renews it (new key, role
    and expiry; the old key stops working); other businesses' invitations are not touched.
    Returns the invitation and its key, which is shown once.
    """
    _check_role(role)
    email = _normalized_email(email)
    _lock_business(business)
    if Membership.objects.filter(business=business, user__email__iexact=email).exists():
        # The admin can see their own members: this reveals nothing about other businesses.
        # A conflict with what exists, not bad input: the API answers 409.
        message = "This person is already a member of the business."
        raise ValidationError({"email": ValidationError(message, code="conflict")})
    key = INVITATION_KEY_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + datetime.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    invitation, _ = Invitation.objects.update_or_create(
        business=business,
        email=email,
        accepted_at=None,
        defaults={
            "role": role,
            "key_hash": hash_api_key(key),
            "expires_at": expires_at,
            "invited_by": invited_by,
        },
    )
    return invitation, key


@transaction.atomic
def invitation_accept(
    *, key: str, user: User | None = None, password: str | None = None, address: str | None = None
) -> User:
    """Accept the invitation with ``key``: its person becomes a member of its business.

    - ``user``: someone logged in accepts for themselves; the invitation must be for their
      address.
    - otherwise, for an address without an account, ``password`` is the password the person
      chooses and the account is created now;
    - for an address that has an account, ``password`` must be that account's password
      (checked and throttled like a log-in; ``LoginThrottled`` when refused): an invitation
      never sets or replaces the password of an existing account.

    The invitation then stops working. Only the business that issued it gains a member: the
    account's other memberships and other businesses' invitations stay as they were. Any
    problem with the key answers the same message.
    """
    invitation = invitation_for_key(key, for_update=True)
    if invitation is None:
        raise ValidationError({"token": INVALID_INVITATION})
    if user is not None:
        if user.email.lower() != invitation.email.lower() or not user.is_active:
            raise ValidationError({"token": OTHER_ADDRESS})
    else:
        user = _invitee_account(invitation=invitation, password=password or "", address=address)
    membership, created = Membership.objects.get_or_create(
        business=invitation.business, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return user


def _invitee_account(*, invitation: Invitation, password: str, address: str | None) -> User:
    from accounts.backends import credentials_verify

    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        user = credentials_verify(email=invitation.email, password=password, address=address)
        if user is None or user.pk != existing.pk:
            raise ValidationError({"password": WRONG_INVITATION_PASSWORD})
        return user
    user = User(email=invitation.email)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    user.full_clean()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the address got an account at this very moment: it must log in
        raise ValidationError({"password": WRONG_INVITATION_PASSWORD}) from None
    return user


@transaction.atomic
def membership_update(*, membership: Membership, role: str) -> Membership:
    """Change a member's role; the business's last admin stays an admin."""
    _check_role(role)
    _lock_business(membership.business)
    row_lock(membership, missing="No such member.")
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.ADMIN and role != Role.ADMIN and _admin_count(membership.business) <= 1:
        raise ValidationError({"role": ValidationError(LAST_ADMIN, code="conflict")})
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Take a member out of the business (their account stays); never its last admin."""
    _lock_business(membership.business)
    row_lock(membership, missing="No such member.")
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.ADMIN and _admin_count(membership.business) <= 1:
        raise ValidationError(LAST_ADMIN, code="conflict")
    membership.delete()


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
