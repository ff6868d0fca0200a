"""Template helpers of the portal's pages."""

from django import template

from core.templatetags.times import ago

register = template.Library()


@register.filter
def asset(urls: dict, name: str) -> str:
    """``{{ asset_urls|asset:"brandlogo.png" }}``: the URL of a branding image (names have dots,
    which the template language's lookups cannot spell)."""
    return (urls or {}).get(name, f"/vendor/{name}")


@register.filter
def http_link(url) -> str:
    """``url`` when it is an http(s) link, else "" (the branding service accepts no other; this
    keeps a ``javascript:`` link written to the database by other means off the pages)."""
    text = url if isinstance(url, str) else ""
    return text if text.lower().startswith(("https://", "http://")) else ""


# ``{{ when|ago }}``: "just now" within a minute, else "3 minutes ago" (one rule for every page).
register.filter("ago", ago)
