"""The welcome e-mail an end user gets when a device names them its owner (``pdaas_user_email``)
or when they sign up: a link to confirm the address and choose a password.

A plain default template for now (#14 makes it editable per connector, with ``<%NAME%>``
variables); sent with Django's ``send_mail`` through the platform's e-mail settings.
"""

from django.conf import settings
from django.core.mail import send_mail
from django.template import Context, Template
from django.utils.html import strip_tags

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


def verify_url(user: EndUser, link_key: str) -> str:
    """The portal page that uses a ``verify`` link (``/verify/<key>/``)."""
    return f"{portal_url(user.connector)}verify/{link_key}/"


def welcome_email_send(*, user: EndUser, link_key: str) -> None:
    """Send ``user`` the welcome e-mail with their one-time link (values HTML-escaped)."""
    connector = user.connector
    context = Context(
        {
            "name": user.name,
            "email": user.email,
            "title": connector.name or connector.pk,
            "link": verify_url(user, link_key),
            "portal_url": portal_url(connector),
        }
    )
    subject = Template(DEFAULT_SUBJECT).render(context).strip()
    html = Template(DEFAULT_HTML).render(context)
    send_mail(subject, strip_tags(html), settings.DEFAULT_FROM_EMAIL, [user.email], html_message=html)
