"""Forms of both panels: Django validates the shape of the input, the services validate the business rules, and
a refusal from a service lands on the field that caused it with the service's own error code (the API's)."""

from django import forms
from django.core.exceptions import ValidationError

from arrears.core.errors import ArrearsError


class PanelForm(forms.Form):
    """A form whose fields a service's errors can point at. ``pointers`` maps the leading part of an error's JSON
    pointer (as the API reports it, ``/amount/currency``) to this form's field; the longest match wins, and an
    error that points nowhere the form knows goes on top of the form."""

    pointers: dict[str, str] = {}

    def choice_field(self, name: str) -> forms.ChoiceField:
        """This form's own copy of the choice field ``name``, whose choices are filled in per request."""
        field = self.fields[name]
        if not isinstance(field, forms.ChoiceField):
            raise TypeError(f"{type(self).__name__}.{name} is not a choice field")
        return field

    def add_service_error(self, error: ArrearsError) -> None:
        field = None
        if error.pointer:
            matches = [
                prefix
                for prefix in self.pointers
                if error.pointer == prefix or error.pointer.startswith(prefix.rstrip("/") + "/")
            ]
            if matches:
                field = self.pointers[max(matches, key=len)]
        self.add_error(
            field if field in self.fields else None, ValidationError(_sentence(error.detail), code=error.code)
        )


def _sentence(text: str) -> str:
    """A service's detail as a sentence for a manager: capitalised, without the rule reference in brackets."""
    text = text.strip()
    if text.endswith(")") and "(R" in text:
        text = text[: text.rindex("(R")].rstrip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


class MoneyField(forms.CharField):
    """A decimal amount typed by a person ("1,234.50" or "1234.5"), kept as text: the service parses it in the
    currency's precision, so that the rules for amounts live in one place."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace(",", "").replace(" ", "") if value else value
