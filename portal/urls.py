"""The URLs of a portal host (``portal.middleware``): the end users' pages, the branding files
at the seed's ``/vendor/…`` paths, and the portal's JSON API under ``api/``. Nothing of the
platform is routed here. Route names start with ``portal-`` (this is a root URLconf of its
own: ``reverse(name, urlconf="portal.urls")``, or ``{% url %}`` in a portal request)."""

from django.urls import include, path

from portal.views import accounts, errors, files, pages

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

_device = "devices/<rest:identity>/"

urlpatterns = [
    path("", pages.landing, name="portal-landing"),
    # Accounts of end users (this portal's connector only).
    path("signup/", accounts.signup, name="portal-signup"),
    path("login/", accounts.login, name="portal-login"),
    path("logout/", accounts.logout, name="portal-logout"),
    path("verify/<segment:key>/", accounts.verify, name="portal-verify"),
    path("password-reset/", accounts.password_reset_request, name="portal-password-reset"),
    path(
        "password-reset/<segment:key>/", accounts.password_reset_confirm, name="portal-password-reset-confirm"
    ),
    path("account/", accounts.account, name="portal-account"),
    # Claiming and the user's devices.
    path("claim/", pages.claim, name="portal-claim"),
    path("devices/", pages.device_list, name="portal-device-list"),
    path(_device + "state/", pages.device_state, name="portal-device-state"),
    path(_device + "firmware/", pages.device_firmware, name="portal-device-firmware"),
    path(_device + "release/", pages.device_release, name="portal-device-release"),
    path(_device, pages.device_detail, name="portal-device-detail"),
    path("apps/", pages.apps, name="portal-apps"),
    path("notices/<int:notice_id>/dismiss/", pages.notice_dismiss, name="portal-notice-dismiss"),
    # Branding files (the seed's paths) and the theme's colours as a style sheet.
    path("vendor/<str:name>", files.vendor_file, name="portal-vendor-file"),
    path("theme.css", files.theme_css, name="portal-theme-css"),
    path("api/", include("claiming.api.portal_urls")),
]
