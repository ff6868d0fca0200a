"""The e-mails an integration sends: its API became unhealthy, or recovered."""

import logging

from django.conf import settings
from django.core.mail import send_mail

from integrations.models import Health, Integration

logger = logging.getLogger(__name__)


def health_email_send(*, integration: Integration, recipients: list[str]) -> None:
    """One e-mail to ``recipients`` about the integration's new health (sent after the change is
    committed; a mail server that fails is logged, the check's outcome stays)."""
    if not recipients:
        return
    title = (integration.spec.get("info") or {}).get("title", "The API")
    connector = integration.connector
    if integration.health_status == Health.UNHEALTHY:
        subject = f"[{connector.name}] {title} is unreachable"
        body = (
            f"The health check of {title} ({integration.spec.get('host')}), the integration of the connector "
            f"{connector.name} ({connector.pk}), failed:\n\n    {integration.health_error}\n\n"
            "Runs go on and count what fails on the connector's Integration tab. "
            "You will get one more e-mail when it recovers.\n"
        )
    else:
        subject = f"[{connector.name}] {title} has recovered"
        body = (
            f"The health check of {title} ({integration.spec.get('host')}), the integration of the connector "
            f"{connector.name} ({connector.pk}), succeeds again.\n"
        )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.warning(
            "integration of %s: the health e-mail could not be sent", integration.pk, exc_info=True
        )
