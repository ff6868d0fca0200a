"""Pages of a portal host (``portal.urls``): ``errors`` (its error pages), ``files`` (the
branding files at the seed's ``/vendor/…`` paths and the theme's style sheet), ``accounts``
(sign-up, log-in, e-mail verification, password reset, the account's settings) and ``pages``
(landing, claim, my devices, a device, managed apps)."""
