"""GET /healthz: database, live state and media pool health.

Anonymous callers get only ok / not ok per part; the details (dialect, workers, their
addresses and rooms) need `Authorization: Bearer <MVC_HEALTH_TOKEN>`.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import text

from mvc import db

bp = Blueprint("health", __name__)


def _detailed() -> bool:
    """True if the caller presented the configured health token."""
    token = current_app.config.get("HEALTH_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.get("/healthz")
def healthz():
    """200 when everything answers, 503 otherwise."""
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        database = {"ok": True, "dialect": db.engine().dialect.name}
    except Exception as exc:  # any failure means unhealthy; the type is enough to report
        database = {"ok": False, "error": type(exc).__name__}
    live = current_app.extensions["mvc.live"].health()
    media = current_app.extensions["mvc.media"].health()
    parts = {"database": database, "live": live, "media": media}
    ok = all(part.get("ok", False) for part in parts.values())
    if _detailed():
        body = {"ok": ok, **parts}
    else:
        body = {"ok": ok, **{name: {"ok": bool(part.get("ok", False))} for name, part in parts.items()}}
    return jsonify(body), 200 if ok else 503
