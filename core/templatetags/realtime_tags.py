"""``{% event_buffer_size %}``: how many recent events a live log replays when it opens
(``EVENT_BUFFER_SIZE``, kept per connector by ``core.realtime``), for the pages that say so."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def event_buffer_size() -> str:
    return f"{settings.EVENT_BUFFER_SIZE:,}"
