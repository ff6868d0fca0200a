"""``{% app_link connector %}``: a connector's App Link as a working URL (scheme and port as the
platform is reached), for the header every connector tab shows."""

from django import template

from connectors.selectors import device_api_url

register = template.Library()


@register.simple_tag(takes_context=True)
def app_link(context, connector) -> str:
    return device_api_url(connector, context.get("request"))
