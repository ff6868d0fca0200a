"""The welcome e-mail an end user gets when a device names them its owner (``pdaas_user_email``)
or when they sign up: a link to confirm the address and choose a password.

The portal composes it from the connector's own template and branding
(``claiming.hooks.welcome_email_compose``); this plain default is used when nothing answers. Sent
with Django's ``send_mail`` through the platform's e-mail settings.
"""

from urllib.parse import quote

from django.conf import settings
from django.core.mail import send_mail
from django.template import Context, Template
from django.utils.html import strip_tags

from claiming.hooks import welcome_email_compose
from claiming.models import EndUser
from connectors.selectors import portal_url

DEFAULT_SUBJECT = "{% autoescape off %}Welcome to {{ title }}{% endautoescape %}"
DEFAULT_HTML = """<p>Hello{% if name %} {{ name }}{% endif %},</p>
<p>A device of {{ title }} was registered to {{ email }}. Confirm your address and choose a
password to see and manage your devices:</p>
<p><a href="{{ link }}">{{ link }}</a></p>
<p>The link works once, for 7 days. If you did not expect this e-mail, ignore it.</p>
<p>{{ portal_url }}</p>
"""


def verify_url(user: EndUser, link_key: str, next_path: str = "") -> str:
    """The portal page that uses a ``verify`` link (``/verify/<key>/``); ``next_path`` (a path
    of the portal, such as ``/claim/?claim=…``) is where the user goes once verified."""
    url = f"{portal_url(user.connector)}verify/{link_key}/"
    if next_path.startswith("/") and not next_path.startswith("//"):
        url += "?next=" + quote(next_path, safe="/")
    return url


def welcome_email_default(*, user: EndUser, link: str) -> tuple[str, str]:
    """The plain welcome e-mail: ``(subject, html)``, values HTML-escaped."""
    connector = user.connector
    context = Context(
        {
            "name": user.name,
            "email": user.email,
            "title": connector.name or connector.pk,
            "link": link,
            "portal_url": portal_url(connector),
        }
    )
    return Template(DEFAULT_SUBJECT).render(context).strip(), Template(DEFAULT_HTML).render(context)


def welcome_email_send(*, user: EndUser, link_key: str, next_path: str = "") -> None:
    """Send ``user`` the welcome e-mail with their one-time link: the composition a receiver of
    ``welcome_email_compose`` gives (the portal's template), else the plain default."""
    link = verify_url(user, link_key, next_path)
    composed = next((c for c in welcome_email_compose.send(user=user, link=link) if c), None)
    subject, html = composed or welcome_email_default(user=user, link=link)
    send_mail(subject, strip_tags(html), settings.DEFAULT_FROM_EMAIL, [user.email], html_message=html)
