"""``{% claim_panel %}``: the device page's claim panel (codes, owners, QR code, link). A
template tag rather than a view's context, so the devices app, below claiming, needs no import
of it: the device page loads the tag only where claiming is installed."""

from django import template

from claiming import codes
from connectors.selectors import portal_url

register = template.Library()


@register.inclusion_tag("claiming/inc/claim_panel.html", takes_context=True)
def claim_panel(context):
    """The claim panel of ``device`` on a claiming connector's device page (nothing otherwise)."""
    connector, device = context.get("connector"), context.get("device")
    if connector is None or device is None or not connector.claiming_enabled:
        return {"show": False}
    info = codes.device_claim_info(device=device, portal_url=portal_url(connector, context.get("request")))
    return {
        "show": True,
        "connector": connector,
        "device": device,
        "info": info,
        "links": list(zip(info.codes, info.urls, info.exosense_codes, strict=True)),
        "can_write": context.get("can_write"),
    }
