"""End users' accounts on the portal's pages: sign-up, the welcome e-mail again, e-mail
verification, password reset, and the account's settings. The rules of end users, links and
sessions are ``claiming.services``'; this module decides what the portal's pages do with them.

None of these answers tells a visitor whether an e-mail address has an account: signing up with
a known address, asking for the welcome e-mail again or for a password reset all look the same
on the page, and the difference goes to the address's own mailbox (a new welcome link, an "you
already have an account" e-mail, a reset link — or nothing). E-mails are sent by workers
(``task_send_on_commit``), so the page takes the same time either way.

Sign-ups and those e-mail requests are throttled per client address (and reset requests per
e-mail address too), in Django's cache like the claim and log-in throttles
(``core.throttle``): a page cannot be used to flood someone's mailbox.
"""

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from claiming import selectors
from claiming import services as claiming
from claiming.models import EndUser, LinkPurpose
from claiming.services.users import email_clean
from claiming.throttle import login_failed, login_retry_after
from connectors.models import Connector
from connectors.selectors import portal_url
from core.tasks import task_send_on_commit
from core.throttle import Throttle, address_key, record_failure, retry_after
from portal.branding import branding_of


class AccountRefused(claiming.Refused):
    """A request the portal's pages refuse: 429 too many of them (``retry_after`` seconds)."""


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _throttle(scope: str, limit_setting: str, default: int, window: int = 3600) -> Throttle:
    return Throttle(scope, limit=_limit(limit_setting, default), window=window)


def _signup_checks(ip: str) -> list:
    # Sign-ups and "send the welcome e-mail again" share one count per client address.
    return [(_throttle("portal-signup-address", "PORTAL_SIGNUPS_PER_ADDRESS", 10), address_key(ip or "-"))]


def _reset_checks(connector: Connector, email: str, ip: str) -> list:
    return [
        (_throttle("portal-reset-email", "PORTAL_RESETS_PER_EMAIL", 5),
         f"{connector.pk}:{email.strip().lower()}"),
        (_throttle("portal-reset-address", "PORTAL_RESETS_PER_ADDRESS", 20), address_key(ip or "-")),
    ]  # fmt: skip


def _count(checks: list, message: str) -> None:
    """Refuse when a check is over its limit, else count this request."""
    wait = retry_after(*checks)
    if wait:
        raise AccountRefused(429, message, reason="throttled", retry_after=wait)
    record_failure(*checks)


def minutes(seconds: int) -> int:
    """Whole minutes to wait (at least 1), for the pages' "try again in N minutes"."""
    return max(1, -(-int(seconds) // 60))


def _welcome_again(user: EndUser, next_path: str) -> None:
    task_send_on_commit(
        "claiming.welcome_email", user.pk, next_path,
        later="the welcome e-mail was not sent (ask for it again from the log-in page)",
    )  # fmt: skip


def signup(*, connector: Connector, email: str, name: str, ip: str, next_path: str) -> None:
    """Sign up on ``connector``'s portal. A new address becomes an unverified end user without a
    password and gets the welcome e-mail, whose link confirms the address, asks for the password
    and leads to ``next_path``. The password is chosen there, never here: whoever signs up an
    address first must not hold the account its owner confirms later (the account
    pre-hijacking attack). A known address changes nothing: an unverified user gets a new welcome
    link, a verified one an e-mail saying they have an account (with the log-in and password
    reset pages); a blocked one nothing. ``ValidationError`` for a bad address (the same for
    every address), ``AccountRefused`` (429) past the sign-ups allowed per client address."""
    email = email_clean(email)
    _count(_signup_checks(ip), "Too many sign-ups from this network; try again later.")
    user = selectors.end_user_by_email(connector, email)
    if user is None:
        try:
            user = claiming.end_user_create(connector=connector, email=email, name=name)
        except ValidationError as exc:
            if "email" not in getattr(exc, "error_dict", {}):
                raise
            # Created meanwhile by someone else: answered as for any known address.
            user = selectors.end_user_by_email(connector, email)
            if user is None:
                raise
        else:
            _welcome_again(user, next_path)
            return
    if user.blocked:
        return
    if not user.verified:
        _welcome_again(user, next_path)
        return
    task_send_on_commit(
        "portal.account_exists_email", user.pk, later="the 'you already have an account' e-mail was not sent"
    )


def welcome_resend(*, connector: Connector, email: str, ip: str, next_path: str) -> None:
    """ "Send the e-mail again" for a user who cannot log in yet: a new welcome link if the address
    has an unverified, unblocked account; nothing otherwise (the page says the same)."""
    _count(_signup_checks(ip), "Too many e-mails asked for from this network; try again later.")
    user = selectors.end_user_by_email(connector, email)
    if user is not None and not user.verified and not user.blocked:
        _welcome_again(user, next_path)


def verify_needs_password(user: EndUser) -> bool:
    """Whether using a verify link must set the password: always while the address is not
    confirmed (a password set before that was not chosen by the mailbox's owner: a product
    manager's, or someone's who signed the address up first), and for a user who has none."""
    return not user.verified or not user.password_hash


def verify(*, connector: Connector, key: str, password: str | None) -> tuple[EndUser, str] | None:
    """Use a ``verify`` link: the address is confirmed (and ``password`` set: required when
    ``verify_needs_password``) and the user is logged in. ``(user, session key)``; None for a
    link that is unknown, used, expired or another portal's, or a blocked user's.
    ``ValidationError`` on ``password`` (the link is left unused)."""
    user = selectors.link_user(connector, key, LinkPurpose.VERIFY)
    if user is None or user.blocked:
        return None
    if password is None and verify_needs_password(user):
        raise ValidationError({"password": "Choose a password."})
    user = claiming.link_use(connector=connector, key=key, purpose=LinkPurpose.VERIFY, password=password)
    if user is None:
        return None
    return user, claiming.session_create(user=user)


def password_reset_request(*, connector: Connector, email: str, ip: str) -> None:
    """ "Forgot my password": a known, unblocked user gets a reset link (an unverified one the
    welcome e-mail instead: its link confirms the address and sets a password). Nothing tells
    the visitor which happened. ``AccountRefused`` (429) past the requests allowed for the
    address or from the client's network."""
    email = email_clean(email)
    _count(_reset_checks(connector, email, ip), "Too many password reset requests; try again later.")
    user = selectors.end_user_by_email(connector, email)
    if user is None or user.blocked:
        return
    if not user.verified:
        _welcome_again(user, "")
        return
    task_send_on_commit(
        "portal.password_reset_email", user.pk, later="the password reset e-mail was not sent"
    )


def password_reset_confirm(*, connector: Connector, key: str, password: str) -> EndUser | None:
    """Use a ``password_reset`` link: the new password is set and every session of the user ends
    (they log in again). None for a bad link; ``ValidationError`` on ``password``."""
    return claiming.link_use(
        connector=connector, key=key, purpose=LinkPurpose.PASSWORD_RESET, password=password
    )


def password_change(*, user: EndUser, current: str, new: str, ip: str) -> str:
    """Change the password of a logged-in user who knows the current one: every session ends,
    and a new one (for this browser) is returned. A wrong current password counts as a failed
    log-in (``ValidationError`` on ``current_password``; ``AccountRefused`` 429 when throttled)."""
    wait = login_retry_after(connector_id=user.connector_id, email=user.email, ip=ip)
    if wait:
        raise AccountRefused(429, "Too many wrong passwords; try again later.", retry_after=wait)
    if not user.password_hash or not check_password(current or "", user.password_hash):
        login_failed(connector_id=user.connector_id, email=user.email, ip=ip)
        raise ValidationError({"current_password": "This is not your current password."})
    claiming.end_user_password_set(user=user, password=new)
    return claiming.session_create(user=user)


def account_update(*, user: EndUser, name: str, firmware_emails: bool) -> EndUser:
    """The account page's settings: the user's name and whether firmware notices are e-mailed."""
    return claiming.end_user_update(user=user, name=name, firmware_emails=bool(firmware_emails))


def log_out_everywhere(*, user: EndUser) -> None:
    claiming.sessions_end_all(user=user)


# ---- E-mails (sent by workers: ``portal.tasks``) ------------------------------------------------


def _send(user: EndUser, *, subject: str, template: str, context: dict) -> None:
    branding = branding_of(user.connector)
    title = branding.get("title") or user.connector.name or user.connector.pk
    context = {
        **context,
        "title": title,
        "company": branding.get("companyName") or "",
        "user_name": user.name,
        "portal_url": portal_url(user.connector),
    }
    subject = " ".join(subject.format(title=title).split())
    message = EmailMultiAlternatives(
        subject,
        render_to_string(f"portal/email/{template}.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )
    message.attach_alternative(render_to_string(f"portal/email/{template}.html", context), "text/html")
    message.send()


def password_reset_email(*, user_id: int) -> None:
    """E-mail end user ``user_id`` a one-time link to choose a new password (``PASSWORD_RESET``,
    valid for a day), in the portal's branding. A deleted or blocked user gets nothing."""
    user = EndUser.objects.select_related("connector").filter(pk=user_id).first()
    if user is None or user.blocked:
        return
    key = claiming.link_create(user=user, purpose=LinkPurpose.PASSWORD_RESET)
    link = f"{portal_url(user.connector)}password-reset/{key}/"
    _send(user, subject="Reset your password for {title}", template="password_reset", context={"link": link})


def account_exists_email(*, user_id: int) -> None:
    """E-mail a verified end user who signed up again: they have an account (log in, or reset
    the password)."""
    user = EndUser.objects.select_related("connector").filter(pk=user_id).first()
    if user is None or user.blocked:
        return
    base = portal_url(user.connector)
    _send(
        user,
        subject="You already have an account on {title}",
        template="account_exists",
        context={"login_url": f"{base}login/", "reset_url": f"{base}password-reset/"},
    )
