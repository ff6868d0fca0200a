"""The portal's theme as CSS custom properties (``/theme.css`` on a portal host, and the Portal
tab's preview): the branding's colours, a text colour for each chosen for contrast (WCAG AA:
black or white, whichever contrasts more, is always at least 4.5:1), and the page's colours for
its ``themeType``. Values come from a cleaned branding document (``#RRGGBB`` only), so nothing
else can reach the style sheet.

The names are those of ``static/portal/portal.css``: ``--brand-primary``,
``--brand-primary-text``, ``--brand-secondary(-text)``, ``--brand-accent(-text)``,
``--brand-error(-text)``, ``--brand-success(-text)``, ``--brand-link`` (the primary colour where
it reads on the page, else the page's text colour), ``--page-bg``, ``--page-text``,
``--surface-bg``, ``--muted-text``.
"""

import re

BLACK, WHITE = "#000000", "#FFFFFF"
AA_TEXT = 4.5
# Page colours per themeType (each text colour ≥ 4.5:1 on both backgrounds of its theme).
PAGES = {
    "dark": {
        "--page-bg": "#14161F",
        "--page-text": "#F2F3F5",
        "--surface-bg": "#1F2330",
        "--muted-text": "#B8BDC9",
    },
    "light": {
        "--page-bg": "#FFFFFF",
        "--page-text": "#1B1E27",
        "--surface-bg": "#F3F4F6",
        "--muted-text": "#555B69",
    },
}
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def luminance(colour: str) -> float:
    """The relative luminance of ``#rrggbb`` (WCAG 2)."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour``."""
    return BLACK if contrast(colour, BLACK) >= contrast(colour, WHITE) else WHITE


def theme_variables(branding: dict) -> dict[str, str]:
    """``{custom property: colour}`` of a cleaned branding document."""
    theme = branding["theme"]
    page = PAGES.get(branding.get("themeType"), PAGES["dark"])
    variables: dict[str, str] = {}
    for name in ("primary", "secondary", "accent", "error", "success"):
        colour = theme[name]
        if not _COLOUR.fullmatch(colour):  # a cleaned document never gets here; never write it out
            raise ValueError(f"not a colour: {name}")
        variables[f"--brand-{name}"] = colour.upper()
        variables[f"--brand-{name}-text"] = text_on(colour)
    primary = theme["primary"].upper()
    readable = contrast(primary, page["--page-bg"]) >= AA_TEXT
    variables["--brand-link"] = primary if readable else page["--page-text"]
    variables.update(page)
    return variables


def theme_css(branding: dict) -> str:
    """The style sheet: the variables on ``:root`` and the matching ``color-scheme``."""
    lines = [f"  {name}: {value};" for name, value in theme_variables(branding).items()]
    scheme = "light" if branding.get("themeType") == "light" else "dark"
    return ":root {\n" + "\n".join(lines) + f"\n  color-scheme: {scheme};\n}}\n"
