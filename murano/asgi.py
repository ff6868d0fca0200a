"""ASGI entry point: the whole platform in one process (device API incl. long polls,
management API, web UI, websockets)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "murano.settings")
# Tells settings to give this process a database connection pool (see settings.DATABASES).
os.environ.setdefault("MURANO_SERVER", "asgi")
_django = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from devices.device_api.asgi import DeviceApiASGI  # noqa: E402
from murano.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": DeviceApiASGI(_django),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
