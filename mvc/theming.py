"""Theme stylesheets and images, and the WCAG contrast rule themes must keep."""
from __future__ import annotations

import re

from flask import Blueprint, Response, abort, render_template

from mvc import db
from mvc.rooms import theme_for

bp = Blueprint("theming", __name__)
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio between two #rrggbb colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def on_color(background: str) -> str:
    """Black or white, whichever reads better on the background."""
    return "#000000" if contrast(background, "#000000") >= contrast(background, "#ffffff") else "#ffffff"


@bp.get("/theme/<int:theme_id>.css")
def stylesheet(theme_id: int):
    """CSS custom properties for a theme (a file, so the CSP needs no inline styles)."""
    theme = theme_for(db.session(), theme_id or None)
    css = render_template("theme.css", theme=theme, on_primary=on_color(theme.primary_color))
    resp = Response(css, mimetype="text/css")
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/theme/<int:theme_id>/favicon.svg")
@bp.get("/favicon.ico", defaults={"theme_id": 0})
def favicon(theme_id: int):
    """A camera on the theme's primary colour (the neutral default for theme 0)."""
    theme = theme_for(db.session(), theme_id or None)
    svg = render_template("favicon.svg", color=theme.primary_color, on=on_color(theme.primary_color))
    resp = Response(svg, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


@bp.get("/theme/<int:theme_id>/<any(logo, background):kind>")
def image(theme_id: int, kind: str):
    """A theme's logo or background image."""
    theme = theme_for(db.session(), theme_id)
    data = getattr(theme, "logo" if kind == "logo" else "background_image")
    mime = getattr(theme, "logo_mime" if kind == "logo" else "background_mime")
    if not data or not mime:
        abort(404)
    resp = Response(data, mimetype=mime)
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return resp
