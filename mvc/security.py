"""Security headers, signed invitation tokens and the PIN lockout."""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import Flask, current_app, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mvc import logs

log = logs.get("mvc.security")
TOKEN_SALT = "mvc-invite"
INVITE_MAX_AGE = 180 * 86400  # an invitation link older than half a year is refused


def init_app(app: Flask) -> None:
    """Secure cookies and headers on every response."""
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
    # Invitation links carry tokens: never leak them to other sites.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
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


@dataclass
class PinCheck:
    """Outcome of a PIN attempt."""

    role: str | None  # "host", "guest", or None when wrong
    blocked: str | None = None  # "client" | "room" when PIN entry is closed


def client_id() -> str:
    """The client address used for per-client limits."""
    return request.remote_addr or "unknown"


def check_pin(room_key: str, given: str, host_pin: str | None, guest_pin: str | None) -> PinCheck:
    """Match a PIN against a room's PINs under the lockout policy (Pexip-style)."""
    live = current_app.extensions["mvc.live"]
    cfg = current_app.config
    window = cfg["PIN_WINDOW_SECONDS"]
    client_key = f"pin:{room_key}:{client_id()}"
    room_fail_key = f"pin:{room_key}"
    if live.count(room_fail_key, window) >= cfg["PIN_ROOM_FAILURES"]:
        log.warning("pin_refused", room=room_key, client=client_id(), reason="room_closed")
        return PinCheck(None, "room")
    if live.count(client_key, window) >= cfg["PIN_CLIENT_TRIES"]:
        log.warning("pin_refused", room=room_key, client=client_id(), reason="client_locked")
        return PinCheck(None, "client")
    if pins_equal(given, host_pin):
        log.info("pin_accepted", room=room_key, client=client_id(), role="host")
        return PinCheck("host")
    if pins_equal(given, guest_pin):
        log.info("pin_accepted", room=room_key, client=client_id(), role="guest")
        return PinCheck("guest")
    tries = live.hit(client_key, window)
    live.hit(room_fail_key, window)
    log.warning("pin_wrong", room=room_key, client=client_id(), tries=tries)
    return PinCheck(None, "client" if tries >= cfg["PIN_CLIENT_TRIES"] else None)
