"""Leases on running jobs, so that a job whose worker died is found and resumed (or failed)
instead of staying ``running`` for ever, and ``dispatched_at`` so that a job the broker never
got (Redis down) is handed to it again. The partial index keeps the periodic recovery scan to
the few jobs that are not over (or still have an upload to delete)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='how many times a worker took the job'),
        ),
        migrations.AddField(
            model_name='job',
            name='dispatched_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='worker',
            field=models.CharField(blank=True, help_text='the worker that holds the job', max_length=200),
        ),
        migrations.AddIndex(
            model_name='job',
            index=models.Index(condition=models.Q(('state__in', ['queued', 'running']), models.Q(('file', ''), _negated=True), _connector='OR'), fields=['state'], name='job_pending_work'),
        ),
    ]
