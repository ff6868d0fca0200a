"""End users' accounts on a portal host: sign-up, log-in, log-out, e-mail verification, password
reset and the account page. Thin: the rules are ``portal.accounts`` (and ``claiming.services``
under it); these views read forms, call them and say what happened on the page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.views.decorators.http import require_http_methods

from accounts.backends import request_address
from claiming import selectors, services
from claiming.authentication import PORTAL_SESSION_COOKIE
from claiming.models import LinkPurpose
from portal import accounts
from portal.page_forms import (
    AccountForm,
    EmailForm,
    LoginForm,
    PasswordChangeForm,
    SetPasswordForm,
    SignupForm,
    VerifyForm,
)
from portal.presenters import render_page
from portal.sessions import (
    end_user_required,
    page_end_user,
    safe_next,
    session_cookie_clear,
    session_cookie_set,
)

# The log-in page has two forms with an e-mail field: the resend form's ids differ.
RESEND_IDS = "id_resend_%s"

NOT_VERIFIED = "Confirm your e-mail address first: open the link in the welcome e-mail."


def _next(request, default: str = "/devices/") -> str:
    return safe_next(request.POST.get("next") or request.GET.get("next"), default)


def _posted(request):
    """The form's data on POST (even an empty one: a form of no fields is bound), else None."""
    return request.POST if request.method == "POST" else None


def _ip(request) -> str:
    return request_address(request) or ""


def _check_email(request, email: str, kind: str):
    """ "Check your e-mail": the same page whether or not the address has an account."""
    return render_page(request, "portal/check_email.html", {"email": email, "kind": kind})


def _throttled_text(exc: services.Refused, what: str) -> str:
    n = accounts.minutes(exc.retry_after or 60)
    return f"{what}; try again in {n} minute{'s' if n != 1 else ''}."


@require_http_methods(["GET", "HEAD", "POST"])
def signup(request):
    """``/signup/``: e-mail and name → "check your e-mail" (the same page whether or not the
    address already has an account); the password is chosen from the e-mail's link."""
    next_path = _next(request, "")
    form = SignupForm(_posted(request))
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            accounts.signup(
                connector=request.portal_connector, email=data["email"], name=data["name"],
                ip=_ip(request), next_path=next_path,
            )  # fmt: skip
        except ValidationError as exc:
            form.add_service_errors(exc)
            status = 400
        except accounts.AccountRefused as exc:
            form.add_error(None, _throttled_text(exc, "Too many sign-ups from this network"))
            status = 429
        else:
            return _check_email(request, data["email"], "signup")
    elif request.method == "POST":
        status = 400
    return render_page(
        request, "portal/signup.html", {"form": form, "next": next_path, "nav": "signup"}, status=status
    )


@require_http_methods(["GET", "HEAD", "POST"])
def login(request):
    """``/login/``: log in and go to ``next``. A user who has not confirmed their address can ask
    for the welcome e-mail again (``action=resend``)."""
    next_path = _next(request)
    if request.method == "POST" and request.POST.get("action") == "resend":
        return _resend(request, next_path)
    form = LoginForm(_posted(request))
    context = {"form": form, "next": next_path, "nav": "login", "resend_form": None}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                key = services.session_start(
                    connector=request.portal_connector, email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"], ip=_ip(request),
                )  # fmt: skip
            except services.SessionRefused as exc:
                status = exc.status
                if exc.status == 429:
                    form.add_error(None, _throttled_text(exc, "Too many failed log-ins"))
                elif exc.reason == "not_verified":
                    form.add_error(None, NOT_VERIFIED)
                    context["resend_form"] = EmailForm(
                        initial={"email": form.cleaned_data["email"]}, auto_id=RESEND_IDS
                    )
                else:
                    form.add_error(None, exc.message)
            else:
                response = HttpResponseRedirect(next_path)
                session_cookie_set(response, key)
                return response
    return render_page(request, "portal/login.html", context, status=status)


def _resend(request, next_path: str):
    form = EmailForm(request.POST, auto_id=RESEND_IDS)
    status = 200
    if form.is_valid():
        try:
            accounts.welcome_resend(
                connector=request.portal_connector, email=form.cleaned_data["email"], ip=_ip(request),
                next_path=next_path if next_path != "/devices/" else "",
            )  # fmt: skip
        except accounts.AccountRefused as exc:
            messages.error(request, _throttled_text(exc, "Too many e-mails asked for"))
            status = 429
        else:
            return _check_email(request, form.cleaned_data["email"], "resend")
    else:
        status = 400
    context = {"form": LoginForm(), "next": next_path, "nav": "login", "resend_form": form}
    return render_page(request, "portal/login.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def logout(request):
    """``/logout/``: POST ends this browser's session (GET shows the button)."""
    if request.method == "POST":
        key = request.COOKIES.get(PORTAL_SESSION_COOKIE, "")
        services.session_end(key=key)
        response = HttpResponseRedirect("/")
        session_cookie_clear(response)
        return response
    return render_page(request, "portal/logout.html", {"title": "Log out"})


def _link_gone(request, *, purpose: str):
    return render_page(request, "portal/link_gone.html", {"purpose": purpose}, status=404)


@require_http_methods(["GET", "HEAD", "POST"])
def verify(request, key):
    """``/verify/<key>/``: the welcome e-mail's link. GET only shows the page (mail scanners fetch
    links); POST confirms the address (with a new password for a user who has none), logs the
    user in and goes to ``next`` (the claim they came from)."""
    connector = request.portal_connector
    user = selectors.link_user(connector, key, LinkPurpose.VERIFY)
    if user is None or user.blocked:
        return _link_gone(request, purpose="verify")
    needs_password = accounts.verify_needs_password(user)
    form = VerifyForm(_posted(request), needs_password=needs_password)
    next_path = _next(request)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                done = accounts.verify(
                    connector=connector, key=key, password=form.cleaned_data.get("password") or None
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                if done is None:
                    return _link_gone(request, purpose="verify")
                _, session_key = done
                messages.success(request, "Your e-mail address is confirmed. Welcome!")
                response = HttpResponseRedirect(next_path)
                session_cookie_set(response, session_key)
                return response
    return render_page(
        request, "portal/verify.html",
        {"form": form, "next": next_path, "verify_email": user.email, "needs_password": needs_password},
        status=status,
    )  # fmt: skip


@require_http_methods(["GET", "HEAD", "POST"])
def password_reset_request(request):
    """``/password-reset/``: an e-mail address → always "if an account exists, we sent a link"."""
    form = EmailForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                accounts.password_reset_request(
                    connector=request.portal_connector, email=form.cleaned_data["email"], ip=_ip(request)
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            except accounts.AccountRefused as exc:
                form.add_error(None, _throttled_text(exc, "Too many password reset requests"))
                status = 429
            else:
                return _check_email(request, form.cleaned_data["email"], "reset")
    return render_page(request, "portal/password_reset.html", {"form": form}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def password_reset_confirm(request, key):
    """``/password-reset/<key>/``: a new password twice; every session of the user ends."""
    connector = request.portal_connector
    if selectors.link_user(connector, key, LinkPurpose.PASSWORD_RESET) is None:
        return _link_gone(request, purpose="reset")
    form = SetPasswordForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = accounts.password_reset_confirm(
                    connector=connector, key=key, password=form.cleaned_data["password"]
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                if user is None:
                    return _link_gone(request, purpose="reset")
                messages.success(request, "Your password is changed. Log in with the new one.")
                response = HttpResponseRedirect("/login/")
                session_cookie_clear(response)
                return response
    return render_page(request, "portal/password_reset_confirm.html", {"form": form}, status=status)


@end_user_required
@require_http_methods(["GET", "HEAD", "POST"])
def account(request):
    """``/account/``: name and firmware e-mails, the password, log out everywhere
    (``action`` = ``settings`` | ``password`` | ``logout_all``)."""
    user = page_end_user(request)
    action = request.POST.get("action") if request.method == "POST" else None
    settings_form = AccountForm(
        request.POST if action == "settings" else None,
        initial={"name": user.name, "firmware_emails": user.firmware_emails},
    )
    password_form = PasswordChangeForm(request.POST if action == "password" else None)
    status = 200
    if action == "settings":
        status = 400
        if settings_form.is_valid():
            try:
                accounts.account_update(
                    user=user, name=settings_form.cleaned_data["name"],
                    firmware_emails=settings_form.cleaned_data["firmware_emails"],
                )  # fmt: skip
            except ValidationError as exc:
                settings_form.add_service_errors(exc)
            else:
                messages.success(request, "Your settings are saved.")
                return HttpResponseRedirect("/account/")
    elif action == "password":
        status = 400
        if password_form.is_valid():
            try:
                key = accounts.password_change(
                    user=user, current=password_form.cleaned_data["current_password"],
                    new=password_form.cleaned_data["password"], ip=_ip(request),
                )  # fmt: skip
            except ValidationError as exc:
                password_form.add_service_errors(exc)
            except accounts.AccountRefused as exc:
                password_form.add_error(None, _throttled_text(exc, "Too many wrong passwords"))
                status = 429
            else:
                messages.success(request, "Your password is changed. Your other sessions have ended.")
                response = HttpResponseRedirect("/account/")
                session_cookie_set(response, key)
                return response
    elif action == "logout_all":
        accounts.log_out_everywhere(user=user)
        messages.success(request, "You are logged out everywhere.")
        response = HttpResponseRedirect("/login/")
        session_cookie_clear(response)
        return response
    elif action is not None:
        status = 400
    return render_page(
        request, "portal/account.html",
        {"settings_form": settings_form, "password_form": password_form, "nav": "account"},
        status=status,
    )  # fmt: skip
