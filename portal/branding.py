"""A connector's portal branding: the seed's ``branding.json`` and its images.

``branding_of(connector)`` is the complete document every page, e-mail and preview renders
from (defaults for whatever the device maker did not set). Values are plain text: templates
escape them like any other value, and colours are ``#rrggbb``, links http(s) or empty.
"""

import copy

from connectors.models import Connector
from portal.models import Asset, AssetName, Branding

DEFAULT_BRANDING: dict = {
    "title": "Product portal",
    "description": "Product consumer portal page description",
    "companyName": "Exosite",
    "theme": {
        "primary": "#2C9DB6",
        "secondary": "#222736",
        "accent": "#F15C2E",
        "error": "#FF5252",
        "success": "#4CAF50",
    },
    "themeType": "dark",
    "links": {"info": "", "terms": "", "contactUs": "", "help": "", "helpDevice": "", "helpApp": ""},
    "landingPage": {
        "mainSlogan": "This is your main slogan here",
        "secondarySlogan": "This is a secondary, more lengthy slogan right underneath",
        "deviceName": "B-L475E-IOT01A (model)",
        "deviceSpecs": [
            "Ultra-low-power STM32L4 Series MCUs",
            "64-Mbit Quad-SPI",
            "(Macronix) Flash memory",
            "Bluetooth® V4.1 module (SPBTLE-RF)",
        ],
    },
}

ASSET_NAMES = tuple(AssetName.values)


def branding_default() -> dict:
    """A fresh copy of the default ``branding.json``."""
    return copy.deepcopy(DEFAULT_BRANDING)


def branding_of(connector: Connector) -> dict:
    """The connector's complete branding document (the defaults when it never saved one)."""
    row = Branding.objects.filter(connector=connector).only("document").first()
    if row is None or not row.document:
        return branding_default()
    return row.document


def assets_of(connector: Connector) -> dict[str, Asset]:
    """The images the device maker uploaded, by name (absent names use the defaults)."""
    return {asset.name: asset for asset in Asset.objects.filter(connector=connector)}


def asset_urls(connector: Connector) -> dict[str, str]:
    """``{name: URL path on the portal host}`` of the three images (``/vendor/<name>``), with a
    version in the query so browsers fetch a new upload at once and cache the rest."""
    rows = Asset.objects.filter(connector=connector).values_list("name", "sha256")
    uploaded = {name: sha256[:12] for name, sha256 in rows}
    return {name: f"/vendor/{name}?v={uploaded.get(name, 'default')}" for name in ASSET_NAMES}


def theme_css_url(connector: Connector) -> str:
    """The portal host's theme style sheet (``/theme.css``), versioned by the branding's last save."""
    row = Branding.objects.filter(connector=connector).only("updated_at").first()
    return f"/theme.css?v={int(row.updated_at.timestamp()) if row else 0}"
