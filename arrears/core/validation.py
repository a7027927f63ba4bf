"""Field checks shared by the services; each failure names the field (R47)."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from arrears.core.errors import ArrearsError


def clean_name(value, error: type[ArrearsError], *, field: str = "name", max_length: int = 200) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > max_length:
        raise error(f"{field} must be 1 to {max_length} characters", pointer=f"/{field}")
    return text


def clean_email(value, error: type[ArrearsError], *, required: bool = True) -> str:
    email = value.strip().lower() if isinstance(value, str) else ""
    if not email and not required:
        return ""
    try:
        validate_email(email)
    except ValidationError as exc:
        raise error(f"{value!r} is not an e-mail address", pointer="/email") from exc
    return email
