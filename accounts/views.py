"""Web UI of accounts: the throttled log-in and the page where an invitation is accepted.

Adapters like the API's: the password checks and their throttling live in accounts/backends.py,
accepting an invitation in ``accounts.services.invitation_accept``.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import services
from accounts.backends import login_retry_after
from accounts.forms import InvitationPasswordForm, LoginForm
from accounts.selectors import account_exists, invitation_for_key


class LoginView(auth_views.LoginView):
    """Django's log-in page; refused for too many failures it says so and answers ``429``."""

    form_class = LoginForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
            response["Retry-After"] = str(login_retry_after(self.request))
        return response


@require_http_methods(["GET", "POST"])
def invitation_page(request, key: str):
    """An invitation's link. What the page offers depends on who opens it:

    - logged in with the invited address: a button to join the business;
    - logged in as someone else: nothing to accept (log out first);
    - not logged in, the address has an account: log in first (and come back here);
    - not logged in, no account yet: choose a password, which creates the account and joins.
    """
    invitation = invitation_for_key(key)
    if invitation is None:
        return render(request, "accounts/invitation.html", {"state": "invalid"}, status=404)
    user = request.user
    if user.is_authenticated:
        state = "accept" if user.email.lower() == invitation.email.lower() else "other"
    else:
        state = "login" if account_exists(invitation.email) else "new"
    form = InvitationPasswordForm(request.POST or None) if state == "new" else None
    if request.method == "POST" and state in ("accept", "new"):
        if state == "accept":
            accepted = _accept(request, key=key, user=user)
        elif form.is_valid():
            accepted = _accept(request, key=key, password=form.cleaned_data["password1"], form=form)
        else:
            accepted = None
        if accepted is not None:
            if state == "new":
                login(request, accepted, backend="accounts.backends.EmailBackend")
            messages.success(
                request,
                f"You are now a member of {invitation.business.name} ({invitation.get_role_display()}).",
            )
            return redirect("connectors:connector-list")
        if form is None or not form.errors:
            # Accepted meanwhile, expired, or the address got an account: show the page afresh.
            return redirect(request.path)
    context = {"state": state, "invitation": invitation, "form": form}
    return render(request, "accounts/invitation.html", context, status=400 if form and form.errors else 200)


def _accept(request, *, key: str, form=None, **credentials):
    try:
        return services.invitation_accept(key=key, **credentials)
    except ValidationError as exc:
        errors = exc.message_dict
        if form is not None and "password" in errors:
            if services.WRONG_INVITATION_PASSWORD in errors["password"]:
                return None  # the address got an account meanwhile: the page now says to log in
            form.add_error("password1", errors["password"])
        elif "token" in errors:
            messages.error(request, errors["token"][0])
        return None
