"""System checks of Arrears' own: the ones Django's deploy checks would make, for the classes Arrears uses."""

from django.conf import settings
from django.core import checks

CSRF_MIDDLEWARE = "arrears.core.middleware.CsrfViewMiddlewareNotOnApi"


@checks.register(checks.Tags.security, deploy=True)
def csrf_middleware_installed(app_configs, **kwargs):
    """Django's security.W003 and W016 look for its CsrfViewMiddleware by name, and Arrears runs a subclass of it
    that skips the token API (W003 is silenced); these look for the subclass, and W016's secure cookie with it."""
    if CSRF_MIDDLEWARE not in settings.MIDDLEWARE:
        return [
            checks.Warning(
                f"{CSRF_MIDDLEWARE} is not in MIDDLEWARE: the panels' forms have no CSRF protection", id="arrears.W003"
            )
        ]
    if not settings.CSRF_COOKIE_SECURE:
        return [
            checks.Warning(
                "CSRF_COOKIE_SECURE is not True: the CSRF cookie travels over plain HTTP too; "
                "set ARREARS_HTTPS=1 where the site is served over HTTPS",
                id="arrears.W016",
            )
        ]
    return []
