"""The back office's own names, and what of installed packages it shows.

django-celery-beat registers five models. Its periodic tasks stay: the platform's schedules
(from ``CELERY_BEAT_SCHEDULE``) and each integration's sync are rows there, which staff may read,
pause or run less often. Its schedule tables (intervals, crontabs, solar events, clocked times)
go: they are parts of those tasks, chosen on a task's own page, and nothing to browse alone.
"""

from django.contrib import admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, SolarSchedule

admin.site.site_header = "IoT Connector back office"
admin.site.site_title = "IoT Connector back office"
admin.site.index_title = "Back office"

admin.site.unregister([ClockedSchedule, CrontabSchedule, IntervalSchedule, SolarSchedule])
