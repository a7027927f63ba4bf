"""The site's secret key: required to serve, generated once for the demo.

It signs sessions, CSRF tokens and password-reset links, so a key known from the source code would let anyone
forge them. Arrears therefore has none built in: ``ARREARS_SECRET_KEY``, or for the demo a random key that
``arrears demo`` writes once into the data dir (``secret-key``, readable by its owner only).
"""

import secrets

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MISSING = (
    "ARREARS_SECRET_KEY is not set: set it to a long random value, e.g. the output of "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'` (the demo keeps one in "
    "$ARREARS_DATA_DIR/secret-key, written by `arrears demo`)"
)


def configured_key() -> str:
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return ""


def require_secret_key() -> None:
    """Refuse to serve without a key."""
    if not configured_key():
        raise ImproperlyConfigured(MISSING)


def ensure_demo_secret_key() -> bool:
    """The demo's key: kept in the data dir, generated the first time. Returns whether it was generated."""
    if configured_key():
        return False
    key = secrets.token_urlsafe(50)
    path = settings.SECRET_KEY_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(key + "\n")
    settings.SECRET_KEY = key
    return True
