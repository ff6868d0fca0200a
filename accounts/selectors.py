"""Reads about accounts: who belongs where, with which role."""

from accounts.models import Business, Membership, Role, User

# What each role may do, in one place.
_WRITE_ROLES = {Role.ADMIN, Role.DEVELOPER}
_ADMIN_ROLES = {Role.ADMIN}


def businesses_for_user(user: User):
    """The businesses ``user`` may see: all of them for a superuser, else their own."""
    if user.is_superuser:
        return Business.objects.all()
    return Business.objects.filter(memberships__user=user)


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
