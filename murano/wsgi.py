"""WSGI entry point: device API short requests + the Django site (management API, UI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "murano.settings")
_django = get_wsgi_application()

from devices.device_api.wsgi import DeviceApiWSGI  # noqa: E402

application = DeviceApiWSGI(_django)
