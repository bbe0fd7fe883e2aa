"""Security headers, signed tokens and cookies, safe redirects, and the limits on guessing."""
from __future__ import annotations

import hmac
import ipaddress
import math
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, request
from flask_babel import ngettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from mvc import logs
from mvc.extensions import limiter

log = logs.get("mvc.security")
TOKEN_SALT = "mvc-invite"
INVITE_MAX_AGE = 180 * 86400  # an invitation link older than half a year is refused
DEVICE_COOKIE = "mvc_signin"  # accounts this browser signed in to (the join page's mvc_device is another cookie)
DEVICE_SALT = "mvc-signin"
DEVICE_MAX_AGE = 180 * 86400
# C0 and C1 control characters: browsers drop tab, CR and LF inside URLs, and CR/LF break headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def init_app(app: Flask) -> None:
    """Secure cookies and headers on every response; the real client address behind trusted proxies."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:  # with none, X-Forwarded-* is ignored: a client cannot pick its own address
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        SESSION_COOKIE_NAME="mvc_session",
        PERMANENT_SESSION_LIFETIME=app.config["SESSION_HOURS"] * 3600,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.after_request(_headers)


def _headers(response):
    host = request.host
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self' ws://{host} wss://{host}; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Invitation links carry tokens: never leak them to other sites. Same-origin, not
    # no-referrer: over HTTPS, Flask-WTF's CSRF check refuses a form without a same-origin
    # Referer, so no-referrer broke every form once MVC ran on HTTPS.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def make_invite_token(invitation_id: int, meeting_id: int) -> str:
    """A signed token naming one invitation of one meeting."""
    return _serializer().dumps({"i": invitation_id, "m": meeting_id})


class TokenError(Exception):
    """An invitation token that is forged, malformed or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "invalid" | "expired"


def read_invite_token(token: str, max_age: int | None = INVITE_MAX_AGE) -> tuple[int, int]:
    """(invitation id, meeting id) from a token, or TokenError."""
    if not token or len(token) > 400:
        raise TokenError("invalid")
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError("expired") from exc
    except BadSignature as exc:
        raise TokenError("invalid") from exc
    if not isinstance(data, dict) or not isinstance(data.get("i"), int) or not isinstance(data.get("m"), int):
        raise TokenError("invalid")
    return data["i"], data["m"]


def pins_equal(given: str, expected: str | None) -> bool:
    """Constant-time PIN comparison."""
    return bool(expected) and hmac.compare_digest(given.encode(), str(expected).encode())


# Redirects --------------------------------------------------------------------------------


def safe_next(value: str | None, default: str) -> str:
    """value when it is a path on this site (kept as given, query included), else default."""
    if not isinstance(value, str) or not value or len(value) > 2000:
        return default
    decoded, previous = value, None
    while decoded != previous:  # percent-encoding can be nested: %2525 → %25 → %
        previous, decoded = decoded, unquote(decoded)
    return value if all(_local_path(form) for form in (value, decoded)) else default


def _local_path(form: str) -> bool:
    """True for "/path?query" that no browser reads as another host or scheme."""
    if _CONTROL.search(form):
        return False
    path = form.replace("\\", "/")  # browsers read a backslash as a slash
    if not path.startswith("/") or path.startswith("//"):
        return False
    parts = urlsplit(path)
    return not parts.scheme and not parts.netloc


# Known devices ----------------------------------------------------------------------------


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=DEVICE_SALT)


def _device_accounts() -> list[int]:
    """Account ids that signed in from this browser before (a signed cookie)."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    try:
        ids = _device_serializer().loads(raw, max_age=DEVICE_MAX_AGE) if raw and len(raw) < 400 else []
    except BadSignature:
        return []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def known_device(user_id: int | None) -> bool:
    """True when the account signed in from this browser before."""
    return user_id is not None and user_id in _device_accounts()


def remember_device(response, user_id: int) -> None:
    """Mark this browser as one the account uses (exempt from the per-account guessing limit)."""
    ids = [user_id] + [i for i in _device_accounts() if i != user_id][:4]
    response.set_cookie(DEVICE_COOKIE, _device_serializer().dumps(ids), max_age=DEVICE_MAX_AGE, httponly=True,
                        secure=current_app.config["SECURE_COOKIES"], samesite="Lax")


# Limits on guessing -----------------------------------------------------------------------


def client_id() -> str:
    """The client's address as logged (the real client when MVC_TRUSTED_PROXIES is set)."""
    return request.remote_addr or "unknown"


def client_key() -> str:
    """The client for per-client limits: its IPv4 address or its IPv6 /64 (one home or phone)."""
    try:
        address = ipaddress.ip_address(client_id())
    except ValueError:
        return client_id()
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


@dataclass(frozen=True)
class Limit:
    """At most `amount` events per moving window of `seconds` per key, kept in the rate-limit storage."""

    name: str
    amount: int
    seconds: int

    def _item(self) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(self.amount, self.seconds, namespace="mvc")

    def wait(self, *key: str) -> int:
        """Seconds until one more event is allowed under key (0: allowed now)."""
        if _window().test(self._item(), self.name, *key):
            return 0
        reset, _remaining = _window().get_window_stats(self._item(), self.name, *key)
        return max(1, math.ceil(reset - time.time()))

    def spend(self, *key: str) -> None:
        """Count one event under key."""
        _window().hit(self._item(), self.name, *key)


def _window() -> MovingWindowRateLimiter:
    """The app's guessing limits: the same storage as flask-limiter's, but never switched off with it
    (RATELIMIT_ENABLED=False lifts the per-address request limits, not the PIN and password bounds)."""
    window = current_app.extensions.get("mvc.limits")
    if window is None:
        storage = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"])
        window = current_app.extensions["mvc.limits"] = MovingWindowRateLimiter(storage)
    return window


def retry_text(seconds: int) -> str:
    """"Try again in 4 minutes." for a wait in seconds (minutes rounded up), translated."""
    if seconds < 60:
        return ngettext("Try again in %(num)d second.", "Try again in %(num)d seconds.", max(1, seconds))
    return ngettext("Try again in %(num)d minute.", "Try again in %(num)d minutes.", math.ceil(seconds / 60))


def breached_wait() -> int:
    """Seconds until the flask-limiter limit this request broke lets it through again."""
    breached = limiter.current_limit
    if not breached:
        return 60
    # reset_at is rounded up a whole second past the window: never say more than the window.
    return max(1, min(breached.limit.get_expiry(), math.ceil(breached.reset_at - time.time())))


@dataclass
class PinCheck:
    """Outcome of a PIN attempt."""

    role: str | None  # "host", "guest", or None when wrong or refused
    blocked: str | None = None  # "client" | "room" when this client must wait
    wait: int = 0  # seconds until this client may try again


def check_pin(room_key: str, given: str, host_pin: str | None, guest_pin: str | None) -> PinCheck:
    """Match a PIN against a room's PINs under the limits on guessing (see the README).

    A client may enter PIN_CLIENT_TRIES wrong PINs per window. Once a room has had
    PIN_ROOM_FAILURES wrong PINs in the window, only clients without a wrong PIN of their
    own there are heard, so guessing slows down but the right PIN still gets people in.
    """
    cfg = current_app.config
    window = cfg["PIN_WINDOW_SECONDS"]
    client = client_key()
    per_client = Limit("pin-client", cfg["PIN_CLIENT_TRIES"], window)
    per_room = Limit("pin-room", cfg["PIN_ROOM_FAILURES"], window)
    failed_here = Limit("pin-failed", 1, window)  # this client entered a wrong PIN here recently
    if wait := per_client.wait(room_key, client):
        return _pin_refused(room_key, "client", wait)
    room_wait = per_room.wait(room_key)
    if room_wait and (own_wait := failed_here.wait(room_key, client)):
        return _pin_refused(room_key, "room", min(room_wait, own_wait))
    for role, pin in (("host", host_pin), ("guest", guest_pin)):
        if pins_equal(given, pin):
            log.info("pin_accepted", room=room_key, client=client_id(), role=role)
            return PinCheck(role)
    per_client.spend(room_key, client)
    per_room.spend(room_key)
    failed_here.spend(room_key, client)
    wait = per_client.wait(room_key, client)
    log.warning("pin_wrong", room=room_key, client=client_id(), locked=bool(wait))
    return PinCheck(None, "client" if wait else None, wait)


def _pin_refused(room_key: str, reason: str, wait: int) -> PinCheck:
    log.warning("pin_refused", room=room_key, client=client_id(), reason=reason, wait=wait)
    return PinCheck(None, reason, wait)
