"""Doppel settings, driven by the environment (see README "Configuration").

Unset optional settings fall back to working defaults (embedded SQLite and the
django-q2 ORM broker under ``DOPPEL_DATA_DIR``); malformed values raise
``ImproperlyConfigured`` at start-up rather than half-working.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    check_callable_path,
    check_http_url,
    check_secret,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_path,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# Everything Doppel writes is private to the service account (README "Operating it
# securely"): the data dir is 0700 and every file a Doppel process creates —
# SQLite database, WAL and SHM, logs, secret key, keys, media, assets — is 0600.
# One umask for the whole process covers them all, whoever creates them.
os.umask(0o077)

DATA_DIR = Path(env_str("DOPPEL_DATA_DIR") or BASE_DIR / "var").resolve()
try:
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    if DATA_DIR.stat().st_mode & 0o077 and DATA_DIR.stat().st_uid == os.geteuid():
        DATA_DIR.chmod(0o700)  # a data dir made before (or by hand) is closed too
except OSError as exc:  # pragma: no cover - depends on the host
    raise ImproperlyConfigured(f"DOPPEL_DATA_DIR={DATA_DIR} cannot be created: {exc}") from exc

DEBUG = env_bool("DOPPEL_DEBUG", False)


def _secret_key() -> str:
    configured = env_str("DOPPEL_SECRET_KEY")
    if configured is not None:
        if len(configured) < 32:
            raise ImproperlyConfigured("DOPPEL_SECRET_KEY must be at least 32 characters long")
        return configured
    # Working default: a random key persisted in the data dir, so sessions and
    # encrypted keys survive restarts without anyone having to configure one.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("DOPPEL_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DOPPEL_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "csp",
    "rights",
    "ledger",
    "provenance",
    "gateway",
    "payments",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "web.middleware.RequireMFAMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a lockout into its 429 response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ----------------------------------------------------------------


def _database() -> dict:
    url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'doppel.sqlite3'}"
    try:
        # Persistent connections: opening one per request (and django-q2's broker
        # closes "old" ones on every enqueue) costs more than the request itself.
        config = dj_database_url.parse(url, conn_max_age=env_int("DOPPEL_DB_CONN_MAX_AGE", 60, minimum=0),
                                       conn_health_checks=True)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} is not a valid database URL: {exc}") from exc
    engine = config.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3":
        # WAL lets the web server read while a worker writes; IMMEDIATE makes
        # writers queue on the lock instead of failing with "database is locked".
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
    elif engine == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
        if env_bool("DOPPEL_DB_PREPARED_STATEMENTS", True):
            # Server-side binding lets psycopg prepare statements a connection
            # repeats, sparing PostgreSQL a parse and a plan on the hot paths.
            # Turn off behind PgBouncer < 1.21 in transaction pooling mode.
            config["OPTIONS"].update({"server_side_binding": True, "prepare_threshold": 5})
    else:
        raise ImproperlyConfigured(
            f"DATABASE_URL uses {engine or 'an unknown engine'}; Doppel supports sqlite:// and postgres://"
        )
    config["TEST"] = {"NAME": env_str("DOPPEL_TEST_DATABASE_NAME")} if env_str("DOPPEL_TEST_DATABASE_NAME") else {}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- i18n / time ----------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static / media -------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
# Uploaded and stored files (portraits): private like the rest of the data dir.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the apps' folders: no collectstatic step is
# needed for the demo or the tests, and the offline API docs still work.
WHITENOISE_USE_FINDERS = True
# The web app's own CSS and JS (static/web/) live at the project root, outside any app.
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_AUTOREFRESH = DEBUG

# --- request limits -------------------------------------------------------------

# JSON bodies beyond this are refused with 413 payload_too_large.
DOPPEL_MAX_JSON_BYTES = env_int("DOPPEL_MAX_JSON_BYTES", 64 * 1024, minimum=1024)
# Uploads (portraits, files to verify).
DOPPEL_MAX_UPLOAD_BYTES = env_int("DOPPEL_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1024)
DOPPEL_MAX_PORTRAIT_BYTES = env_int("DOPPEL_MAX_PORTRAIT_BYTES", 15 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DOPPEL_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- the generation gateway ---------------------------------------------------------

DOPPEL_MAX_SCRIPT_CHARS = env_int("DOPPEL_MAX_SCRIPT_CHARS", 1000, minimum=10, maximum=5000)
# Per brand, on POST /api/v1/generations (fixed one-minute windows shared by all processes).
DOPPEL_RATE_LIMIT_PER_MINUTE = env_int("DOPPEL_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
# Per brand: generations queued or rendering at once.
DOPPEL_MAX_INFLIGHT_PER_BRAND = env_int("DOPPEL_MAX_INFLIGHT_PER_BRAND", 200, minimum=1)
DOPPEL_APPROVAL_TTL_S = env_int("DOPPEL_APPROVAL_TTL_S", 72 * 3600, minimum=1)
# A hold not posted within this time after the render could start is voided by the sweeper.
DOPPEL_HOLD_TTL_S = env_int("DOPPEL_HOLD_TTL_S", 6 * 3600, minimum=60)
DOPPEL_IDEMPOTENCY_TTL_S = env_int("DOPPEL_IDEMPOTENCY_TTL_S", 24 * 3600, minimum=60)
# Webhooks go only to globally routable addresses (SSRF); 1 also allows loopback (tests, development).
DOPPEL_WEBHOOK_ALLOW_PRIVATE = env_bool("DOPPEL_WEBHOOK_ALLOW_PRIVATE", DEBUG)
DOPPEL_WEBHOOK_TIMEOUT_S = env_int("DOPPEL_WEBHOOK_TIMEOUT_S", 5, minimum=1, maximum=60)
DOPPEL_WEBHOOK_MAX_ATTEMPTS = env_int("DOPPEL_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1, maximum=30)
# Encrypts webhook signing secrets at rest (AES-256-GCM); unset: derived from SECRET_KEY (HKDF).
DOPPEL_WEBHOOK_SECRET_KEY = check_secret(
    "DOPPEL_WEBHOOK_SECRET_KEY", env_str("DOPPEL_WEBHOOK_SECRET_KEY"), min_length=16)
# Attempts a render gets (each bounded by DOPPEL_Q_TIMEOUT) before it fails as
# render_timeout or worker_lost, its hold voided.
DOPPEL_RENDER_MAX_ATTEMPTS = env_int("DOPPEL_RENDER_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# POST /verify: per party (all its keys together), fixed one-minute windows shared by all processes…
DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE = env_int("DOPPEL_VERIFY_RATE_LIMIT_PER_MINUTE", 30, minimum=1)
# …and verifications running at once across every server process (slots leased in the database).
DOPPEL_VERIFY_MAX_CONCURRENT = env_int("DOPPEL_VERIFY_MAX_CONCURRENT", max(1, (os.cpu_count() or 2) // 2),
                                       minimum=1, maximum=256)

# Extra platform codes accepted in contracts and generations (comma-separated).
DOPPEL_EXTRA_PLATFORMS = tuple(p.strip().lower() for p in env_list("DOPPEL_EXTRA_PLATFORMS", []))

# --- the ledger (docs/ledger.md) -----------------------------------------------------

# Our fee on platforms without a PlatformFee row, and the P&H of a union that set
# none: basis points of the performer's royalty, charged to the brand on top.
DOPPEL_PLATFORM_FEE_BPS = env_int("DOPPEL_PLATFORM_FEE_BPS", 1000, minimum=0, maximum=10000)
DOPPEL_DEFAULT_PH_BPS = env_int("DOPPEL_DEFAULT_PH_BPS", 1000, minimum=0, maximum=10000)
# After a posting commits, ask a worker to sequence the log, at most once per interval per process.
DOPPEL_LEDGER_SEQUENCE_NUDGE = env_bool("DOPPEL_LEDGER_SEQUENCE_NUDGE", True)
DOPPEL_LEDGER_SEQUENCE_NUDGE_MS = env_int("DOPPEL_LEDGER_SEQUENCE_NUDGE_MS", 1000, minimum=0)
# The log's checkpoint origin line (C2SP tlog-checkpoint): checked by the ledger app at start.
DOPPEL_LOG_ORIGIN = env_str("DOPPEL_LOG_ORIGIN") or "doppel.local/ledger"
# Encrypts the log's Ed25519 key at rest; unset: derived from SECRET_KEY.
DOPPEL_LOG_KEY_PASSPHRASE = env_str("DOPPEL_LOG_KEY_PASSPHRASE") or None

# --- payments: Stripe Connect payouts and metered billing (docs/payments.md) ----------

# Stripe's secret key and webhook endpoint secret (or their _FILE variants). Unset: payouts
# and billing are off (POST /api/v1/payouts/account answers 503), nothing else changes.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY") or None
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET") or None
# Only for the local fake Stripe server of tests and the demo (python -m fakestripe);
# unset for real Stripe.
DOPPEL_STRIPE_API_BASE = check_http_url("DOPPEL_STRIPE_API_BASE", env_str("DOPPEL_STRIPE_API_BASE"))
DOPPEL_STRIPE_TIMEOUT_S = env_int("DOPPEL_STRIPE_TIMEOUT_S", 20, minimum=1, maximum=120)
DOPPEL_STRIPE_CONNECT_COUNTRY = (env_str("DOPPEL_STRIPE_CONNECT_COUNTRY") or "US").upper()
# Where Stripe sends a payee back after (or to restart) onboarding.
DOPPEL_PAYOUT_RETURN_URL = check_http_url(
    "DOPPEL_PAYOUT_RETURN_URL", env_str("DOPPEL_PAYOUT_RETURN_URL") or "http://localhost:8000/")
# The payout job's period (default weekly) and per-currency minimums ("USD=1000,JPY=1500",
# ledger minor units; unset currencies: the equivalent of 10.00, see payments/currencies.py).
DOPPEL_PAYOUT_EVERY_MINUTES = env_int("DOPPEL_PAYOUT_EVERY_MINUTES", 7 * 24 * 60, minimum=1)
DOPPEL_PAYOUT_MINIMUMS = env_list("DOPPEL_PAYOUT_MINIMUMS", [])
# A brand's default credit limit, in major units of each currency's equivalent (10,000.00).
DOPPEL_CREDIT_LIMIT_MAJOR = env_int("DOPPEL_CREDIT_LIMIT_MAJOR", 10_000, minimum=0)
# How often meter reports are sent and the books reconciled with Stripe.
DOPPEL_BILLING_SYNC_MINUTES = env_int("DOPPEL_BILLING_SYNC_MINUTES", 1, minimum=1)
DOPPEL_RECONCILE_EVERY_MINUTES = env_int("DOPPEL_RECONCILE_EVERY_MINUTES", 24 * 60, minimum=1)
# Webhook events older than this are refused (Stripe's default tolerance).
DOPPEL_STRIPE_WEBHOOK_TOLERANCE_S = env_int("DOPPEL_STRIPE_WEBHOOK_TOLERANCE_S", 300, minimum=1)

# --- provenance (docs/provenance.md) ---------------------------------------------------

# Certificates and encrypted private keys; unset: DATA_DIR/keys.
DOPPEL_KEYS_DIR = env_path("DOPPEL_KEYS_DIR")
# Encrypts private keys at rest; unset: derived from SECRET_KEY (HKDF).
DOPPEL_SIGNING_KEY_PASSPHRASE = check_secret(
    "DOPPEL_SIGNING_KEY_PASSPHRASE", env_str("DOPPEL_SIGNING_KEY_PASSPHRASE"), min_length=16)
# "module:function" signing with a key held in a KMS/HSM, and the PEM chain for its key.
DOPPEL_SIGNER_CALLBACK = check_callable_path("DOPPEL_SIGNER_CALLBACK", env_str("DOPPEL_SIGNER_CALLBACK"))
DOPPEL_SIGNER_CERTS_FILE = env_path("DOPPEL_SIGNER_CERTS_FILE")
# RFC 3161 timestamp authority for C2PA signatures (production).
DOPPEL_TSA_URL = check_http_url("DOPPEL_TSA_URL", env_str("DOPPEL_TSA_URL"))
# The largest file POST /verify and `manage.py verify` accept.
DOPPEL_VERIFY_MAX_BYTES = env_int("DOPPEL_VERIFY_MAX_BYTES", DOPPEL_MAX_UPLOAD_BYTES, minimum=1024)

# --- the renderer (docs/renderer.md) ---------------------------------------------------
# renderer/ imports no Django and reads its DOPPEL_RENDER_* variables itself, in
# every process that renders; they are checked here too so that a malformed
# value stops the service at start, not at the first render.
DOPPEL_RENDER_DEVICE = env_choice("DOPPEL_RENDER_DEVICE", "auto", ("auto", "cpu", "cuda"))
DOPPEL_RENDER_THREADS = env_int("DOPPEL_RENDER_THREADS", 0, minimum=1) or None
DOPPEL_RENDER_X264_PRESET = env_choice(
    "DOPPEL_RENDER_X264_PRESET", "veryfast",
    ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"))

# --- REST framework -------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rights.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rights.auth.IsParty"],
    "DEFAULT_PARSER_CLASSES": ["common.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "common.api.pagination.CursorishPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Doppel API",
    "DESCRIPTION": "Rights and royalty ledger with a metered render gateway for digital doubles.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No call to swagger.io's validator from the docs page (offline, and the CSP allows only 'self').
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per vocabulary (the TextChoices listed once in the models).
    "ENUM_NAME_OVERRIDES": {
        "ContractStatusEnum": "rights.models.REPORTED_STATUSES",
        "PartyKindEnum": "rights.models.PartyKind",
        "GenerationStatusEnum": "gateway.models.GenerationStatus",
        "WebhookEventEnum": "gateway.models.WebhookEvent",
        "DeliveryStatusEnum": "gateway.models.DeliveryStatus",
        "HoldStatusEnum": "ledger.models.HoldStatus",
        "TransactionKindEnum": "ledger.models.TransactionKind",
        "SideEnum": "ledger.models.Side",
    },
}

# --- background work (django-q2) ------------------------------------------------

_broker = env_str("DOPPEL_Q_BROKER", "orm")
Q_CLUSTER: dict = {
    "name": env_str("DOPPEL_Q_NAME", "doppel"),
    "workers": env_int("DOPPEL_Q_WORKERS", 2, minimum=1, maximum=64),
    # A render of a long clip can take minutes on CPU. retry must exceed
    # timeout, or a slow task is handed to a second worker while still running.
    "timeout": env_int("DOPPEL_Q_TIMEOUT", 600, minimum=10),
    "max_attempts": env_int("DOPPEL_Q_MAX_ATTEMPTS", 3, minimum=1),
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 0.2,
    "label": "Doppel tasks",
}
Q_CLUSTER["retry"] = env_int("DOPPEL_Q_RETRY", Q_CLUSTER["timeout"] + 60, minimum=11)
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("DOPPEL_Q_RETRY must exceed DOPPEL_Q_TIMEOUT (else tasks run twice at once)")
DOPPEL_Q_BROKER = "orm" if _broker == "orm" else "redis"
if _broker == "orm":
    Q_CLUSTER["orm"] = "default"
elif _broker.startswith(("redis://", "rediss://")):
    Q_CLUSTER["redis"] = _broker
else:
    raise ImproperlyConfigured(f"DOPPEL_Q_BROKER={_broker!r}: use 'orm' or a redis:// URL")

# --- logging --------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DOPPEL_LOG_LEVEL", "INFO")},
    # The stripe SDK logs every request at INFO (keys are redacted, but the noise hides ours).
    "loggers": {"django.db.backends": {"level": "WARNING"}, "stripe": {"level": "WARNING"}},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/app/"

# --- the web app: accounts (django-allauth), two-factor sign-in (allauth.mfa, TOTP) ----
# People join by invitation only (web.adapters); they sign in with their e-mail. TOTP is
# available to everyone and required for union auditors and staff (web.middleware).
ACCOUNT_ADAPTER = "web.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # an invitation link proves the address
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# Failed sign-ins are throttled by django-axes alone (DOPPEL_LOGIN_FAILURE_LIMIT, a 429 per client
# address, below): allauth's own per-e-mail counter would answer the same with a form error, one
# request later, and lock out the person instead of the address.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Doppel"
# E-mail (invitations, password resets): printed to the console unless an SMTP host is set.
DOPPEL_SMTP_HOST = env_str("DOPPEL_SMTP_HOST") or None
if DOPPEL_SMTP_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = DOPPEL_SMTP_HOST
    EMAIL_PORT = env_int("DOPPEL_SMTP_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("DOPPEL_SMTP_USER") or ""
    EMAIL_HOST_PASSWORD = env_str("DOPPEL_SMTP_PASSWORD") or ""
    EMAIL_USE_TLS = env_bool("DOPPEL_SMTP_STARTTLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DOPPEL_EMAIL_FROM") or "Doppel <no-reply@doppel.local>"
# How often the service audits its own log for each union (python -m ledger.audit, in process).
DOPPEL_UNION_AUDIT_EVERY_MINUTES = env_int("DOPPEL_UNION_AUDIT_EVERY_MINUTES", 60, minimum=1)

# --- security (README "Configuration" and "Operating it securely") -------------------
# Production (DEBUG off) passes `manage.py check --deploy` with no warning.

# HTTPS: on unless DEBUG. Plain HTTP on loopback (the demo, the test servers,
# the benches) sets DOPPEL_HTTPS=0 explicitly.
DOPPEL_HTTPS = env_bool("DOPPEL_HTTPS", not DEBUG)
# Reverse proxies in front of the service that terminate TLS and set
# X-Forwarded-Proto / X-Forwarded-For (overwriting what the client sent). 0: none,
# and those headers are ignored (a client could forge them).
DOPPEL_PROXY_COUNT = env_int("DOPPEL_PROXY_COUNT", 0, minimum=0, maximum=10)
if DOPPEL_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = DOPPEL_HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = DOPPEL_HTTPS
SECURE_HSTS_SECONDS = env_int("DOPPEL_HSTS_SECONDS", 365 * 24 * 3600, minimum=0) if DOPPEL_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DOPPEL_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DOPPEL_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles only from our own
# origin, nothing inline — the offline Swagger UI loads its bundle and its init
# script (the split view) as files, the admin has no inline script or style.
# The one inline block allowed is the <style> of drf-spectacular's Swagger page,
# by its hash (tests/test_deploy.py fails if an upgrade changes it); images also
# allow data: URIs (Swagger UI's icons).
SWAGGER_STYLE_HASH = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", SWAGGER_STYLE_HASH],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login throttling (django-axes) for the admin login and any web login through
# django.contrib.auth: after DOPPEL_LOGIN_FAILURE_LIMIT failures from one client
# address, that address is refused (429) for DOPPEL_LOGIN_COOLOFF_S seconds,
# before any password is hashed (the AxesStandaloneBackend comes first).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AXES_FAILURE_LIMIT = env_int("DOPPEL_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("DOPPEL_LOGIN_COOLOFF_S", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
# The client address: REMOTE_ADDR, or the X-Forwarded-For entry that the outermost of
# DOPPEL_PROXY_COUNT trusted proxies appended (ipware counts the proxies listed in the
# header, which leaves out the nearest one: it is REMOTE_ADDR). Entries to its left
# are the client's word and never used.
AXES_IPWARE_PROXY_ORDER = "left-most"
AXES_IPWARE_PROXY_COUNT = DOPPEL_PROXY_COUNT - 1 if DOPPEL_PROXY_COUNT else None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if DOPPEL_PROXY_COUNT else ("REMOTE_ADDR",))
LOGGING["loggers"]["axes.apps"] = {"level": "WARNING"}  # not its banner at every start
