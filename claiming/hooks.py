"""What other apps may provide to the claiming app (``core.hooks``; connect in ``AppConfig.ready``)."""

from core.hooks import Hook

# Compose the welcome e-mail of an end user: ``receiver(user=<EndUser>, link=<the one-time
# verify URL>)`` returns ``(subject, html)``, or None to leave it to the next receiver. The portal
# renders the connector's own template and branding this way; with no answer, claiming sends its
# plain default.
welcome_email_compose = Hook("claiming.welcome_email_compose")
