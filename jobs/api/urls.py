from django.urls import path

from jobs.api import views

app_name = "jobs-api"

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="job-list"),
    path("jobs/<segment:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
]
