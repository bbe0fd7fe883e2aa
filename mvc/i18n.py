"""Language choice: Danish by default, English selectable and remembered in the session."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, session, url_for

from mvc.security import safe_next

LOCALES = ("da", "en")
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The visitor's chosen language, else the configured default."""
    chosen = session.get("lang")
    return chosen if chosen in LOCALES else current_app.config["DEFAULT_LOCALE"]


@bp.get("/lang/<code>")
def choose(code: str):
    """Switch language and go back to where the visitor was."""
    if code in LOCALES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("join.index")))
