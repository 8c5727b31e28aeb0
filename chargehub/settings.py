"""ChargeHub settings: one file, read from the environment.

Without any environment the system runs on its embedded default: SQLite under var/,
a channel layer and a Celery broker that need no external service. Production sets
DATABASE_URL (PostgreSQL), REDIS_URL or REDIS_SENTINELS (channel layer and Celery
broker), SECRET_KEY, ALLOWED_HOSTS, behind its TLS proxy SECURE_PROXY_SSL_HEADER and
TRUSTED_PROXY_COUNT, and leaves DEBUG off (https only by default then).
"""

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import admin_list_charts
import dj_database_url
import xstatic.pkg.leaflet
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CHARGEHUB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The development key is refused by `manage.py serve` when DEBUG is off (see
# chargehub/management/commands/serve.py), and flagged by `check --deploy`.
DEVELOPMENT_SECRET_KEY = "django-insecure-chargehub-development-only"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin with our site: apps in the order staff use them.
    "chargehub.admin_apps.ChargeHubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # allauth's list of security keys (mfa/webauthn/authenticator_list.html) loads humanize.
    "django.contrib.humanize",
    "channels",
    "djstripe",
    # Accounts: sign-up, email verification, password reset, second factors (users/roles.py
    # and users/admin_mfa.py for staff).
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "chargehub",
    "users",
    "stations",
    "billing",
    "notifications",
    # The operator's side: tickets, alerts, uptime, maintenance, support, emergency stop.
    "operations",
    # Fleet operations: firmware campaigns, diagnostics uploads, configuration baselines.
    "fleet",
    # Summaries, dashboards and reports for staff; it only listens and reads.
    "insights",
    # The driver's actions (start, stop, reserve), below both the portal and the API.
    "charging",
    # The driver portal: find a charger, start and follow a session, the account pages.
    "portal",
    # Who changed what, in admin and the staff API: listens to model signals only.
    "audit",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's JS and CSS for /api/docs/, served from our /static/ instead of a CDN.
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy header (SECURE_CSP below) and the nonce templates may use.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the query or the form (answered in the request's language):
    # text no database can store is a 4xx.
    "chargehub.request_text.refuse_unstorable_text",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # After authentication: staff without a second factor are sent to set one up.
    "users.admin_mfa.admin_requires_mfa",
    # Staff without one add their first second factor only after an emailed link.
    "users.first_factor.first_factor_needs_email_confirmation",
    # Remembers the admin or staff API request for audit records (audit/context.py).
    "audit.context.staff_requests",
]

ROOT_URLCONF = "chargehub.urls"
ASGI_APPLICATION = "chargehub.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                # csp_nonce for {% csp_nonce_attr %} (the admin's scripts use it).
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "chargehub.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{SQLITE_PATH}",
        # Seconds a thread keeps its connection; 0 closes it after each request or task.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, scheduler, simulators) share the file: WAL lets
    # readers run beside the writer, IMMEDIATE transactions take the write lock up front
    # instead of failing half-way with "database is locked", and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that the OCPP server the tests start in a subprocess
    # sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_chargehub.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL: psycopg prepares a statement on a connection once it has run it this many
# times, and PostgreSQL then skips parsing and, mostly, planning it: its backends spent a
# fifth to a third less CPU per OCPP call (docs/performance.md). Prepared statements need
# server-side parameter binding (Django's default binds on the client). "off": neither,
# for a pooler in transaction mode that cannot keep them (README, Configuration).
DATABASE_PREPARE_THRESHOLD = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5").strip().lower()


def prepared_statements(database: dict[str, Any]) -> None:
    """Set a PostgreSQL database's OPTIONS for DATABASE_PREPARE_THRESHOLD."""
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    if DATABASE_PREPARE_THRESHOLD not in {"off", ""}:
        if not DATABASE_PREPARE_THRESHOLD.isdigit():
            raise ImproperlyConfigured(
                "DATABASE_PREPARE_THRESHOLD is a number of runs (5 by default) or off, "
                f"not {DATABASE_PREPARE_THRESHOLD!r}."
            )
        options = database.setdefault("OPTIONS", {})
        options["server_side_binding"] = True
        options["prepare_threshold"] = int(DATABASE_PREPARE_THRESHOLD)


prepared_statements(DATABASES["default"])
# An optional read replica of the PostgreSQL primary (streaming replication): the message
# log in admin and the reports (insights dashboards, uptime) read from it; everything
# else, and every write, uses the primary (chargehub/databases.py).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **dj_database_url.parse(
            DATABASE_REPLICA_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60)
        ),
        "CONN_HEALTH_CHECKS": True,
        # Tests read the test database through it.
        "TEST": {"MIRROR": "default"},
    }
    prepared_statements(DATABASES["replica"])
DATABASE_ROUTERS = ["chargehub.databases.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

# --- Redis: channel layer and Celery broker ---------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis Sentinel instead of one address: the sentinels ("host:port,host:port") and the
# name they monitor the master under. The channel layer and Celery's broker then ask the
# sentinels where the master is, and follow it through a failover; REDIS_URL is unused.
REDIS_SENTINELS = env_list("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
# Under Sentinel, what REDIS_URL would carry otherwise: the master's database index and
# password (its requirepass), and the sentinels' own password when they ask for one.
REDIS_SENTINEL_DB = env_int("REDIS_SENTINEL_DB", 0)
REDIS_SENTINEL_MASTER_PASSWORD = os.environ.get("REDIS_SENTINEL_MASTER_PASSWORD", "")
REDIS_SENTINEL_PASSWORD = os.environ.get("REDIS_SENTINEL_PASSWORD", "")
_sentinel_addresses = [
    (host, int(port)) for host, port in (s.rsplit(":", 1) for s in REDIS_SENTINELS)
]
# A sentinel that does not answer is passed over quickly for the next one.
_sentinel_kwargs: dict[str, object] = {"socket_timeout": 2, "socket_connect_timeout": 2}
if REDIS_SENTINEL_PASSWORD:
    _sentinel_kwargs["password"] = REDIS_SENTINEL_PASSWORD
_sentinel_master: dict[str, object] = {
    "sentinels": _sentinel_addresses,
    "master_name": REDIS_SENTINEL_MASTER,
    "sentinel_kwargs": _sentinel_kwargs,
}


def _sentinel_master_database(db: int) -> dict[str, object]:
    """Connection arguments for database `db` of the master the sentinels name."""
    password = (
        {"password": REDIS_SENTINEL_MASTER_PASSWORD} if REDIS_SENTINEL_MASTER_PASSWORD else {}
    )
    return {**_sentinel_master, "db": db, **password}


# Seconds a channel-layer group membership lasts; each OCPP consumer renews its own at a
# quarter of this while its charger is connected (stations/ocpp/consumer.py).
CHANNEL_GROUP_EXPIRY = env_int("CHANNEL_GROUP_EXPIRY", 86400)

# Redis connections each process's channel layer opens at most; beyond them, calls wait
# for a free one (chargehub/redis_channel_layer.py).
CHANNEL_LAYER_MAX_CONNECTIONS = env_int("CHANNEL_LAYER_MAX_CONNECTIONS", 100)

_redis_connection = {
    # channels_redis waits for messages with a 5 s blocking BZPOPMIN; redis-py 8 reads
    # with a 5 s socket timeout by default, so an idle consumer could lose that race,
    # die, and drop its charger. The read timeout must exceed the pop.
    "socket_timeout": 20,
    "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
    # Seconds a call waits for a free connection in a storm before the consumer refuses
    # the charger (which retries).
    "timeout": 10,
}
if REDIS_SENTINELS:
    _redis_host = {**_sentinel_master_database(REDIS_SENTINEL_DB), **_redis_connection}
else:
    _redis_host = {"address": REDIS_URL, **_redis_connection}

if REDIS_URL or REDIS_SENTINELS:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chargehub.redis_channel_layer.RedisChannelLayer",
            "CONFIG": {
                "hosts": [_redis_host],
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": CHANNEL_GROUP_EXPIRY,
            },
        }
    }
else:
    # Embedded default: in-process delivery in memory, delivery to other processes
    # (a Celery task or `manage.py ocpp_call` reaching a charger held by the web
    # process) through a SQLite file. See chargehub/channel_layer.py.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chargehub.channel_layer.SQLiteChannelLayer",
            # CHARGEHUB_CHANNEL_LAYER: the test suite gives each run its own file.
            "CONFIG": {
                "path": os.environ.get(
                    "CHARGEHUB_CHANNEL_LAYER", str(VAR_DIR / "channels.sqlite3")
                ),
                "group_expiry": CHANNEL_GROUP_EXPIRY,
            },
        }
    }

# --- Celery -----------------------------------------------------------------------------
if REDIS_SENTINELS:
    # kombu's Sentinel transport: one sentinel:// URL per sentinel, tried in turn; the
    # password and database in them are the master's.
    _master_auth = (
        f":{quote(REDIS_SENTINEL_MASTER_PASSWORD, safe='')}@"
        if REDIS_SENTINEL_MASTER_PASSWORD
        else ""
    )
    CELERY_BROKER_URL = ";".join(
        f"sentinel://{_master_auth}{sentinel}/{REDIS_SENTINEL_DB}" for sentinel in REDIS_SENTINELS
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "master_name": REDIS_SENTINEL_MASTER,
        "sentinel_kwargs": _sentinel_kwargs,
    }
else:
    CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost//"
if not (REDIS_URL or REDIS_SENTINELS):
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        # Exchange tables; kombu's default is "control" in the working directory.
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# Run tasks in the calling process instead of a worker; the tests' servers set it so
# that what a worker would do (settling a session) happens before they look.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Charger passwords: see stations/charger_auth.py for why they get their own hasher.
    "stations.charger_auth.ChargerPasswordHasher",
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# django-allauth: people sign up and log in with their email address (users.User has no
# username), and must confirm it before they can log in.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[ChargeHub] "
# The account's address is told of every new or removed second factor, new recovery codes,
# password and email changes, in the account's language (users/account_adapter.py).
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# The client's IP address for the rate limits below: chargehub/client_address.py
# (TRUSTED_PROXY_COUNT), as for the API's throttles.
ACCOUNT_ADAPTER = "users.account_adapter.AccountAdapter"
# Stated here rather than left to allauth's defaults, so that changing them is a decision.
# Counted in the default cache (CACHE_URL: shared by all web processes in production).
# "n/period/what": what is the client's IP, the login key (the email address) or the user.
ACCOUNT_LOGIN_ATTEMPTS = env_int("ACCOUNT_LOGIN_ATTEMPTS", 5)
ACCOUNT_RATE_LIMITS = {
    # Wrong passwords: per IP, and per email address so that one account is not guessed
    # from many addresses; after that, login with that address waits out the period.
    "login_failed": f"10/m/ip,{ACCOUNT_LOGIN_ATTEMPTS}/5m/key",
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
    "manage_email": "10/m/user",
    "confirm_email": "1/3m/key",
}
# Second factors for drivers who want one, required of staff (ADMIN_REQUIRE_MFA).
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "ChargeHub"
# WebAuthn needs https, except on localhost during development.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# Staff must have a second factor to open the admin (users/admin_mfa.py). On by default;
# off under DEBUG unless set, so that the demo admin of `make run` logs in with a password.
ADMIN_REQUIRE_MFA = env_bool("ADMIN_REQUIRE_MFA", not DEBUG)

# The default cache holds login rate limits (and API throttles). Per process unless
# CACHE_URL points at Redis ("redis://127.0.0.1:6379/1"), or CACHE_SENTINEL_DB names a
# database of the master behind REDIS_SENTINELS: production with more than one web
# process needs one of them for the limits to hold.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHE_SENTINEL_DB = os.environ.get("CACHE_SENTINEL_DB", "")
if CACHE_SENTINEL_DB and not REDIS_SENTINELS:
    raise ImproperlyConfigured("CACHE_SENTINEL_DB needs REDIS_SENTINELS.")
if REDIS_SENTINELS and CACHE_SENTINEL_DB:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Only a name: chargehub/redis_cache.py asks the sentinels where the master is.
            "LOCATION": f"sentinel://{REDIS_SENTINEL_MASTER}/{CACHE_SENTINEL_DB}",
            "OPTIONS": {
                "pool_class": "chargehub.redis_cache.SentinelConnectionPool",
                **_sentinel_master_database(int(CACHE_SENTINEL_DB)),
            },
        }
    }
elif CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("sv", _("Swedish"))]
# Our own date formats where Django's differ from what drivers read (chargehub/formats):
# English dates as "6 Dec 2026 18:39", never US month/day order.
FORMAT_MODULE_PATH = ["chargehub.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Stockholm")  # display; storage is UTC
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Leaflet (the station map) from the xstatic-leaflet package, as /static/leaflet/…: an
# asset-only package, so no Django app (or its map widgets) comes with it.
# Chart.js (the admin's charts) as /static/chartjs/chart.bundle.min.js, from the
# django-admin-list-charts package: only its bundled Chart.js is used, not the app.
STATICFILES_DIRS = [
    ("leaflet", xstatic.pkg.leaflet.BASE_DIR),
    ("chartjs", Path(admin_list_charts.__file__).parent / "static" / "admin_list_charts" / "js"),
]

# --- Portal map (templates/portal/station_list.html) -------------------------------------
# OpenStreetMap's own tile server by default; its tile usage policy asks sites with heavy
# traffic to use a tile provider or run their own: point these at it.
PORTAL_MAP_TILE_URL = os.environ.get(
    "PORTAL_MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
)
PORTAL_MAP_ATTRIBUTION = os.environ.get(
    "PORTAL_MAP_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)
# How else a driver can top up their wallet, shown on the wallet page (always, and in place
# of the card form when card payments are not configured), e.g. "Pay at the desk, or by
# bank transfer to 123-4567 with your email as the reference". Empty: a general sentence.
PORTAL_TOPUP_HELP = os.environ.get("PORTAL_TOPUP_HELP", "")

# --- Logging ----------------------------------------------------------------------------
LIBRARY_LOG_LEVEL = os.environ.get("LIBRARY_LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Control characters in messages are escaped: a client's CR LF cannot forge a line.
    "formatters": {
        "plain": {
            "()": "chargehub.logs.EscapingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Libraries that say a lot at INFO that nobody reads: the web server, every OCPP frame
    # (the ocpp library; our message log keeps them), every font WeasyPrint subsets for a
    # PDF. `run_stack --verbose` sets LIBRARY_LOG_LEVEL=INFO to hear them again.
    "loggers": {
        name: {"level": LIBRARY_LOG_LEVEL}
        for name in ("daphne", "uvicorn.error", "django.server", "ocpp", "weasyprint", "fontTools")
    },
}

# --- OCPP -------------------------------------------------------------------------------
# Unknown charge point ids are refused; with this on they are let in as Pending and
# wait for a member of staff to approve them in admin.
OCPP_ALLOW_UNKNOWN_CHARGERS = env_bool("OCPP_ALLOW_UNKNOWN_CHARGERS", False)
# Heartbeat interval handed out in BootNotification.conf (seconds), and the interval a
# Pending charger is asked to retry its BootNotification after.
OCPP_HEARTBEAT_INTERVAL = env_int("OCPP_HEARTBEAT_INTERVAL", 300)
OCPP_PENDING_RETRY_INTERVAL = env_int("OCPP_PENDING_RETRY_INTERVAL", 60)
# A charger counts as offline when nothing was heard from it for heartbeat interval
# times this factor.
OCPP_OFFLINE_AFTER_HEARTBEATS = float(os.environ.get("OCPP_OFFLINE_AFTER_HEARTBEATS", "2"))
# Largest frame accepted from a charger; a larger one closes the socket with 1009.
OCPP_MAX_FRAME_BYTES = env_int("OCPP_MAX_FRAME_BYTES", 64 * 1024)
# Default wait for a charger's answer to a command (seconds).
OCPP_COMMAND_TIMEOUT = env_int("OCPP_COMMAND_TIMEOUT", 30)
# A charger timestamp further in the future than this, or older than the queue age
# below, is not believed: the server's receive time is stored and the row flagged.
OCPP_CLOCK_SKEW_TOLERANCE = env_int("OCPP_CLOCK_SKEW_TOLERANCE", 300)
OCPP_MAX_QUEUED_MESSAGE_AGE = env_int("OCPP_MAX_QUEUED_MESSAGE_AGE", 30 * 24 * 3600)
# An open session whose charger has said nothing about it for this long is closed by
# the stale-session rule (seconds).
OCPP_STALE_SESSION_AFTER = env_int("OCPP_STALE_SESSION_AFTER", 24 * 3600)
# OCPP message log retention (days); 0 keeps the log forever.
OCPP_MESSAGE_LOG_DAYS = env_int("OCPP_MESSAGE_LOG_DAYS", 30)
# Meter sample retention (days); 0 keeps samples forever. Samples of sessions still open
# or held by a function named below (billing: not priced, or its charge not final) are
# never deleted. Insights' maintenance reads the last 63 days: keep at least that.
METER_SAMPLE_RETENTION_DAYS = env_int("METER_SAMPLE_RETENTION_DAYS", 0)
METER_SAMPLE_HOLDS = env_list("METER_SAMPLE_HOLDS", "billing.charges.samples_still_needed")

# The ASGI server `manage.py serve` runs (chargehub/servers.py): daphne, or uvicorn for
# less CPU per call where TLS ends at a proxy (it cannot serve --tls-port).
OCPP_SERVER = os.environ.get("OCPP_SERVER", "daphne")
if OCPP_SERVER not in ("daphne", "uvicorn"):
    raise ImproperlyConfigured(f"OCPP_SERVER must be daphne or uvicorn, not {OCPP_SERVER!r}.")

# --- OCPP security profiles 2 and 3, certificates (stations/certificates.py) ------------
# TLS served by `manage.py serve` itself (chargehub/tls.py): the server's certificate
# chain and key (PEM files) and the port (0: no TLS port; behind nginx, leave it 0).
OCPP_TLS_CERTIFICATE = os.environ.get("OCPP_TLS_CERTIFICATE", "")
OCPP_TLS_KEY = os.environ.get("OCPP_TLS_KEY", "")
OCPP_TLS_PORT = env_int("OCPP_TLS_PORT", 0)
# The charging-station CA (PEM files; `manage.py charger_ca create` makes them): it signs
# chargers' CSRs, and only certificates it issued pass security profile 3.
OCPP_CA_CERTIFICATE = os.environ.get("OCPP_CA_CERTIFICATE", "")
OCPP_CA_KEY = os.environ.get("OCPP_CA_KEY", "")
# Who signs a charger's CSR: a function (csr_pem, charge_point_id) -> certificate PEM;
# ChargeHub's CA by default, or one that hands the CSR to an external CA.
OCPP_CERTIFICATE_SIGNER = os.environ.get(
    "OCPP_CERTIFICATE_SIGNER", "stations.certificates.sign_with_ca"
)
# How long a certificate ChargeHub's CA signs is valid, and how many days before its
# expiry the charger is asked for a new CSR (renew_expiring_certificates, daily).
OCPP_CERTIFICATE_DAYS = env_int("OCPP_CERTIFICATE_DAYS", 365)
OCPP_CERTIFICATE_RENEW_DAYS = env_int("OCPP_CERTIFICATE_RENEW_DAYS", 30)
# Behind a TLS proxy that verifies chargers' client certificates: the header in which it
# passes the verified certificate (nginx: $ssl_client_escaped_cert). Read only from a
# trusted proxy (TRUSTED_PROXY_COUNT > 0) over https (SECURE_PROXY_SSL_HEADER); empty: off.
OCPP_PROXY_CLIENT_CERT_HEADER = os.environ.get("OCPP_PROXY_CLIENT_CERT_HEADER", "")

# Hourly spot prices for cheap-hour charging (billing/spot_prices.py): a URL answering
# [{"starts_at": "...", "price_per_kwh": ...}], fetched hourly; empty: staff enter them.
SPOT_PRICE_URL = os.environ.get("SPOT_PRICE_URL", "")

# --- Booking ahead (charging/bookings.py) ----------------------------------------------
# The longest slot a driver may book (minutes, a multiple of 15).
BOOKING_MAX_MINUTES = env_int("BOOKING_MAX_MINUTES", 120)
# How far ahead a slot may start (days).
BOOKING_DAYS_AHEAD = env_int("BOOKING_DAYS_AHEAD", 7)
# The charger holds the connector (ReserveNow) this many minutes before the slot.
BOOKING_LEAD_MINUTES = env_int("BOOKING_LEAD_MINUTES", 15)
# Cancelling is free until this many minutes before the slot; later the tariff's
# no-show fee is charged.
BOOKING_FREE_CANCEL_MINUTES = env_int("BOOKING_FREE_CANCEL_MINUTES", 60)

# --- Notifications (notifications/outbox.py) ------------------------------------------
# Attempts per outbox message before it is marked failed (staff may resend from admin).
NOTIFICATIONS_MAX_ATTEMPTS = env_int("NOTIFICATIONS_MAX_ATTEMPTS", 8)
# How long a worker holds a message it is sending (seconds); past it, the sweep takes
# it over (a worker killed mid-delivery). Longer than any send may take.
NOTIFICATIONS_LEASE_SECONDS = env_int("NOTIFICATIONS_LEASE_SECONDS", 300)
# One message per kind and charger per this many seconds to one person (a flapping
# charger floods nobody; notifications/preferences.py rate_limited).
NOTIFICATIONS_RATE_WINDOW = env_int("NOTIFICATIONS_RATE_WINDOW", 900)
# A driver is reminded of a booking this many minutes before it starts
# (notifications/events.py remind_bookings, a beat task).
NOTIFICATIONS_BOOKING_REMINDER_MINUTES = env_int("NOTIFICATIONS_BOOKING_REMINDER_MINUTES", 30)
# A driver whose car stopped drawing power is warned this many minutes before the
# tariff's idle fee starts (at once when the grace period is shorter).
NOTIFICATIONS_IDLE_FEE_WARNING_MINUTES = env_int("NOTIFICATIONS_IDLE_FEE_WARNING_MINUTES", 5)
# Webhooks (notifications/webhooks.py): posting to loopback, private or link-local
# addresses is refused (server-side request forgery) unless this is on; on under DEBUG
# so that `make run` can post to a receiver on the same machine.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", DEBUG)
# Failed deliveries in a row after which an endpoint is disabled and its owner told.
WEBHOOKS_DISABLE_AFTER_FAILURES = env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 10)
# Seconds to wait for an integrator's answer (well inside NOTIFICATIONS_LEASE_SECONDS).
WEBHOOKS_TIMEOUT = env_int("WEBHOOKS_TIMEOUT", 10)
# Seconds a process trusts what it read of which events any endpoint wants (asked at every
# status change and session): an endpoint made or changed in another process is heard
# within this (in the same process at once).
WEBHOOKS_LISTENING_TTL = env_int("WEBHOOKS_LISTENING_TTL", 10)

# --- Email (receipts, invoices, payment reminders) -------------------------------------
# SMTP in production (EMAIL_HOST and friends); under DEBUG, mail goes to files in
# $EMAIL_FILE_PATH (default var/mail/, one file per batch sent), not to the terminal, where
# a receipt's PDF would be pages of base64 (`make run` prints the folder).
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ChargeHub <no-reply@chargehub.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
FILE_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
_email_backend = os.environ.get("EMAIL_BACKEND", FILE_EMAIL_BACKEND if DEBUG else _SMTP)
MAILERS = {"default": {"BACKEND": _email_backend}}
if _email_backend == FILE_EMAIL_BACKEND:
    # Read from the environment variable of Django's old setting (a setting of that name
    # is refused next to MAILERS).
    _mail_folder = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
    MAILERS["default"]["OPTIONS"] = {"file_path": _mail_folder}
elif _email_backend == _SMTP:
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 587),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", True),
        # Well inside NOTIFICATIONS_LEASE_SECONDS: a send never outlives its claim.
        "timeout": env_int("EMAIL_TIMEOUT", 60),
    }

# --- Stripe (billing/payments.py, dj-stripe) -------------------------------------------
# Without STRIPE_SECRET_KEY card payments are off and say so (billing.payments.
# PaymentsNotConfigured); wallets and manual credits keep working.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
# Where the Stripe API lives; the tests point it at a local fake (localstripe).
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com")
# The signing secret (whsec_...) of the webhook endpoint set up in the Stripe dashboard
# for /stripe/webhook/; webhooks are refused while it is empty.
DJSTRIPE_WEBHOOK_SECRET = os.environ.get("DJSTRIPE_WEBHOOK_SECRET", "")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"

# --- HTTPS, proxies, Content-Security-Policy -----------------------------------------------
# Without DEBUG the site is https only: plain http is redirected (except /health/, which load
# balancers probe over http), cookies travel over https only, and browsers are told to use
# https for a year (HSTS). The tests' client and servers speak plain http: tests/conftest.py
# turns the redirect off for them.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading binds the whole domain and all its subdomains to https in every browser, and
# anyone may submit a domain that asks for it: a decision for the domain's owner, so off
# unless set, and `check --deploy` is not to nag about it (security.W021).
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a TLS-terminating proxy: "HTTP_X_FORWARDED_PROTO,https" says a request is https
# when that header has that value. Only for a proxy that always sets the header (nginx:
# proxy_set_header X-Forwarded-Proto $scheme), or anyone could claim https; unset, none is.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    _name, _, _value = (part.strip() for part in _proxy_ssl_header.partition(","))
    if not _name.startswith("HTTP_") or not _value:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be a header's META name and its https value, "
            f"e.g. HTTP_X_FORWARDED_PROTO,https (got {_proxy_ssl_header!r})."
        )
    SECURE_PROXY_SSL_HEADER = (_name, _value)
# How many reverse proxies of ours stand in front of the app. Each appends the address it
# was reached from to X-Forwarded-For, so the client is the address that many entries from
# the right; the entries further left were written by the client and prove nothing. 0 (the
# default): no proxy is trusted and the client is the peer of the connection (REMOTE_ADDR).
# One rule for every per-client limit: chargehub/client_address.py.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)


def _csp_origin(url: str) -> str:
    """scheme://host[:port] of a URL as a CSP source; a tile server's {s} label becomes *."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{re.sub(r'[{][a-z]+[}]', '*', parts.netloc)}"


# Every page: scripts and styles from our own static files (or with the request's nonce),
# never inline; Stripe.js and its frames on the card pages; the map's tiles; the live
# updates' WebSocket ('self' covers ws:/wss: to the same host, CSP level 3).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE, "https://js.stripe.com"],
    "style-src": [CSP.SELF, CSP.NONCE],
    # data: for the authenticator app's QR code (allauth) and Swagger UI's icons.
    "img-src": [CSP.SELF, "data:", _csp_origin(PORTAL_MAP_TILE_URL)],
    "connect-src": list(
        dict.fromkeys([CSP.SELF, "https://api.stripe.com", _csp_origin(STRIPE_API_BASE)])
    ),
    "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Invoices, receipts, credit notes (billing/invoicing.py) -----------------------------
# The seller printed on every document (copied onto it when issued). The defaults are
# a demo company: set the real ones in production.
BILLING_SELLER = {
    "name": os.environ.get("BILLING_SELLER_NAME", "ChargeHub Demo AB"),
    "address": os.environ.get("BILLING_SELLER_ADDRESS", "Storgatan 1\n111 22 Stockholm\nSweden"),
    "org_number": os.environ.get("BILLING_SELLER_ORG_NUMBER", "556000-0000"),
    "vat_number": os.environ.get("BILLING_SELLER_VAT_NUMBER", "SE556000000001"),
    "email": os.environ.get("BILLING_SELLER_EMAIL", "billing@chargehub.example"),
    "bankgiro": os.environ.get("BILLING_SELLER_BANKGIRO", "000-0000"),
    "iban": os.environ.get("BILLING_SELLER_IBAN", "SE00 0000 0000 0000 0000 0000"),
    "bic": os.environ.get("BILLING_SELLER_BIC", "ESSESESS"),
}
# One gap-free number series per kind of document (Swedish initials: Faktura, Kvitto,
# KReditnota). Changing a prefix starts a new series at 1; the old one stays as issued.
BILLING_INVOICE_SERIES = {
    "invoice": os.environ.get("BILLING_SERIES_INVOICE", "F"),
    "receipt": os.environ.get("BILLING_SERIES_RECEIPT", "K"),
    "credit_note": os.environ.get("BILLING_SERIES_CREDIT_NOTE", "KR"),
}
# A monthly invoice is due this many days after it is issued.
BILLING_PAYMENT_TERMS_DAYS = env_int("BILLING_PAYMENT_TERMS_DAYS", 30)

# --- Settling sessions (billing/settlement.py, billing/standing.py) ------------------------
# How a new billing account pays: "invoice" (monthly, postpaid), "wallet" or "card".
BILLING_DEFAULT_PAYMENT_METHOD = os.environ.get("BILLING_DEFAULT_PAYMENT_METHOD", "invoice")
# The payment methods drivers may choose in the portal (staff can set any in admin).
BILLING_DRIVER_PAYMENT_METHODS = env_list("BILLING_DRIVER_PAYMENT_METHODS", "wallet,card,invoice")
# A prepaid wallet must hold at least this much (SEK) for its tokens to start a session.
BILLING_WALLET_MINIMUM = Decimal(os.environ.get("BILLING_WALLET_MINIMUM", "50"))
# A declined card charge is tried again after these many hours (one number per retry).
BILLING_PAYMENT_RETRY_HOURS = [
    int(hours) for hours in env_list("BILLING_PAYMENT_RETRY_HOURS", "24,72,168")
]
# After this many failed attempts on unpaid sessions, the payer's tokens are refused
# (Blocked) until the debt is paid.
BILLING_BLOCK_AFTER_FAILED_PAYMENTS = env_int("BILLING_BLOCK_AFTER_FAILED_PAYMENTS", 2)
# Seconds a process trusts what it read of whether any tariff has an idle fee (asked on
# each MeterValues of a paused car): a tariff given one in another process is heard within
# this (in the same process at once).
BILLING_IDLE_FEES_TTL = env_int("BILLING_IDLE_FEES_TTL", 10)
# A debit that takes a driver's wallet below this many SEK tells them once
# (billing/wallet.py, notifications' "wallet low").
BILLING_WALLET_LOW_BALANCE = env_int("BILLING_WALLET_LOW_BALANCE", 50)
# Asked by stations.authorization before a token may charge (dotted paths to functions
# taking an IdToken and returning a refusal reason or None): stations never imports billing.
CHARGING_POLICIES = env_list("CHARGING_POLICIES", "billing.standing.refusal")
# What a charger is told once it has booted (Accepted): dotted paths to functions taking
# a ChargePoint and returning ocpp.v16.call requests, sent in order after the boot's answer
# (stations/ocpp/after_boot.py); operations': RemoteStop of what still runs on a site
# stopped in an emergency, then Inoperative while it is held out of use (in that order:
# Inoperative with a transaction running is only Scheduled); smart charging's
# TxDefaultProfile on a managed site; GetLocalListVersion to a charger whose local
# authorization list ChargeHub keeps (stations/local_list.py).
OCPP_AFTER_BOOT = env_list(
    "OCPP_AFTER_BOOT",
    "operations.emergency.after_boot,operations.availability.after_boot,"
    "stations.load_balancing.after_boot,stations.local_list.after_boot",
)
# Seconds a local list sync waits after a token change, so a burst of changes goes to
# each charger as one SendLocalList (stations/local_list.py).
LOCAL_LIST_DEBOUNCE = env_int("LOCAL_LIST_DEBOUNCE", 10)
# A configuration change sent to many chargers (a command batch) reaches an offline one
# when it reconnects, for this many days after it was sent (stations/batches.py).
OCPP_BATCH_RECONNECT_DAYS = env_int("OCPP_BATCH_RECONNECT_DAYS", 30)
# Asked by stations.authorization before anyone may start charging at a charger (dotted
# paths to functions taking a ChargePoint and returning a refusal reason or None): an
# emergency stop of its site refuses Authorize, StartTransaction and remote starts.
CHARGE_POINT_POLICIES = env_list(
    "CHARGE_POINT_POLICIES", "operations.emergency.charge_point_refusal"
)

# --- Audit (audit/) ----------------------------------------------------------------------
# The models whose changes by staff (in admin and the staff API) are recorded: chargers
# (and their certificates), sites, tariffs, tokens, money (wallet, card payments and
# refunds, invoices and credit notes, how an account pays), users (and their groups and
# permissions).
AUDIT_MODELS = env_list(
    "AUDIT_MODELS",
    "stations.Site,stations.ChargePoint,stations.Connector,stations.LocalListEntry,"
    "stations.ChargerCertificate,"
    "billing.Tariff,billing.TimeOfUsePeriod,billing.TariffAssignment,billing.CustomerGroup,"
    "users.IdToken,billing.WalletEntry,billing.CardPayment,billing.Invoice,"
    "billing.BillingAccount,billing.SubscriptionPlan,users.User",
)

# `load_demo --history` calls this (a dotted path to a function taking no argument and
# returning a line to print): months of generated history for the dashboards, made by
# insights, which stations never imports.
DEMO_HISTORY_LOADER = "insights.history.load_demo_history"
# Attachments an email in the outbox names by kind, rendered when it leaves
# (notifications/transports.py): dotted paths to functions taking the payload's reference
# and returning (file name, bytes, MIME type).
EMAIL_ATTACHMENTS = {"insights_monthly_report": "insights.report.pdf_attachment"}

# --- Smart charging (stations/smart_charging.py, stations/load_balancing.py) --------------
# Below this current (A per phase) a car stops charging (IEC 61851: 6 A); a site may
# set its own.
SMART_CHARGING_MIN_AMPS = Decimal(os.environ.get("SMART_CHARGING_MIN_AMPS", "6"))
# The TxDefaultProfile a charger on a managed site gets at boot: what a session draws
# before its own allocation arrives. Every idle connector is counted at it, so 0 A (the
# car waits a few seconds for its share) leaves the whole limit to running sessions.
SMART_CHARGING_DEFAULT_AMPS = Decimal(os.environ.get("SMART_CHARGING_DEFAULT_AMPS", "0"))
# A car drawing this much less than it was given lends the rest to the others; a change
# of draw this large asks for a new allocation.
SMART_CHARGING_LEND_MARGIN_AMPS = Decimal(os.environ.get("SMART_CHARGING_LEND_MARGIN_AMPS", "2"))
# Seconds a run waits after the first event, so a burst of events makes one run.
SMART_CHARGING_DEBOUNCE = env_int("SMART_CHARGING_DEBOUNCE", 3)
# Volts per phase, to turn a connector's rated kW into amps.
SMART_CHARGING_VOLTAGE = env_int("SMART_CHARGING_VOLTAGE", 230)
# A function taking running ChargingSessions and returning {session pk: priority} (higher
# first); billing's: the highest priority of the driver's customer groups.
SMART_CHARGING_PRIORITIES = os.environ.get(
    "SMART_CHARGING_PRIORITIES", "billing.smart_charging.priorities"
)

# --- Fleet (fleet/) ------------------------------------------------------------------------
# The address chargers reach ChargeHub's HTTP(S) server at: firmware and upload URLs given
# to them are absolute (https in production).
FLEET_PUBLIC_URL = os.environ.get("FLEET_PUBLIC_URL", "http://127.0.0.1:8000")
# Where firmware files and uploaded diagnostics are kept (served only through fleet's views).
FLEET_FILES_DIR = Path(os.environ.get("FLEET_FILES_DIR", VAR_DIR / "fleet"))
# The largest diagnostics or log upload taken, in bytes (413 above it).
FLEET_UPLOAD_MAX_BYTES = env_int("FLEET_UPLOAD_MAX_BYTES", 50 * 1024 * 1024)
# How long an upload link stays valid (hours).
FLEET_UPLOAD_TOKEN_HOURS = env_int("FLEET_UPLOAD_TOKEN_HOURS", 24)
# A firmware download link's default lifetime (days) when staff give none.
FLEET_FIRMWARE_LINK_DAYS = env_int("FLEET_FIRMWARE_LINK_DAYS", 30)
# A charger of a campaign with no final firmware status this long after the update was
# sent has failed (the failure is retried once, as any other).
FLEET_FIRMWARE_TIMEOUT_MINUTES = env_int("FLEET_FIRMWARE_TIMEOUT_MINUTES", 120)
# Every connected charger's configuration is read again after this many hours.
FLEET_CONFIGURATION_READ_HOURS = env_int("FLEET_CONFIGURATION_READ_HOURS", 24)
# Read a charger's whole configuration (GetConfiguration) after each boot (within a
# minute or so: by the beat task, which reads the longest-booted first).
FLEET_READ_CONFIGURATION_AT_BOOT = env_bool("FLEET_READ_CONFIGURATION_AT_BOOT", True)
# Chargers whose configuration the beat task reads per run (each minute): a storm of
# boots is read over minutes instead of at once.
FLEET_CONFIGURATION_READS_PER_RUN = env_int("FLEET_CONFIGURATION_READS_PER_RUN", 300)
# A charger whose read failed (no answer, a CALLERROR) is asked again after this long,
# not at every run ahead of the others (fleet/configuration.py claim_due).
FLEET_CONFIGURATION_RETRY_MINUTES = env_int("FLEET_CONFIGURATION_RETRY_MINUTES", 15)

# --- Operations (operations/) ---------------------------------------------------------
# A charger offline this long (s) opens a ticket.
OPERATIONS_OFFLINE_ALERT_AFTER = env_int("OPERATIONS_OFFLINE_ALERT_AFTER", 10 * 60)
# Hours from a ticket's opening to its due time, by severity: "critical:4,major:24,minor:72";
# a severity not named keeps its default. Refused at start when it names something else or
# not whole hours: a ticket opened later (in a charger's receiver) must find its hours.
OPERATIONS_SLA_HOURS = {"critical": 4, "major": 24, "minor": 72}
for _item in env_list("OPERATIONS_SLA_HOURS", ""):
    _severity, _colon, _hours = (part.strip() for part in _item.partition(":"))
    if _severity not in OPERATIONS_SLA_HOURS or not _hours.isdigit():
        raise ImproperlyConfigured(
            "OPERATIONS_SLA_HOURS is severity:hours, comma-separated, of critical, major and "
            f"minor, e.g. critical:4,major:24,minor:72 (got {_item!r})."
        )
    OPERATIONS_SLA_HOURS[_severity] = int(_hours)
# Tickets (operations/faults.py, operations/alerts.py):
# a fault that comes back within this many seconds of its ticket's resolution reopens that
# ticket (a flapping charger keeps one ticket and one alert);
OPERATIONS_FLAP_WINDOW = env_int("OPERATIONS_FLAP_WINDOW", 10 * 60)
# an active session on a Charging connector with no meter values for this long (s) is stuck;
OPERATIONS_STUCK_SESSION_AFTER = env_int("OPERATIONS_STUCK_SESSION_AFTER", 30 * 60)
# the daily digest of alerts goes out at this hour (UTC).
OPERATIONS_DIGEST_HOUR = env_int("OPERATIONS_DIGEST_HOUR", 7)

# Remote repair (operations/repair.py): how long (s) to wait after each step for the fault
# to be over before the next step.
OPERATIONS_REPAIR_WAIT = env_int("OPERATIONS_REPAIR_WAIT", 120)

# --- Web Push and "a free charger near me" (notifications/webpush.py, nearby.py) -------
# VAPID keys identify this server to the browsers' push services (RFC 8292): make a pair
# with `manage.py vapid_keys`; the public key (base64url, uncompressed P-256 point) goes
# to the browser, the private one (base64url, raw 32 bytes) signs each push. Without
# them Web Push is off and drivers are told in the portal.
WEBPUSH_VAPID_PUBLIC_KEY = os.environ.get("WEBPUSH_VAPID_PUBLIC_KEY", "")
WEBPUSH_VAPID_PRIVATE_KEY = os.environ.get("WEBPUSH_VAPID_PRIVATE_KEY", "")
# Who runs this server, for the push services ("mailto:ops@example.com" or an https URL).
WEBPUSH_VAPID_SUBJECT = os.environ.get("WEBPUSH_VAPID_SUBJECT", "mailto:ops@chargehub.example")
# How long a push service keeps a message for a phone that is off (s).
WEBPUSH_TTL = env_int("WEBPUSH_TTL", 3600)
# Accept push endpoints over plain http (a local stand-in for a push service); never in
# production: a driver could make this server post to any address it reaches.
WEBPUSH_ALLOW_HTTP_ENDPOINTS = env_bool("WEBPUSH_ALLOW_HTTP_ENDPOINTS", DEBUG)
# "A free charger near me": how long a watch runs (s) and the widest radius a driver may
# ask for (km); positions are kept only while the watch runs.
NEARBY_WATCH_SECONDS = env_int("NEARBY_WATCH_SECONDS", 30 * 60)
NEARBY_MAX_RADIUS_KM = env_int("NEARBY_MAX_RADIUS_KM", 50)

# --- Guest payment at the charger (billing/guest.py) ------------------------------------
# What a guest's card is pre-authorised for (SEK, incl. VAT) before their session starts;
# the actual price is captured when it ends and the rest released.
BILLING_GUEST_PREAUTHORISATION = Decimal(os.environ.get("BILLING_GUEST_PREAUTHORISATION", "300"))
# How the public reaches this site: the QR codes printed on chargers point here.
BILLING_PUBLIC_URL = os.environ.get("BILLING_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Subscription plans (billing/subscriptions.py) ---------------------------------------
# VAT (%) a new plan adds to its monthly fee (fees are net; Stripe charges them incl. VAT).
BILLING_DEFAULT_VAT_RATE = Decimal(os.environ.get("BILLING_DEFAULT_VAT_RATE", "25"))

# --- REST API (api/, /api/v1/) -----------------------------------------------------------
# Tokens for apps and integrations (created in the portal or with `manage.py
# create_api_token EMAIL`; stored hashed, users/api_tokens.py), the session cookie for the
# portal's own pages. Everything needs a login unless a view says otherwise (the public
# station map and prices).
# Days a new API token lasts unless its maker chooses otherwise; 0: until revoked.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 365)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bodies are JSON only, through one parser that refuses what the database cannot take.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50),
    # The throttles take the client's address from chargehub/client_address.py
    # (TRUSTED_PROXY_COUNT), not from DRF's NUM_PROXIES.
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.AnonRateThrottle",
        "api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/minute"),
        "user": os.environ.get("API_THROTTLE_USER", "600/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ChargeHub API",
    # Markdown, shown at the top of /api/docs/.
    "DESCRIPTION": """Stations, prices, charging sessions, tokens, invoices and chargers.

## Getting started

1. **A token.** A driver makes one in the portal at `/account/api-token/`; an operator
   runs `manage.py create_api_token EMAIL` for a staff user. It is shown once.
2. **Send it** with every request: `Authorization: Token <key>`. Here, press
   *Authorize* and paste `Token <key>`.
3. **First calls:**
   - `GET /api/v1/stations/?near=59.33,18.06`: stations near a point, with live
     availability (no token needed).
   - `GET /api/v1/me/sessions/`: your charging sessions; a running one reports its energy
     so far.
   - `POST /api/v1/me/sessions/start/ {"connector": 12}`: start charging.
   - Staff: `GET /api/v1/charge-points/DEMO-001/` and
     `POST /api/v1/charge-points/DEMO-001/commands/ {"action": "Reset", "payload":
     {"type": "Soft"}}` (a charger by its charge point id or its database id).

Errors are JSON with a message: 400 bad input, 401 no or wrong token, 403 not allowed,
404 not found, 409 a conflict (the charger said no, the connector is taken), 502/504 the
charger is offline or did not answer. Times are ISO 8601 with their offset; amounts are
decimal strings with their currency.""",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf_spectacular_sidecar's static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Several models have a "status"; each gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ConnectorStatusEnum": "stations.models.Connector.Status",
        "SessionStatusEnum": "stations.models.ChargingSession.Status",
        "IdTokenStatusEnum": "users.models.IdToken.Status",
        "TicketStatusEnum": "operations.models.Ticket.Status",
        "TicketKindEnum": "operations.models.Ticket.Kind",
        "TicketEntryKindEnum": "operations.models.TicketEntry.Kind",
    },
}
