"""Reads about accounts: who belongs where, with which role."""

from django.core.exceptions import PermissionDenied
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.http import Http404
from django.utils import timezone

from accounts.models import Business, Invitation, Membership, Role, User, hash_api_key

# What each role may do, in one place.
_WRITE_ROLES = {Role.ADMIN, Role.DEVELOPER}
_ADMIN_ROLES = {Role.ADMIN}

# The actions an access check asks about (``role_require``): reading is for every member, writing
# for admins and developers, administering (members, deleting a connector) for admins.
READ, WRITE, ADMIN = "read", "write", "admin"
READ_ONLY_MESSAGE = "Your role in this business is read-only."
ADMINS_ONLY_MESSAGE = "Only business admins may do this."


def action_for_method(method: str) -> str:
    """The action an HTTP method asks for: ``read`` for GET, HEAD and OPTIONS, else ``write``."""
    return READ if method.upper() in ("GET", "HEAD", "OPTIONS") else WRITE


def role_require(role: str | None, action: str, *, admins_only_message: str = ADMINS_ONLY_MESSAGE) -> None:
    """``PermissionDenied`` (a 403 with its message, in the API and the UI alike) unless ``role``
    may do ``action``. The one statement of what roles allow, used by every access check."""
    if action == WRITE and not role_can_write(role):
        raise PermissionDenied(READ_ONLY_MESSAGE)
    if action == ADMIN and not role_can_administer(role):
        raise PermissionDenied(admins_only_message)


def businesses_for_user(user: User) -> QuerySet[Business]:
    """The businesses ``user`` may see: all of them for a superuser, else their own.

    The one scoping function for businesses: every view that names a business goes through it,
    so someone else's business is simply not there (404), whether it exists or not.
    """
    if not user.is_authenticated:
        return Business.objects.none()
    if user.is_superuser:
        return Business.objects.all()
    return Business.objects.filter(memberships__user=user)


def businesses_with_role_for_user(user: User) -> QuerySet[Business]:
    """:func:`businesses_for_user`, each annotated with ``role``: the user's role in it."""
    businesses = businesses_for_user(user)
    if user.is_authenticated and user.is_superuser:
        # Superusers act as admins everywhere, member or not.
        return businesses.annotate(role=Value(Role.ADMIN, output_field=CharField()))
    own = Membership.objects.filter(business=OuterRef("pk"), user=user).values("role")[:1]
    return businesses.annotate(role=Subquery(own))


def business_get_for_user(*, user: User, business_id: int) -> Business:
    """The business, annotated with the user's ``role``; ``Http404`` if they may not see it."""
    business = businesses_with_role_for_user(user).filter(pk=business_id).first()
    if business is None:
        raise Http404("No such business.")
    return business


def business_access(*, user: User, business_id: int, action: str = READ,
                    admins_only_message: str = ADMINS_ONLY_MESSAGE) -> Business:  # fmt: skip
    """The business, annotated with the user's ``role``, if they may see it (else ``Http404``)
    and do ``action`` in it (else ``PermissionDenied``)."""
    business = business_get_for_user(user=user, business_id=business_id)
    role_require(business.role, action, admins_only_message=admins_only_message)
    return business


def businesses_writable_for_user(user: User) -> list[Business]:
    """The businesses ``user`` may create things in (admin or developer), by name."""
    return [b for b in businesses_with_role_for_user(user).order_by("name") if role_can_write(b.role)]


def membership_list(*, business: Business) -> QuerySet[Membership]:
    """The business's members, by e-mail address."""
    return Membership.objects.filter(business=business).select_related("user").order_by("user__email")


def business_admin_emails(*, business_id: int) -> list[str]:
    """The e-mail addresses of the business's admins, sorted: who is told when something of the
    business needs attention and no one else was named."""
    return sorted(
        set(
            Membership.objects.filter(business_id=business_id, role=Role.ADMIN)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def membership_get(*, business: Business, membership_id: int) -> Membership:
    """One member of the business; ``Http404`` for a membership of another business."""
    membership = membership_list(business=business).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def role_in_business(*, user: User, business_id: int) -> str | None:
    """The user's role in the business (superusers act as admins everywhere)."""
    if user.is_superuser:
        return Role.ADMIN
    return (
        Membership.objects.filter(user=user, business_id=business_id).values_list("role", flat=True).first()
    )


def role_can_write(role: str | None) -> bool:
    return role in _WRITE_ROLES


def role_can_administer(role: str | None) -> bool:
    return role in _ADMIN_ROLES


def invitation_for_key(key: str, *, for_update: bool = False) -> Invitation | None:
    """The pending, unexpired invitation whose key this is, with its business; else ``None``."""
    invitations = Invitation.objects.select_related("business")
    if for_update:
        invitations = invitations.select_for_update(of=("self",))
    return invitations.filter(
        key_hash=hash_api_key(key), accepted_at__isnull=True, expires_at__gt=timezone.now()
    ).first()


def account_exists(email: str) -> bool:
    """Whether someone has an account with this e-mail address. Only for whoever holds an
    invitation to it (which page to show them): never in an answer to the inviting admin."""
    return User.objects.filter(email__iexact=email).exists()
