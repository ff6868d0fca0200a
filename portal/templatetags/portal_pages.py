"""Template helpers of the portal's pages."""

from django import template

register = template.Library()


@register.filter
def asset(urls: dict, name: str) -> str:
    """``{{ asset_urls|asset:"brandlogo.png" }}``: the URL of a branding image (names have dots,
    which the template language's lookups cannot spell)."""
    return (urls or {}).get(name, f"/vendor/{name}")
