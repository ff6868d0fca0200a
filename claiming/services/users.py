"""End users of a connector's portal (one directory per connector) and their one-time links."""

from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from claiming.models import (
    LINK_KEY_PREFIX,
    EndUser,
    EndUserLink,
    EndUserSession,
    LinkPurpose,
    key_hash,
    key_new,
)
from claiming.services.claims import TAG_USERS
from connectors.models import Connector
from core.db import row_lock
from devices.events import EventType, event_emit
from devices.models import DeviceTag

VERIFY_LINK_DAYS = 7
PASSWORD_RESET_LINK_HOURS = 24


# --- end users -------------------------------------------------------------------------------


def email_clean(email, field: str = "email") -> str:
    """An e-mail address, trimmed, with its domain in lower case (the local part is kept as
    given; uniqueness ignores case anyway)."""
    if not isinstance(email, str) or not email.strip():
        raise ValidationError({field: "an e-mail address is required"})
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({field: "enter a valid e-mail address"}) from None
    if len(email) > 254:
        raise ValidationError({field: "at most 254 characters"})
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def _email_taken(connector: Connector) -> ValidationError:
    message = "an end user with this e-mail address already exists"
    return ValidationError({"email": ValidationError(message, code="conflict")})


def _user_data_clean(user_data) -> dict:
    if user_data is None:
        return {}
    if not isinstance(user_data, dict) or not all(isinstance(k, str) for k in user_data):
        raise ValidationError({"user_data": "must be an object"})
    return user_data


def _password_clean(user: EndUser, password) -> str:
    if not isinstance(password, str) or not password:
        raise ValidationError({"password": "a password is required"})
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    return make_password(password)


@transaction.atomic
def end_user_create(
    *,
    connector: Connector,
    email: str,
    name: str = "",
    password: str | None = None,
    verified: bool = False,
    user_data: dict | None = None,
) -> EndUser:
    """A new end user of ``connector``'s portal. The e-mail address is unique per connector,
    whatever its case (``conflict`` on ``email`` otherwise)."""
    email = email_clean(email)
    if not isinstance(name, str) or len(name) > 200:
        raise ValidationError({"name": "a text of at most 200 characters"})
    user = EndUser(
        connector=connector,
        email=email,
        name=name.strip(),
        verified=bool(verified),
        user_data=_user_data_clean(user_data),
    )
    if password is not None:
        user.password_hash = _password_clean(user, password)
    if EndUser.objects.filter(connector=connector, email__iexact=email).exists():
        raise _email_taken(connector)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a racing create of the same address
        raise _email_taken(connector) from None
    return user


_UPDATABLE = ("name", "email", "verified", "blocked", "user_data", "firmware_emails")


@transaction.atomic
def end_user_update(*, user: EndUser, **fields) -> EndUser:
    """Change ``name``, ``email``, ``verified``, ``blocked``, ``firmware_emails`` or ``user_data``.
    Blocking ends the user's sessions (they cannot log in until unblocked)."""
    unknown = sorted(set(fields) - set(_UPDATABLE))
    if unknown:
        raise ValidationError({name: "cannot be changed" for name in unknown})
    row_lock(user, missing="No such end user.")
    changed = []
    if "email" in fields:
        email = email_clean(fields["email"])
        if email != user.email:
            others = EndUser.objects.filter(connector_id=user.connector_id, email__iexact=email)
            if others.exclude(pk=user.pk).exists():
                raise _email_taken(user.connector)
            user.email = email
            changed.append("email")
    if "name" in fields:
        name = fields["name"]
        if not isinstance(name, str) or len(name) > 200:
            raise ValidationError({"name": "a text of at most 200 characters"})
        user.name = name.strip()
        changed.append("name")
    for flag in ("verified", "blocked", "firmware_emails"):
        if flag in fields:
            if not isinstance(fields[flag], bool):
                raise ValidationError({flag: "must be true or false"})
            setattr(user, flag, fields[flag])
            changed.append(flag)
    if "user_data" in fields:
        user.user_data = _user_data_clean(fields["user_data"])
        changed.append("user_data")
    if changed:
        try:
            with transaction.atomic():
                user.save(update_fields=changed)
        except IntegrityError:
            raise _email_taken(user.connector) from None
    if user.blocked:
        EndUserSession.objects.filter(user=user).delete()
    return user


@transaction.atomic
def end_user_password_set(*, user: EndUser, password: str) -> EndUser:
    """Set the user's password (Django's password validators apply); their sessions end."""
    row_lock(user, missing="No such end user.")
    user.password_hash = _password_clean(user, password)
    user.save(update_fields=["password_hash"])
    EndUserSession.objects.filter(user=user).delete()
    return user


@transaction.atomic
def end_user_delete(*, user: EndUser) -> None:
    """Delete an end user: they no longer own any device (their id leaves the ``users`` tags)."""
    owned = DeviceTag.objects.filter(connector_id=user.connector_id, name=TAG_USERS, value=str(user.pk))
    identities = list(owned.values_list("identity", flat=True))
    owned.delete()
    user_id, email, connector_id = user.pk, user.email, user.connector_id
    user.delete()
    payload = {"end_user": user_id, "email": email, "by": "end user deleted"}
    transaction.on_commit(lambda: _emit_each(connector_id, EventType.RELEASED, identities, payload))


def _emit_each(connector_id: str, type: EventType, identities, payload) -> None:
    for identity in identities:
        event_emit(
            connector_id=connector_id, type=type, identity=identity, protocol="portal", payload=payload
        )


# --- one-time links --------------------------------------------------------------------------


@transaction.atomic
def link_create(*, user: EndUser, purpose: str) -> str:
    """A one-time link key for ``user`` (``verify``: the welcome e-mail's, to confirm the address
    and choose a password; ``password_reset``). Only its hash is stored."""
    key = key_new(LINK_KEY_PREFIX)
    lifetime = (
        timedelta(days=VERIFY_LINK_DAYS)
        if purpose == LinkPurpose.VERIFY
        else timedelta(hours=PASSWORD_RESET_LINK_HOURS)
    )
    EndUserLink.objects.create(
        user=user, purpose=purpose, key_hash=key_hash(key), expires_at=timezone.now() + lifetime
    )
    return key


@transaction.atomic
def link_use(*, connector: Connector, key: str, purpose: str, password: str | None = None) -> EndUser | None:
    """Use a one-time link: None when it is unknown, used, expired or another connector's. A
    ``verify`` link confirms the address; with ``password`` the user's password is set too."""
    link = (
        EndUserLink.objects.select_for_update()
        .select_related("user")
        .filter(
            key_hash=key_hash(key or ""),
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__connector=connector,
        )
        .first()
    )
    if link is None:
        return None
    user = link.user
    if password is not None:
        end_user_password_set(user=user, password=password)
    if purpose == LinkPurpose.VERIFY and not user.verified:
        user.verified = True
        user.save(update_fields=["verified"])
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    return user
