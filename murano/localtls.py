"""Local TLS in front of the app: a server certificate and an nginx configuration, for
``manage.py runtls`` (``make run-tls``) and the real-nginx tests. Not used in production, where
deploy/nginx/murano.conf and real certificates take their place."""

import grp
import os
import pwd
import shutil
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "local-tls.conf.template"


def nginx_binary() -> str | None:
    """nginx from $PATH or Debian's /usr/sbin (often not on a user's $PATH)."""
    return shutil.which("nginx") or shutil.which(
        "nginx", path="/usr/sbin:/usr/local/sbin:/usr/local/nginx/sbin"
    )


def nginx_config_write(prefix: Path, *, listen: str, upstream: str, certificate: Path, key: Path,
                       access_log: bool = False) -> Path:  # fmt: skip
    """Render deploy/nginx/local-tls.conf.template into ``prefix``/nginx.conf (with the temp
    directories nginx needs there) and return its path."""
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / name).mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        # Workers of a root master would run as "nobody", who cannot enter a private prefix.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    values = {
        "prefix": str(prefix),
        "user": user,
        "listen": listen,
        "upstream": upstream,
        "certificate": str(certificate),
        "certificate_key": str(key),
        "access_log": str(prefix / "access.log") if access_log else "off",
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path
