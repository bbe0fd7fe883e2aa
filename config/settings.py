"""The one place that reads the environment.

Every setting is an ``MVC_``-prefixed environment variable with a default that suits the
embedded mode (SQLite, in-process bus, outbox SMS, media workers started with the app).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(name: str = "secret_key") -> str:
    """A stable secret for the embedded mode, made once in var/ so it survives restarts."""
    VAR.mkdir(exist_ok=True)
    path = VAR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def media_secret_from_env(environ: dict[str, str] | None = None) -> str:
    """The web ↔ media worker secret for a worker started on its own (`python -m media.worker`)."""
    env = os.environ if environ is None else environ
    return env.get("MVC_MEDIA_SECRET", "")


class RefusedToStart(RuntimeError):
    """Settings the service must not start with; the message names each setting and what to change."""


class UnsafeProduction(RefusedToStart):
    """MVC_ENV=production with embedded defaults that were not explicitly allowed."""


class BadSetting(RefusedToStart, ValueError):
    """A setting whose value cannot work (a malformed port range or address)."""


# Embedded defaults a municipality must not run in production: name for MVC_ALLOW_UNSAFE,
# the test on the loaded settings, and what to change instead.
UNSAFE_DEFAULTS: dict[str, tuple[Callable[[dict[str, object], dict[str, str]], bool], str]] = {
    "secret_key": (lambda c, env: not env.get("MVC_SECRET_KEY"),
                   "MVC_SECRET_KEY is not set (a key generated in var/ is used): set it to a long random value"),
    "media_secret": (lambda c, env: not env.get("MVC_MEDIA_SECRET"),
                     "MVC_MEDIA_SECRET is not set (a secret generated in var/ is used): set it on web processes and media workers"),
    "sqlite": (lambda c, env: str(c["DATABASE_URL"]).startswith("sqlite"),
               "MVC_DATABASE_URL is SQLite: set it to postgresql+psycopg://…"),
    "outbox_sms": (lambda c, env: c["SMS_BACKEND"] == "outbox",
                   "MVC_SMS_BACKEND is outbox (SMS are never sent): set it to twilio"),
    "outbox_mail": (lambda c, env: c["MAIL_BACKEND"] == "outbox",
                    "MVC_MAIL_BACKEND is outbox (e-mails are never sent): set it to smtp"),
    "insecure_cookies": (lambda c, env: not c["SECURE_COOKIES"],
                         "MVC_SECURE_COOKIES is off (cookies travel over plain HTTP): set it to 1"),
    "http_public_url": (lambda c, env: not str(c["PUBLIC_URL"]).lower().startswith("https://"),
                        "MVC_PUBLIC_URL is empty or not https (links in SMS, e-mails and the API would be "
                        "missing or travel over plain HTTP): set it to https://…"),
}


def check_production(config: dict[str, object], env: dict[str, str]) -> None:
    """Raise UnsafeProduction naming each unsafe default MVC_ALLOW_UNSAFE does not list."""
    allowed = {part.strip() for part in str(config["ALLOW_UNSAFE"]).split(",") if part.strip()}
    unknown = allowed - set(UNSAFE_DEFAULTS) - {"all"}
    problems = [f"  {name}: {advice}" for name, (unsafe, advice) in UNSAFE_DEFAULTS.items()
                if unsafe(config, env) and name not in allowed and "all" not in allowed]
    if unknown:
        problems.append(f"  MVC_ALLOW_UNSAFE names unknown defaults {sorted(unknown)}: "
                        f"known are {', '.join(UNSAFE_DEFAULTS)}")
    if problems:
        raise UnsafeProduction(
            "MVC_ENV=production refuses to start with embedded defaults:\n" + "\n".join(problems)
            + "\nFix each, or allow it explicitly, e.g. MVC_ALLOW_UNSAFE=sqlite,outbox_sms")


@contextlib.contextmanager
def refusing_to_start(exit_code: int = 2) -> Iterator[None]:
    """Turn a refusal inside (unsafe production defaults, a bad setting) into its message on stderr and a
    plain exit, no traceback."""
    try:
        yield
    except RefusedToStart as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(exit_code) from None


# name: (type, default, description). The README's configuration table mirrors this.
SETTINGS: dict[str, tuple[type, object, str]] = {
    "ENV": (str, "embedded", "embedded, or production: then refuse to start with an unsafe embedded default."),
    "ALLOW_UNSAFE": (str, "", "Unsafe defaults production may still use, comma-separated: secret_key, media_secret, sqlite, outbox_sms, outbox_mail, insecure_cookies, http_public_url."),
    "SECRET_KEY": (str, None, "Signs sessions and invitation links (embedded: made once in var/)."),
    "DATABASE_URL": (str, f"sqlite:///{VAR / 'mvc.db'}", "SQLAlchemy URL: SQLite or postgresql+psycopg://…"),
    "DB_POOL_SIZE": (int, 10, "Database connections each web process keeps open."),
    "DB_POOL_OVERFLOW": (int, 20, "Extra database connections a web process may open at busy moments."),
    "WEB_THREADS": (int, 500, "Threads per web process (gunicorn): each open meeting websocket holds one."),
    "ROOM_CAP": (int, 35, "Most people in one meeting (hosts included); the next one is told it is full."),
    "ROOM_HOST_SEATS": (int, 2, "Seats of the cap kept for hosts until they arrive (guests fill the rest)."),
    "ROOM_CAPS": (str, "", "Per-room caps instead of ROOM_CAP, e.g. training=60,hall=150 (address=cap)."),
    "REDIS_URL": (str, "", "Redis for live room state, the event bus and rate limits; empty = the MVC_LIVE_PATH file, one process."),
    "LIVE_PATH": (str, str(VAR / "live.sqlite"), "SQLite file for live room state, chat and rate limits without Redis (:memory: = lost on restart)."),
    "PUBLIC_URL": (str, "", "Public base URL used in SMS links, e.g. https://video.example.dk."),
    "TLS_DIR": (str, str(VAR / "tls"), "Folder of the self-signed certificate `python -m mvc lan ADDRESS` makes and TLS=1 (make run-lan) serves."),
    "DEFAULT_LOCALE": (str, "da", "Language for people who have not chosen one (da or en)."),
    "SECURE_COOKIES": (bool, False, "Send cookies only over HTTPS (turn on in production)."),
    "MEDIA_WORKERS": (int, 1, "Media worker processes started with the app (0 = none)."),
    "MEDIA_ADDRESSES": (str, "", "Comma-separated host:port of external media workers instead."),
    "ICE_SERVERS": (str, "[]", "JSON list of RTCIceServer dicts for pages and workers."),
    "ICE_LOOPBACK_ONLY": (bool, False, "Offer only 127.0.0.1 ICE candidates (tests, one-machine demos)."),
    "ICE_ALLOWED_NETWORKS": (str, "", "Comma-separated CIDRs of private networks workers may send media to (e.g. an internal TURN server)."),
    "MEDIA_SECRET": (str, "", "Shared secret of web processes and media workers (embedded: made once in var/)."),
    "MEDIA_PORTS": (str, "", "UDP port range media workers bind, e.g. 40000-40099 (workers on one machine share it; empty = any port)."),
    "MEDIA_ANNOUNCED_IP": (str, "", "Address workers offer to browsers (1:1 NAT's public address, or the LAN address); empty = their own addresses."),
    "MEDIA_ROOM_GRACE": (float, 30.0, "Seconds a worker keeps an empty media room for reconnects before closing it."),
    "HEALTH_TOKEN": (str, "", "Bearer token that shows /healthz details (workers, rooms); empty = details for nobody."),
    "TURN_SECRET": (str, "", "coturn static-auth-secret; when set, short-lived TURN credentials are minted."),
    "TURN_URLS": (str, "", "Comma-separated turn: URLs that the TURN credentials are for."),
    "PIN_CLIENT_TRIES": (int, 5, "Wrong PINs one client may enter per room in the PIN window."),
    "PIN_ROOM_FAILURES": (int, 20, "Wrong PINs per room and window after which only clients without a wrong PIN there are heard."),
    "PIN_WINDOW_SECONDS": (int, 600, "Length of the PIN window (a moving window, in seconds)."),
    "LOGIN_ACCOUNT_TRIES": (int, 10, "Wrong passwords per account and window from browsers that never signed in to it."),
    "LOGIN_WINDOW_SECONDS": (int, 900, "Length of the per-account password window (a moving window, in seconds)."),
    "TRUSTED_PROXIES": (int, 0, "Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0 = none)."),
    "SEED_DEMO": (bool, True, "Seed the demo organisation and room on first start."),
    "LOG_LEVEL": (str, "INFO", "Log level of the structured (JSON) log."),
    "SESSION_HOURS": (int, 12, "How long a login or meeting session lasts."),
    "OIDC_ISSUER": (str, "", "OpenID Connect issuer URL for staff login; empty = local accounts only."),
    "OIDC_CLIENT_ID": (str, "", "Client id registered at the OpenID Connect provider."),
    "OIDC_CLIENT_SECRET": (str, "", "Client secret registered at the OpenID Connect provider."),
    "SMS_BACKEND": (str, "outbox", "outbox (store and show to admins, never send) or twilio."),
    "TWILIO_ACCOUNT_SID": (str, "", "Twilio account SID (SMS_BACKEND=twilio)."),
    "TWILIO_AUTH_TOKEN": (str, "", "Twilio auth token; also checks the signature of status callbacks."),
    "TWILIO_FROM": (str, "", "Twilio number used when the organisation's theme has no SMS sender name."),
    "TWILIO_TIMEOUT": (int, 10, "Seconds to wait for Twilio before a send attempt counts as timed out."),
    "SMS_ATTEMPTS": (int, 3, "Tries per SMS for temporary Twilio errors (5xx, 429, timeouts)."),
    "SMS_RETRY_SECONDS": (float, 0.5, "First wait before retrying an SMS; doubles each try."),
    "SMS_DAILY_CAP": (int, 500, "SMS one organisation may send per day (UTC)."),
    "SMS_USER_PER_HOUR": (int, 60, "SMS one staff member may trigger per hour."),
    "SMS_ORG_PER_HOUR": (int, 300, "SMS one organisation may send per hour."),
    "SMS_NUMBER_PER_HOUR": (int, 5, "SMS one phone number may receive per hour."),
    "SMS_FORWARDS": (int, 3, "How many people one invitee may forward an invitation to."),
    "MAIL_BACKEND": (str, "outbox", "outbox (store, never send) or smtp: how invitees' e-mails go out."),
    "MAIL_FROM": (str, "", "Sender address of e-mails and calendar files; empty = noreply@ the public host."),
    "SMTP_HOST": (str, "", "SMTP server (MAIL_BACKEND=smtp)."),
    "SMTP_PORT": (int, 587, "SMTP server port."),
    "SMTP_USER": (str, "", "SMTP login; empty = no login."),
    "SMTP_PASSWORD": (str, "", "SMTP password."),
    "SMTP_STARTTLS": (bool, True, "Switch the SMTP connection to TLS with STARTTLS before logging in."),
    "SMTP_TIMEOUT": (int, 10, "Seconds to wait for the SMTP server before an e-mail counts as failed."),
    "INSTANT_HOURS": (int, 4, "How long an instant SMS meeting stays open."),
    "QUEUE_GRACE_SECONDS": (int, 120, "How long a citizen whose queue page is gone (reload, lost connection) keeps their place."),
    "QUEUE_POLL_SECONDS": (int, 3, "How often queue pages ask for news."),
    "REMINDER_MINUTES": (int, 60, "Minutes before a booked meeting that the SMS reminder goes out."),
    "REMINDER_THREAD": (bool, True, "Run the reminder scheduler thread in the web process."),
    "REMINDER_INTERVAL": (int, 30, "Seconds between the reminder scheduler's checks."),
    # Registered devices (issue 13)
    "DEVICE_CODE_MINUTES": (int, 60, "How long a device's one-time provisioning code is valid."),
    "DEVICE_CREDENTIAL_DAYS": (int, 400, "How long a bound device's browser keeps its credential cookie after its last visit (renewed on every visit; browsers cap it at 400)."),
    "DEVICE_RING_SECONDS": (int, 45, "How long a device rings before the call counts as not answered."),
    "DEVICE_AUTO_ANSWER_SECONDS": (int, 10, "Countdown before a device with auto-answer answers by itself."),
    "DEVICE_CALL_INTERVAL": (int, 5, "Seconds between checks for bookings whose device must be called now (runs with REMINDER_THREAD)."),
    "API_TOKEN_MINUTES": (int, 10, "Lifetime of a booking API access token, in minutes."),
    "API_RATE_PER_MINUTE": (int, 120, "Booking API calls one client may make per minute (then 429)."),
    # webhooks (issue 11 item 4)
    "WEBHOOK_THREAD": (bool, True, "Run the webhook sender thread in the web process."),
    "WEBHOOK_INTERVAL": (float, 5.0, "Seconds between the webhook sender's looks at the outbox."),
    "WEBHOOK_ATTEMPTS": (int, 8, "Tries per webhook event before it is marked failed."),
    "WEBHOOK_RETRY_SECONDS": (float, 30.0, "First wait before a webhook is tried again; doubles each try."),
    "WEBHOOK_TIMEOUT": (float, 10.0, "Seconds to wait for a webhook receiver (connect and answer)."),
    "WEBHOOK_ALLOW_HTTP_LOOPBACK": (bool, False, "Also allow http://127.0.0.1 webhook endpoints (tests, one-machine demos)."),
    "RETENTION_THREAD": (bool, True, "Apply the retention rules (statistics, invitees, SMS and e-mail texts) in a thread of the web process."),
    "RETENTION_INTERVAL": (int, 3600, "Seconds between two rounds of the retention rules."),
    "METRICS_TOKEN": (str, "", "Bearer token that GET /metrics requires; empty = /metrics refuses everyone."),
}


def load(environ: dict[str, str] | None = None) -> dict[str, object]:
    """Read every MVC_* setting from the environment into a Flask config dict."""
    env = os.environ if environ is None else environ
    config: dict[str, object] = {}
    for name, (kind, default, _doc) in SETTINGS.items():
        raw = env.get(f"MVC_{name}")
        if raw is None:
            value = default
        elif kind is bool:
            value = _bool(raw)
        elif kind is int:
            value = int(raw)
        elif kind is float:
            value = float(raw)
        else:
            value = raw
        config[name] = value
    if config["ENV"] == "production":
        check_production(config, dict(env))
    elif config["ENV"] != "embedded":
        raise UnsafeProduction(f"MVC_ENV={config['ENV']!r}: want embedded or production")
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _secret_key()
    if not config["MEDIA_SECRET"]:
        config["MEDIA_SECRET"] = _secret_key("media_secret")
    config["ICE_SERVERS"] = json.loads(str(config["ICE_SERVERS"]) or "[]")
    return config
