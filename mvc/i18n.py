"""Language choice: Danish by default, English selectable and remembered in the session."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, session, url_for

LOCALES = ("da", "en")
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The visitor's chosen language, else the configured default; the API follows Accept-Language (English first)."""
    if request.blueprint == "api":
        return request.accept_languages.best_match(LOCALES, default="en")
    chosen = session.get("lang")
    return chosen if chosen in LOCALES else current_app.config["DEFAULT_LOCALE"]


def safe_next(target: str | None) -> str:
    """A local path to return to; anything else becomes the front page."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("join.index")


@bp.get("/lang/<code>")
def choose(code: str):
    """Switch language and go back to where the visitor was."""
    if code in LOCALES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))
