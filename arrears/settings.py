"""Settings for Arrears.

Everything that differs between a laptop and a fleet comes from the environment:
``DATABASE_URL`` (default: a SQLite file under ``ARREARS_DATA_DIR``), ``HUEY_URL`` (default: a SQLite
queue beside it; ``redis://…`` or ``postgres://…`` for several machines), ``ARREARS_SECRET_KEY``,
``ARREARS_DEBUG``, ``ARREARS_ALLOWED_HOSTS``, ``ARREARS_API_THROTTLE`` (requests per token, e.g. ``50/s``;
``off`` disables), ``ARREARS_API_ADDRESS_THROTTLE`` (requests without a valid token per address),
``ARREARS_CACHE_URL`` (``redis://…``: the throttling counters in Redis instead of the database),
``ARREARS_HTTPS`` and the proxy's headers (below),
``ARREARS_SMTP_URL`` (the mail server; default: mail written to files), ``ARREARS_MAIL_FROM`` and
``ARREARS_BASE_URL`` (where customers and payment connectors reach this site, e.g. ``https://billing.example.com``:
the links in e-mails and the connectors' callback URL; default ``http://127.0.0.1:8000``, and ``arrears serve
--port N`` makes it follow N).
"""

import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ARREARS_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# The key that signs sessions, CSRF tokens and password-reset links. Outside the tests Arrears has none built in:
# ARREARS_SECRET_KEY, or the random key `arrears demo` keeps in the data dir for the demo. Serving without one is
# refused (arrears.core.secret_key); commands that sign nothing (migrate, demo, billing) run without it.
SECRET_KEY_FILE = DATA_DIR / "secret-key"
TESTING = "pytest" in sys.modules
SECRET_KEY = (
    os.environ.get("ARREARS_SECRET_KEY")
    or (SECRET_KEY_FILE.read_text().strip() if SECRET_KEY_FILE.exists() else "")
    or ("arrears-tests-only-key-never-deployed" if TESTING else "")
)
if TESTING:
    os.environ.setdefault("ARREARS_SECRET_KEY", SECRET_KEY)  # for the servers and commands the tests start
DEBUG = os.environ.get("ARREARS_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("ARREARS_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "ninja",
    "axes",
    "django_htmx",
    "django_tables2",
    "django_filters",
    "arrears.core",
    "arrears.tenants",
    "arrears.customers",
    "arrears.catalog",
    "arrears.subscriptions",
    "arrears.invoices",
    "arrears.charges",
    "arrears.payments",
    "arrears.gateways",
    "arrears.events",
    "arrears.billing",
    "arrears.notifications",
    "arrears.demo",
    "arrears.server",
    "arrears.api",
    "arrears.panels",
    "arrears.panels.operator",
    "arrears.panels.customer",
]

MIDDLEWARE = [
    "arrears.core.middleware.ApiResponsesNotStored",
    "arrears.api.refusals.ApiRequestRefusals",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The browser-only middleware is skipped on the token-authenticated /api/v3/ (see arrears.core.middleware).
    "arrears.core.middleware.SessionMiddlewareNotOnApi",
    "django.middleware.common.CommonMiddleware",
    "arrears.core.middleware.CsrfViewMiddlewareNotOnApi",
    "arrears.core.middleware.AuthenticationMiddlewareNotOnApi",
    "arrears.core.middleware.MessageMiddlewareNotOnApi",
    "arrears.core.middleware.AxesMiddlewareNotOnApi",
    "arrears.core.middleware.HtmxMiddlewareNotOnApi",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "arrears.panels.csp.ContentSecurityPolicyMiddleware",
    "arrears.api.throttling.ApiThrottle",
    "arrears.api.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "arrears.urls"
WSGI_APPLICATION = "arrears.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "arrears.panels.context_processors.csrf_token_once",
            ],
            "builtins": ["arrears.panels.templatetags.panels"],
        },
    },
]


SQLITE_MMAP_BYTES = 256 << 20


def _database_from_url(url: str) -> dict[str, Any]:
    # A plain dict: Arrears' SQLite backend reads keys of its own (WRITER_WAIT_SECONDS) beside Django's.
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at BEGIN so two
        # writers queue instead of failing half-way. Arrears' own writers queue in the kernel on a lock file
        # before that, rather than in SQLite's sleeping busy handler (see the backend); the generous timeout
        # is what SQLite itself may wait for a lock (a checkpoint, another program writing the file).
        # Connections are kept (conn_max_age above): opening one costs more than a typical API request.
        # Reads go through memory-mapped I/O: a commit by any other connection empties a connection's page
        # cache, and mapped pages are read without a system call and a copy each. The mapped pages are the
        # operating system's file cache, shared by all processes, but they count in each one's RSS: hence a cap.
        config["ENGINE"] = "arrears.core.sqlite_backend"
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 120,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            f" PRAGMA mmap_size={SQLITE_MMAP_BYTES};",
        }
    return config


DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'arrears.sqlite3'}"
DATABASES = {"default": _database_from_url(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "arrears.core.sqlite_backend":
    # How long a write waits for SQLite's one writer before it gives up unchanged (the API answers 503 with
    # Retry-After). Unset: as long as it takes (jobs, the command line); ``arrears web`` sets 10 s for requests.
    DATABASES["default"]["WRITER_WAIT_SECONDS"] = float(os.environ.get("ARREARS_WRITER_WAIT_SECONDS") or 0) or None
    # Tests run on a real SQLite file (WAL, IMMEDIATE), not an in-memory database.
    # The process id keeps concurrent test runs on one machine apart.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-arrears-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The panels' sign-in: django-axes counts failed logins per (user name, client address) and locks that pair out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("ARREARS_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours: a locked-out sign-in is let in again after 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "arrears.panels.auth.locked_out"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False
# Arrears runs axes' and Django's CSRF middleware through subclasses that skip the token API; these checks look for
# the classes themselves, so arrears.core.checks checks the subclasses instead.
SILENCED_SYSTEM_CHECKS = ["axes.W002", "security.W003"]

# An API body may carry an attachment of 10 MB, about 13.4 MiB in base64; a larger body answers 413 before it
# is read (arrears.api.refusals). Multipart uploads of the panels count their files apart from this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 15 * 1024 * 1024

# Panel sessions end after eight hours, or when the browser closes, whichever comes first.
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LOGIN_URL = "/operator/login/"
X_FRAME_OPTIONS = "DENY"

# ARREARS_HTTPS=1: the site is reached over HTTPS only, directly or through a reverse proxy that terminates TLS.
# Browsers are told to use HTTPS for a year (HSTS), cookies travel only over it, and plain HTTP is redirected —
# except /healthz, which a load balancer probes on the inside. Behind a proxy, ARREARS_PROXY_SSL_HEADER=1 trusts its
# X-Forwarded-Proto: set it only when the proxy overwrites that header on every request, or a client could claim
# HTTPS by sending it.
HTTPS = os.environ.get("ARREARS_HTTPS", "0") == "1"
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("ARREARS_HSTS_SECONDS", str(365 * 24 * 60 * 60)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
if os.environ.get("ARREARS_PROXY_SSL_HEADER", "0") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
DJANGO_TABLES2_TEMPLATE = "panels/table.html"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("ARREARS_STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start while it is missing
MEDIA_ROOT = DATA_DIR / "media"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ARREARS_LOG_LEVEL", "WARNING")},
    "loggers": {
        "huey": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "arrears": {"level": "INFO"},
    },
}


def _huey_from_url(url: str | None):
    """The task queue: a SQLite file by default, Redis or PostgreSQL when HUEY_URL names one."""
    from huey import PostgresHuey, RedisHuey, SqliteHuey

    immediate = os.environ.get("ARREARS_HUEY_IMMEDIATE", "0") == "1"
    # The queue's name: installations (or test runs) sharing one Redis or PostgreSQL keep their tasks apart by it.
    name = os.environ.get("ARREARS_QUEUE_NAME", "arrears")
    if not url:
        return SqliteHuey(name, filename=str(DATA_DIR / "huey.sqlite3"), immediate=immediate)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey(name, url=url, immediate=immediate)
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresHuey(name, dsn=url, immediate=immediate)
    raise ValueError(f"HUEY_URL must start with redis:// or postgres://, got {url!r}")


# The API's budgets, "N/s|m|h|d" or "off" (arrears.api.throttling): calls per token, and calls without a valid
# token per client address. Counted in Redis when ARREARS_CACHE_URL names one, else in the database (on SQLite in a
# file of their own), so that every worker process of the site shares one count.
ARREARS_API_THROTTLE = (
    None if os.environ.get("ARREARS_API_THROTTLE", "50/s") == "off" else os.environ.get("ARREARS_API_THROTTLE", "50/s")
)
ARREARS_API_ADDRESS_THROTTLE = (
    None
    if os.environ.get("ARREARS_API_ADDRESS_THROTTLE", "30/m") == "off"
    else os.environ.get("ARREARS_API_ADDRESS_THROTTLE", "30/m")
)
for _budget in (ARREARS_API_THROTTLE, ARREARS_API_ADDRESS_THROTTLE):
    if _budget is not None and not re.fullmatch(r"[1-9][0-9]{0,8}/[smhd]", _budget):
        raise ImproperlyConfigured(f"a throttle rate is N/s, N/m, N/h or N/d, or off; got {_budget!r}")
ARREARS_CACHE_URL = os.environ.get("ARREARS_CACHE_URL") or None
ARREARS_RATE_COUNTER_FILE = DATA_DIR / "rate-counters.sqlite3"
# Behind a reverse proxy, the client's address is the last one the proxy appended to X-Forwarded-For.
ARREARS_PROXY_FORWARDED_FOR = os.environ.get("ARREARS_PROXY_FORWARDED_FOR", "0") == "1"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": ARREARS_CACHE_URL}
    if ARREARS_CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

HUEY = _huey_from_url(os.environ.get("HUEY_URL"))
# Accounts per billing chunk: one chunk is one transaction and one task, billed by whichever worker takes it.
ARREARS_BILLING_CHUNK_ACCOUNTS = int(os.environ.get("ARREARS_BILLING_CHUNK_ACCOUNTS", "5000"))
if ARREARS_BILLING_CHUNK_ACCOUNTS < 1:
    raise ValueError("ARREARS_BILLING_CHUNK_ACCOUNTS must be a positive number of accounts")


def _mail_from_url(url: str | None) -> dict:
    """Django's e-mail settings: SMTP from ``smtp://[user:password@]host[:port][?tls]`` (``smtps://`` or ``?ssl``
    for implicit TLS), else one file per message under the data directory, so a demo needs no mail server."""
    if not url:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(DATA_DIR / "mail"),
        }
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"ARREARS_SMTP_URL must start with smtp:// or smtps://, got {url!r}")
    options = parse_qs(parts.query, keep_blank_values=True)
    use_ssl = parts.scheme == "smtps" or "ssl" in options
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname or "localhost",
        "EMAIL_PORT": parts.port or (465 if use_ssl else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": "tls" in options,
        "EMAIL_USE_SSL": use_ssl,
    }


globals().update(_mail_from_url(os.environ.get("ARREARS_SMTP_URL")))
EMAIL_TIMEOUT = 30  # seconds; a hung mail server must not hold a worker, the delivery is retried
DEFAULT_FROM_EMAIL = SERVER_EMAIL = os.environ.get("ARREARS_MAIL_FROM", "billing@arrears.local")


def _is_site_address(value: str) -> bool:
    try:
        parts = urlsplit(value)
        if parts.port is not None and parts.port <= 0:
            return False
    except ValueError:  # an unbalanced IPv6 bracket, or a port that is not a number from 0 to 65535
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and "?" not in value
        and "#" not in value
        and not any(character.isspace() for character in value)
    )


def _base_url(value: str) -> str:
    """The site's public address, without a trailing slash: absolute links are built as ``f"{base}/customer/"``.
    Refused at startup when it could not make such links, so that no e-mail goes out with a broken one."""
    if not _is_site_address(value):
        raise ImproperlyConfigured(
            "ARREARS_BASE_URL must be an http:// or https:// URL without user, query or "
            f"fragment, e.g. https://billing.example.com; got {value!r}"
        )
    return value.rstrip("/")


ARREARS_BASE_URL = _base_url(os.environ.get("ARREARS_BASE_URL", "http://127.0.0.1:8000"))
