"""Database helpers the services share."""

from django.db import models
from django.http import Http404


def row_lock(instance: models.Model, *, missing: str) -> None:
    """Lock ``instance``'s row until the transaction ends (call inside one), or raise
    ``Http404(missing)`` when the row is gone: a change that meets a delete of its object
    between the caller's lookup and the write is a "no such …" (404), not a write to a row that
    is gone (a 500)."""
    rows = type(instance)._default_manager.select_for_update().filter(pk=instance.pk)
    if rows.values_list("pk", flat=True).first() is None:
        raise Http404(missing)
