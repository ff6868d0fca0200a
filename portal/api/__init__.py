"""Management API of a connector's portal: its branding, images and welcome e-mail template."""
