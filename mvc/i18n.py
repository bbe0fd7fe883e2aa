"""Language choice: Danish by default, English selectable and remembered in the session."""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, redirect, request, session, url_for
from flask_babel import get_locale, get_translations

from mvc.security import safe_next

LOCALES = ("da", "en")
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The visitor's chosen language, else the configured default; the API follows Accept-Language (English first)."""
    if request.blueprint == "api":
        return request.accept_languages.best_match(LOCALES, default="en")
    chosen = session.get("lang")
    return chosen if chosen in LOCALES else current_app.config["DEFAULT_LOCALE"]


def _translations():
    """The translations for the current locale, kept per context: a meeting page's name list
    calls gettext hundreds of times per render, and Flask-Babel's full lookup cost more than
    the rendering. Keyed by the locale object, so force_locale() still switches language."""
    locale = get_locale()
    cached = g.get("_translations")
    if cached is None or cached[0] is not locale:
        cached = g._translations = (locale, get_translations())
    return cached[1]


def init_app(app: Flask) -> None:
    """Templates translate through the context's cached translations (same catalogue, same locale)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True,
    )


@bp.get("/lang/<code>")
def choose(code: str):
    """Switch language and go back to where the visitor was."""
    if code in LOCALES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("join.index")))
