"""GET /healthz: database, live state and media pool health as JSON."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from mvc import db

bp = Blueprint("health", __name__)


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
    ok = database["ok"] and live["ok"] and media.get("ok", False)
    body = {"ok": ok, "database": database, "live": live, "media": media}
    return jsonify(body), 200 if ok else 503
