"""``{{ when|ago }}``: how long ago something happened, as every page writes it."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(when) -> str:
    """ "just now" within a minute (not "0 minutes ago"), else "3 minutes ago", "2 days ago"."""
    if when is None:
        return ""
    if (timezone.now() - when).total_seconds() < 60:
        return "just now"
    return f"{timesince(when)} ago"
