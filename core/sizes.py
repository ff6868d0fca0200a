"""How the console writes a number of bytes: one format on every page ("512 bytes", "1.2 MB",
"64 MB"), in binary units as file managers count them. The ``size`` template filter
(``core/templatetags/sizes.py``) and the upload script's ``formatSize`` (static/js/content_upload.js)
follow this function."""

_UNITS = ["KB", "MB", "GB", "TB"]


def size_text(size: int) -> str:
    """``512`` → ``512 bytes``, ``1001`` → ``1,001 bytes``, ``1_228_800`` → ``1.2 MB``,
    ``64 * 2**20`` → ``64 MB``: one decimal, dropped when it is zero."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size:,} bytes"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    if text == "1024" and unit != _UNITS[-1]:  # 1023.96 KB rounds up to the next unit
        return f"1 {_UNITS[_UNITS.index(unit) + 1]}"
    return f"{text} {unit}"
