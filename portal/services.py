"""The rules of a connector's portal branding, its images and its welcome e-mail (every change
goes through here: the management API, the Portal tab and the hooks share them).

- ``branding_clean`` checks a ``branding.json`` document field by field and completes it with
  the defaults; ``branding_set`` / ``branding_reset`` store it.
- ``asset_put`` / ``asset_delete``: the three images, checked by their content (Pillow), kept
  in Django's default storage under a key of ours; the replaced file goes once committed.
- ``email_template_clean`` / ``email_template_set`` / ``email_template_reset``: the welcome
  e-mail with ``<%NAME%>`` variables; ``welcome_email_render`` fills them (HTML-escaped), and is
  what ``claiming.hooks.welcome_email_compose`` gets from the portal.

Errors are Django ``ValidationError`` keyed by the field's path (``theme.primary``,
``landingPage.deviceSpecs.3``), as the API and the forms show them.
"""

import hashlib
import html
import io
import logging
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils.html import strip_tags
from PIL import Image, UnidentifiedImageError

from connectors.models import Connector
from connectors.selectors import portal_url
from portal.branding import ASSET_NAMES, DEFAULT_BRANDING, branding_default, branding_of
from portal.models import Asset, AssetName, Branding

logger = logging.getLogger(__name__)

# --- branding.json --------------------------------------------------------------------------------

# Text limits, by the field's path.
TEXT_LIMITS = {
    "title": 200,
    "description": 1000,
    "companyName": 200,
    "landingPage.mainSlogan": 200,
    "landingPage.secondarySlogan": 500,
    "landingPage.deviceName": 200,
}
LINK_MAX_LENGTH = 2000
SPECS_MAX_ITEMS = 20
SPEC_MAX_LENGTH = 200
THEME_TYPES = ("dark", "light")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


def _text(value, path: str, max_length: int, errors: dict) -> str | None:
    if not isinstance(value, str):
        errors[path] = "must be a string"
    elif "\x00" in value:
        errors[path] = "must not contain NUL characters"
    elif len(value) > max_length:
        errors[path] = f"at most {max_length} characters"
    else:
        return value
    return None


def _object(value, path: str, errors: dict) -> dict | None:
    if not isinstance(value, dict):
        errors[path or "document"] = "must be a JSON object"
        return None
    known = DEFAULT_BRANDING if not path else DEFAULT_BRANDING[path]
    for key in value:
        if key not in known:
            errors[f"{path}.{key}" if path else str(key)] = "unknown field"
    return value


def branding_clean(document) -> dict:
    """The complete branding document from ``document`` (the seed's ``branding.json``): missing
    fields, at any depth, take the defaults; unknown fields, other types, colours that are not
    ``#rrggbb`` (stored in upper case, as the defaults), links that are not http(s) or empty,
    and text past its limit are refused, each under its path."""
    errors: dict[str, str] = {}
    clean = branding_default()
    top = _object(document, "", errors)
    if top is None:
        raise ValidationError(errors)
    for key, max_length in TEXT_LIMITS.items():
        if "." not in key and key in top:
            clean[key] = _text(top[key], key, max_length, errors)
    if "themeType" in top:
        if top["themeType"] not in THEME_TYPES:
            errors["themeType"] = "must be “dark” or “light”"
        else:
            clean["themeType"] = top["themeType"]
    if "theme" in top and (theme := _object(top["theme"], "theme", errors)) is not None:
        for name in DEFAULT_BRANDING["theme"]:
            if name not in theme:
                continue
            value = theme[name]
            if isinstance(value, str) and COLOUR.fullmatch(value):
                clean["theme"][name] = value.upper()
            else:
                errors[f"theme.{name}"] = "must be a colour #rrggbb"
    if "links" in top and (links := _object(top["links"], "links", errors)) is not None:
        for name in DEFAULT_BRANDING["links"]:
            if name not in links:
                continue
            value = _text(links[name], f"links.{name}", LINK_MAX_LENGTH, errors)
            if value is None:
                continue
            value = value.strip()
            if value and not LINK.fullmatch(value):
                errors[f"links.{name}"] = "must be an http:// or https:// address, or empty"
            else:
                clean["links"][name] = value
    if "landingPage" in top and (page := _object(top["landingPage"], "landingPage", errors)) is not None:
        for name in ("mainSlogan", "secondarySlogan", "deviceName"):
            if name in page:
                path = f"landingPage.{name}"
                clean["landingPage"][name] = _text(page[name], path, TEXT_LIMITS[path], errors)
        if "deviceSpecs" in page:
            clean["landingPage"]["deviceSpecs"] = _specs(page["deviceSpecs"], errors)
    if errors:
        raise ValidationError(errors)
    return clean


def _specs(value, errors: dict) -> list[str]:
    path = "landingPage.deviceSpecs"
    if not isinstance(value, list):
        errors[path] = "must be a list of strings"
        return []
    if len(value) > SPECS_MAX_ITEMS:
        errors[path] = f"at most {SPECS_MAX_ITEMS} items"
        return []
    return [_text(item, f"{path}.{i}", SPEC_MAX_LENGTH, errors) for i, item in enumerate(value)]


def _branding_row(connector: Connector) -> Branding:
    row, _ = Branding.objects.select_for_update().get_or_create(connector=connector)
    return row


@transaction.atomic
def branding_set(*, connector: Connector, document) -> dict:
    """Store the connector's branding (``branding_clean``: defaults for what is missing); the
    complete document it stored."""
    clean = branding_clean(document)
    row = _branding_row(connector)
    row.document = clean
    row.save(update_fields=["document", "updated_at"])
    return clean


@transaction.atomic
def branding_reset(*, connector: Connector) -> dict:
    """The default branding again (the images and the e-mail template stay)."""
    row = _branding_row(connector)
    row.document = {}
    row.save(update_fields=["document", "updated_at"])
    return branding_default()


# --- images ---------------------------------------------------------------------------------------

ASSET_MAX_BYTES = 1024 * 1024
# Bigger pictures would cost the server memory to check (a small PNG can decode to gigabytes).
ASSET_MAX_PIXELS = 4096
ICO_TYPE = "image/vnd.microsoft.icon"
PNG_TYPE = "image/png"
# What each name takes: Pillow's format → the content type it is served with.
ASSET_FORMATS = {
    AssetName.LOGO: {"PNG": PNG_TYPE},
    AssetName.DEVICE: {"PNG": PNG_TYPE},
    AssetName.FAVICON: {"ICO": ICO_TYPE, "PNG": PNG_TYPE},
}
DEFAULT_ASSET_TYPES = {AssetName.LOGO: PNG_TYPE, AssetName.DEVICE: PNG_TYPE, AssetName.FAVICON: ICO_TYPE}


class AssetTooLarge(ValidationError):
    """An image over ``ASSET_MAX_BYTES`` (the API answers 413)."""

    def __init__(self):
        super().__init__({"file": f"at most {ASSET_MAX_BYTES // 1024} KB (1 MB)"}, code="too_large")


def asset_storage() -> Storage:
    """Where uploaded images live: the default storage (local files, S3 in production)."""
    return storages["default"]


@lru_cache(maxsize=len(ASSET_NAMES))
def asset_default(name: str) -> tuple[bytes, str]:
    """Our default image ``name`` (static/portal/defaults/) and its SHA-256."""
    path = finders.find(f"portal/defaults/{name}")
    if path is None:
        raise Http404("No such file.")
    with open(path, "rb") as file:
        data = file.read()
    return data, hashlib.sha256(data).hexdigest()


def asset_name_check(name: str) -> str:
    """``name`` when it is one of the three images, else 404."""
    if name not in ASSET_NAMES:
        raise Http404("No such image: brandlogo.png, device.png or favicon.ico.")
    return name


def _image_type(name: str, data: bytes) -> str:
    """The content type ``data`` is served with, once Pillow decoded it as a format ``name``
    takes (a renamed text, SVG, HTML or GIF file is refused)."""
    accepted = ASSET_FORMATS[name]
    what = "a PNG or ICO image" if len(accepted) > 1 else "a PNG image"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            width, height = image.size
            image.verify()
        if image_format not in accepted:
            raise ValidationError({"file": f"not {what}"})
        if width > ASSET_MAX_PIXELS or height > ASSET_MAX_PIXELS:
            raise ValidationError({"file": f"at most {ASSET_MAX_PIXELS}×{ASSET_MAX_PIXELS} pixels"})
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError({"file": f"not {what} (it could not be read as one)"}) from None
    return accepted[image_format]


def _storage_delete_on_commit(names: list[str]) -> None:
    names = [name for name in names if name]
    if not names:
        return

    def delete() -> None:
        storage = asset_storage()
        for name in names:
            try:
                storage.delete(name)
            except Exception:
                # The row is what the portal serves; a stray file only costs space.
                logger.warning("could not delete the portal image %s", name, exc_info=True)

    transaction.on_commit(delete)


def asset_put(*, connector: Connector, name: str, data: bytes) -> Asset:
    """Replace the image ``name`` of the portal with ``data`` (≤ 1 MB; PNG, or ICO or PNG for
    ``favicon.ico``, checked by decoding it). The previous upload's file is deleted once this is
    committed; a failed save leaves nothing behind."""
    asset_name_check(name)
    if len(data) > ASSET_MAX_BYTES:
        raise AssetTooLarge()
    content_type = _image_type(name, data)
    key = f"portal/{connector.pk}/{name.replace('.', '-')}-{uuid.uuid4().hex}"
    stored = asset_storage().save(key, ContentFile(data))
    try:
        with transaction.atomic():
            previous = Asset.objects.select_for_update().filter(connector=connector, name=name).first()
            old_name = previous.storage_name if previous else ""
            asset = previous or Asset(connector=connector, name=name)
            asset.storage_name = stored
            asset.content_type = content_type
            asset.size = len(data)
            asset.sha256 = hashlib.sha256(data).hexdigest()
            asset.save()
            _storage_delete_on_commit([old_name])
    except BaseException:
        asset_storage().delete(stored)
        raise
    return asset


@transaction.atomic
def asset_delete(*, connector: Connector, name: str) -> None:
    """The default image ``name`` again (its uploaded file goes once committed)."""
    asset_name_check(name)
    asset = Asset.objects.select_for_update().filter(connector=connector, name=name).first()
    if asset is not None:
        asset.delete()
        _storage_delete_on_commit([asset.storage_name])


def assets_discard_on_commit(*, connector: Connector) -> None:
    """``connectors.hooks.connector_deleting``: the connector's rows go with it (cascade), their
    stored files once that is committed."""
    names = Asset.objects.filter(connector=connector).values_list("storage_name", flat=True)
    _storage_delete_on_commit(list(names))


# --- the welcome e-mail ---------------------------------------------------------------------------

EMAIL_VARIABLES = {
    "EMAIL": "the end user's e-mail address",
    "NAME": "the end user's name (may be empty)",
    "LINK": "the one-time link to confirm the address and choose a password (required)",
    "TITLE": "the portal's title (branding)",
    "COMPANY": "the company name (branding)",
    "PORTAL_URL": "the portal's address",
}
SUBJECT_MAX_LENGTH = 200
EMAIL_HTML_MAX_LENGTH = 100_000
DEFAULT_EMAIL_SUBJECT = "Welcome to <%TITLE%>"
DEFAULT_EMAIL_HTML = """<!doctype html>
<html lang="en">
<body style="margin:0;padding:24px;background:#f4f5f7;
  font-family:Arial,Helvetica,sans-serif;color:#222736">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"
  style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:6px">
<tr><td style="padding:24px 28px">
<h1 style="margin:0 0 16px;font-size:22px"><%TITLE%></h1>
<p>Hello <%NAME%>,</p>
<p>A device was registered to <%EMAIL%>. Confirm your address and choose a password
to see and manage your devices:</p>
<p style="margin:24px 0"><a href="<%LINK%>" style="display:inline-block;padding:12px 20px;
  background:#222736;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:bold"
  >Confirm my address</a></p>
<p style="font-size:13px;color:#4a4f5c">Or open this link:
<a href="<%LINK%>" style="color:#1a5f70"><%LINK%></a><br>
It works once, for 7 days. If you did not expect this e-mail, ignore it.</p>
<p style="font-size:13px;color:#4a4f5c"><%COMPANY%> ·
<a href="<%PORTAL_URL%>" style="color:#1a5f70"><%PORTAL_URL%></a></p>
</td></tr>
</table>
</body>
</html>
"""
SAMPLE_VALUES = {
    "EMAIL": "jane.doe@example.com",
    "NAME": "Jane Doe",
    "LINK": "verify/sample-link-0123456789/",
}


@dataclass(frozen=True)
class EmailTemplate:
    """A welcome e-mail's subject and HTML, with ``<%NAME%>`` variables."""

    subject: str
    html: str

    def as_dict(self) -> dict:
        return {"subject": self.subject, "html": self.html}


def _template_parts(template: str, field: str) -> list[str | tuple[str]]:
    """Text and ``(variable,)`` parts of ``template``; an unclosed ``<%`` or an unknown variable
    cannot render."""
    parts: list[str | tuple[str]] = []
    position = 0
    while (start := template.find("<%", position)) >= 0:
        end = template.find("%>", start + 2)
        if end < 0:
            message = f"cannot render: “<%” at character {start + 1} is not closed by “%>”"
            raise ValidationError({field: message})
        name = template[start + 2 : end]
        if name not in EMAIL_VARIABLES:
            shown = name if len(name) <= 40 else name[:40] + "…"
            known = ", ".join(f"<%{v}%>" for v in EMAIL_VARIABLES)
            raise ValidationError({field: f"cannot render: unknown variable <%{shown}%> (known: {known})"})
        parts += [template[position:start], (name,)]
        position = end + 2
    parts.append(template[position:])
    return parts


def email_template_clean(*, subject, html) -> EmailTemplate:
    """A template that renders: a non-empty one-line subject, an HTML body that has ``<%LINK%>``,
    only known variables, every ``<%`` closed, within the length limits."""
    errors = {}
    limits = (("subject", subject, SUBJECT_MAX_LENGTH), ("html", html, EMAIL_HTML_MAX_LENGTH))
    for field, value, limit in limits:
        if not isinstance(value, str):
            errors[field] = "must be a string"
        elif "\x00" in value:
            errors[field] = "must not contain NUL characters"
        elif len(value) > limit:
            errors[field] = f"at most {limit} characters"
    if errors:
        raise ValidationError(errors)
    subject = subject.strip()
    if not subject:
        errors["subject"] = "cannot render: the subject is empty"
    elif "\n" in subject or "\r" in subject:
        errors["subject"] = "cannot render: the subject must be one line"
    for field, value in (("subject", subject), ("html", html)):
        if field in errors:
            continue
        try:
            parts = _template_parts(value, field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
            continue
        if field == "html" and ("LINK",) not in parts:
            errors["html"] = "cannot render: the e-mail needs the link, <%LINK%>"
    if errors:
        raise ValidationError({field: message for field, message in errors.items()})
    return EmailTemplate(subject=subject, html=html)


def email_template_of(connector: Connector) -> EmailTemplate:
    """The connector's welcome e-mail template (the built-in one where none was saved)."""
    row = Branding.objects.filter(connector=connector).only("email_subject", "email_html").first()
    if row is None or not row.email_html:
        return EmailTemplate(DEFAULT_EMAIL_SUBJECT, DEFAULT_EMAIL_HTML)
    return EmailTemplate(row.email_subject, row.email_html)


@transaction.atomic
def email_template_set(*, connector: Connector, subject, html) -> EmailTemplate:
    """Store the welcome e-mail's template (``email_template_clean``)."""
    template = email_template_clean(subject=subject, html=html)
    row = _branding_row(connector)
    row.email_subject, row.email_html = template.subject, template.html
    row.save(update_fields=["email_subject", "email_html", "updated_at"])
    return template


@transaction.atomic
def email_template_reset(*, connector: Connector) -> EmailTemplate:
    """The built-in welcome e-mail again."""
    row = _branding_row(connector)
    row.email_subject, row.email_html = "", ""
    row.save(update_fields=["email_subject", "email_html", "updated_at"])
    return email_template_of(connector)


def _one_line(value: str) -> str:
    return " ".join(value.split()) if value else ""


def email_render(template: EmailTemplate, values: dict[str, str]) -> tuple[str, str]:
    """``(subject, html)``: the subject with plain values on one line, the HTML with values
    HTML-escaped (a ``<script>`` in a name is text)."""
    subject = "".join(
        part if isinstance(part, str) else _one_line(values.get(part[0], ""))
        for part in _template_parts(template.subject, "subject")
    )
    body = "".join(
        part if isinstance(part, str) else html.escape(values.get(part[0], ""), quote=True)
        for part in _template_parts(template.html, "html")
    )
    return _one_line(subject), body


def _values(connector: Connector, *, email: str, name: str, link: str) -> dict[str, str]:
    branding = branding_of(connector)
    return {
        "EMAIL": email,
        "NAME": name,
        "LINK": link,
        "TITLE": branding["title"],
        "COMPANY": branding["companyName"],
        "PORTAL_URL": portal_url(connector),
    }


def welcome_email_render(connector: Connector, *, email: str, name: str, link: str) -> tuple[str, str]:
    """The connector's welcome e-mail to ``email``: ``(subject, html)`` from its template and
    branding."""
    return email_render(email_template_of(connector), _values(connector, email=email, name=name, link=link))


def welcome_email_compose(*, user, link: str) -> tuple[str, str]:
    """``claiming.hooks.welcome_email_compose``: the portal's welcome e-mail for an end user."""
    return welcome_email_render(user.connector, email=user.email, name=user.name or "", link=link)


def email_sample_render(connector: Connector, template: EmailTemplate | None = None) -> tuple[str, str]:
    """``template`` (the saved one by default) rendered with sample values."""
    base = portal_url(connector)
    values = _values(
        connector,
        email=SAMPLE_VALUES["EMAIL"],
        name=SAMPLE_VALUES["NAME"],
        link=base + SAMPLE_VALUES["LINK"],
    )
    return email_render(template or email_template_of(connector), values)


def email_test_send(*, connector: Connector, to: str) -> None:
    """Send the saved welcome e-mail, with sample values, to ``to`` (the product manager)."""
    subject, body = email_sample_render(connector)
    try:
        send_mail(f"[Test] {subject}", strip_tags(body), settings.DEFAULT_FROM_EMAIL, [to], html_message=body)
    except OSError:  # the e-mail server refused or cannot be reached (smtplib's errors are OSErrors)
        logger.warning("could not send a test welcome e-mail", exc_info=True)
        raise ValidationError("The e-mail server could not be reached; try again later.") from None
