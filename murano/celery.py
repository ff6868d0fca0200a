"""Celery application: broker from settings (Redis in production, files when embedded)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "murano.settings")

app = Celery("murano")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
