"""Reads about accounts: who belongs where, with which role."""

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.http import Http404
from django.utils import timezone

from accounts.models import Business, Invitation, Membership, Role, User, hash_api_key

# What each role may do, in one place.
_WRITE_ROLES = {Role.ADMIN, Role.DEVELOPER}
_ADMIN_ROLES = {Role.ADMIN}


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


def membership_list(*, business: Business) -> QuerySet[Membership]:
    """The business's members, by e-mail address."""
    return Membership.objects.filter(business=business).select_related("user").order_by("user__email")


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
