"""``{{ item.size|size }}``: a number of bytes as every page writes it (``core.sizes``)."""

from django import template

from core.sizes import size_text

register = template.Library()


@register.filter
def size(value) -> str:
    try:
        return size_text(int(value))
    except (TypeError, ValueError):
        return ""
