"""What a connector's portal is made of beyond its end users (``claiming``): the device maker's
branding (the seed's ``/vendor/branding.json`` and its three images), the welcome e-mail's
template, and the firmware notices its owners see.

The branding document is stored complete (``portal.branding`` merges the defaults in when it is
saved); a connector that never saved one has no row and gets the defaults. Images are stored in
Django's default storage (local files, S3 in production) under a key of our own.
"""

from django.db import models


class Branding(models.Model):
    """A connector's portal branding and welcome e-mail template."""

    connector = models.OneToOneField(
        "connectors.Connector", primary_key=True, on_delete=models.CASCADE, related_name="portal_branding"
    )
    # The complete branding.json (title, description, companyName, theme, themeType, links,
    # landingPage), as ``portal.branding.branding_clean`` returns it.
    document = models.JSONField(default=dict, blank=True)
    # The welcome e-mail, with <%NAME%> variables; "" is the built-in default.
    email_subject = models.CharField(max_length=200, blank=True)
    email_html = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "branding"

    def __str__(self):
        return f"branding of {self.connector_id}"


class AssetName(models.TextChoices):
    LOGO = "brandlogo.png", "Brand logo (portal header)"
    DEVICE = "device.png", "Device picture (landing page)"
    FAVICON = "favicon.ico", "Favicon (browser tab)"


class Asset(models.Model):
    """An image the device maker uploaded in place of a default one (``/vendor/<name>``)."""

    connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.CASCADE, related_name="portal_assets"
    )
    name = models.CharField(max_length=32, choices=AssetName.choices)
    # The key in the default storage (local files or S3), chosen by us, never by the uploader.
    storage_name = models.CharField(max_length=255, unique=True)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint("connector", "name", name="portal_asset_unique")]
        verbose_name = "image"

    def __str__(self):
        return f"{self.name} of {self.connector_id}"


class FirmwareNotice(models.Model):
    """A newer firmware package an owner was told about (shown on their portal until dismissed)."""

    user = models.ForeignKey("claiming.EndUser", on_delete=models.CASCADE, related_name="firmware_notices")
    package_id = models.CharField(max_length=255)
    version = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint("user", "package_id", name="portal_notice_unique")]

    def __str__(self):
        return f"firmware {self.version} notice for {self.user_id}"
