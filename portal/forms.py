"""Forms of the Portal tab (``portal.manage_views``). The rules are ``portal.services``': these
forms only carry the fields, flat, and put the services' errors (``theme.primary``,
``landingPage.deviceSpecs.3``) next to the field they name."""

from django import forms

from core.forms import UiForm
from portal.branding import DEFAULT_BRANDING
from portal.services import EMAIL_VARIABLES

THEME_LABELS = {
    "primary": "Primary colour",
    "secondary": "Secondary colour",
    "accent": "Accent colour",
    "error": "Error colour",
    "success": "Success colour",
}
LINK_LABELS = {
    "info": "Information page",
    "terms": "Terms of service",
    "contactUs": "Contact us",
    "help": "Help",
    "helpDevice": "Help with the device",
    "helpApp": "Help with the apps",
}

LANDING_TEXTS = ("mainSlogan", "secondarySlogan", "deviceName")


def _text(label: str, *, textarea: bool = False, **kwargs) -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": 3}) if textarea else forms.TextInput
    return forms.CharField(label=label, required=False, strip=False, widget=widget, **kwargs)


class BrandingForm(UiForm):
    """Every field of ``branding.json``, flat: ``theme_<name>``, ``links_<name>``, the landing
    page's, and the device's specifications one per line."""

    title = _text("Title", help_text="The browser tab's title.")
    description = _text("Description", textarea=True, help_text="The page's description for search engines.")
    companyName = _text("Company name")
    themeType = forms.ChoiceField(
        label="Theme", choices=[("dark", "Dark"), ("light", "Light")], widget=forms.RadioSelect
    )
    mainSlogan = _text("Main slogan")
    secondarySlogan = _text("Secondary slogan", textarea=True)
    deviceName = _text("Device name")
    deviceSpecs = _text("Device specifications", textarea=True, help_text="One per line (at most 20).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in THEME_LABELS.items():
            self.fields[f"theme_{name}"] = _text(label, help_text="#rrggbb")
            self.fields[f"theme_{name}"].widget.attrs.update({"data-colour": "", "spellcheck": "false"})
        for name, label in LINK_LABELS.items():
            self.fields[f"links_{name}"] = forms.CharField(
                label=label, required=False, widget=forms.URLInput, help_text="https://… or empty"
            )
        self.order_fields(
            ["title", "description", "companyName", "themeType"]
            + [f"theme_{name}" for name in THEME_LABELS]
            + [f"links_{name}" for name in LINK_LABELS]
        )

    @classmethod
    def for_document(cls, document: dict) -> "BrandingForm":
        """The form showing a complete branding document."""
        initial = {
            "title": document["title"],
            "description": document["description"],
            "companyName": document["companyName"],
            "themeType": document["themeType"],
            **{f"theme_{name}": document["theme"][name] for name in THEME_LABELS},
            **{f"links_{name}": document["links"][name] for name in LINK_LABELS},
            **{name: document["landingPage"][name] for name in LANDING_TEXTS},
            "deviceSpecs": "\n".join(document["landingPage"]["deviceSpecs"]),
        }
        return cls(initial=initial)

    def document(self) -> dict:
        """The branding document the fields describe (for ``branding_clean``)."""
        data = self.cleaned_data
        specs = [line.strip() for line in data["deviceSpecs"].splitlines() if line.strip()]
        return {
            "title": data["title"],
            "description": data["description"],
            "companyName": data["companyName"],
            "themeType": data["themeType"],
            "theme": {name: data[f"theme_{name}"].strip() for name in THEME_LABELS},
            "links": {name: data[f"links_{name}"].strip() for name in LINK_LABELS},
            "landingPage": {**{name: data[name] for name in LANDING_TEXTS}, "deviceSpecs": specs},
        }

    def service_error_field(self, key, errors):
        field, messages = super().service_error_field(key, errors)
        if key:
            parts = key.split(".")
            if parts[0] in ("theme", "links") and len(parts) == 2:
                field = f"{parts[0]}_{parts[1]}"
            elif parts[0] == "landingPage" and len(parts) >= 2:
                field = parts[1]
                if len(parts) == 3:  # one line of the specifications
                    messages = [f"line {int(parts[2]) + 1}: {message}" for message in messages]
        return field, messages


assert set(DEFAULT_BRANDING["theme"]) == set(THEME_LABELS)
assert set(DEFAULT_BRANDING["links"]) == set(LINK_LABELS)


class BrandingFileForm(UiForm):
    """A ``branding.json`` file to load (the same rules as the form and the API)."""

    file = forms.FileField(label="branding.json file")


class AssetForm(UiForm):
    """An image to upload in place of one of the three."""

    file = forms.FileField(label="Image file", widget=forms.ClearableFileInput(attrs={"accept": ".png,.ico"}))


class EmailTemplateForm(UiForm):
    """The welcome e-mail's subject and HTML."""

    subject = forms.CharField(label="Subject", required=False, strip=False)
    html = forms.CharField(
        label="HTML",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        help_text="Variables: " + ", ".join(f"<%{name}%>" for name in EMAIL_VARIABLES) + ".",
    )
