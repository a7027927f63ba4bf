"""Template context shared by both panels."""

from django.middleware.csrf import get_token
from django.utils.functional import SimpleLazyObject


def csrf_token_once(request):
    """The CSRF token masked once per request. Django's own ``csrf_token`` masks the secret anew each time a
    template prints it (32 random characters drawn one by one), and a page with a form per table row prints it
    dozens of times."""
    return {"csrf_token": SimpleLazyObject(lambda: get_token(request))}
