from django.urls import path

from jobs.api import views
from murano import api as _converters  # noqa: F401  (registers <segment:> and <rest:>)

app_name = "jobs-api"

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="job-list"),
    path("jobs/<segment:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
]
