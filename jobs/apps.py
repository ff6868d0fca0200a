from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Jobs discard the uploads of a connector being deleted (``connectors.hooks``)."""

    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from connectors.hooks import connector_deleting
        from jobs.services import job_uploads_discard_on_commit

        connector_deleting.connect(job_uploads_discard_on_commit)
