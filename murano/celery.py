"""Celery application: broker from settings (Redis in production, files when embedded).

Apps queue their tasks with ``core.tasks.task_send`` / ``task_send_on_commit``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "murano.settings")

app = Celery("murano")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
