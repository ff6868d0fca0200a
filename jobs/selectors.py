"""Reads about jobs, always through the one scoping function."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from jobs.models import Job


def jobs_for_user(user: User) -> QuerySet[Job]:
    """The jobs ``user`` may see: those of their businesses (all of them for a superuser).

    The same rule as ``connectors_for_user``: someone else's job is simply not there (404).
    """
    if not user.is_authenticated:
        return Job.objects.none()
    if user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(business__memberships__user=user)


def job_get_for_user(*, user: User, job_id) -> Job:
    """One job ``user`` may see; ``Http404`` otherwise (or when ``job_id`` is not an id at all)."""
    try:
        job = jobs_for_user(user).select_related("connector", "created_by").filter(pk=job_id).first()
    except (ValidationError, ValueError, TypeError):  # not a UUID: names no job
        job = None
    if job is None:
        raise Http404("No such job.")
    return job
