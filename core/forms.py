"""What the web UI's forms share."""

from django import forms
from django.core.exceptions import ValidationError


class UiForm(forms.Form):
    """Labels without a trailing colon; everything else as Django renders it (ids, ``aria-*``).

    ``add_service_errors`` shows a service's ``ValidationError`` next to the fields it names. The
    services name fields as the API does; a form says where each goes in ``service_error_fields``
    (a key that is neither there nor a field of the form goes on top), or decides per key in
    ``service_error_field``."""

    # A service's error key → this form's field.
    service_error_fields: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put a service's ``ValidationError`` next to the fields it names (the rest on top)."""
        errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
        for key, field_errors in errors.items():
            field, messages = self.service_error_field(key, field_errors)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)

    def service_error_field(
        self, key: str | None, errors: list[ValidationError]
    ) -> tuple[str | None, list[str]]:
        """Where a service's ``errors`` under ``key`` (None: not about a field) are shown on
        this form, and their messages."""
        field = self.service_error_fields.get(key, key) if key is not None else None
        return field, [message for error in errors for message in error.messages]
