"""The Content-Security-Policy of the portal's pages.

The platform's policy (``settings.CONTENT_SECURITY_POLICY``, added by
``murano.security.WebSecurityMiddleware`` to responses that have none) allows our own files
only. Portal pages differ in two ways: managed applications' logos are https links of other
sites (``img-src … https:``), and nothing on a portal needs a ``<base>`` (``base-uri 'none'``).
Scripts, styles, fonts and connections stay our own (``default-src 'self'``): no inline code.
"""

from django.http import HttpResponse

PORTAL_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def portal_csp(response: HttpResponse) -> HttpResponse:
    """Give a portal page (not the JSON API) the portal's policy."""
    response.headers["Content-Security-Policy"] = PORTAL_CONTENT_SECURITY_POLICY
    return response
