"""Views for themes: the form, the live contrast check and the preview stylesheet."""
from __future__ import annotations

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.auth import current_user, role_required
from mvc.manage import bp, themes
from mvc.manage.access import owned
from mvc.manage.forms import form_page
from mvc.models import Theme
from mvc.theming import HEX, on_color


@bp.get("/manage/themes")
@role_required("org-admin")
def theme_list():
    """The organisation's themes."""
    s, org_id = db.session(), current_user().organisation_id
    return render_template("manage/themes.html", themes=themes.org_themes(s, org_id),
                           default_id=themes.default_theme_id(s, org_id))


@bp.route("/manage/themes/new", methods=["GET", "POST"])
@bp.route("/manage/themes/<int:theme_id>", methods=["GET", "POST"])
@role_required("org-admin")
def theme_edit(theme_id: int | None = None):
    """Create or edit a theme; illegible colours and unsafe images are refused and nothing is saved."""
    s = db.session()
    theme = owned(Theme, theme_id) if theme_id else None

    def save(values):
        saved = themes.save(s, current_user(), theme, values)
        return _("The theme %(name)s is saved.", name=saved.name), url_for("manage.theme_edit", theme_id=saved.id)

    return form_page("manage/theme_form.html", themes.theme_values(theme) if theme else themes.neutral_values(s),
                     lambda: themes.check(request.form, request.files), save, theme=theme, measure=themes.measure,
                     default_id=themes.default_theme_id(s, current_user().organisation_id))


@bp.post("/manage/themes/contrast")
@role_required("org-admin")
def theme_contrast():
    """The contrast check and preview colours for the colours typed so far (an htmx fragment)."""
    values = {c: (request.form.get(c) or "").strip().lower()[:7] for c in themes.COLOURS}
    measured = themes.measure(values["primary_color"], values["background_color"], values["text_color"])
    return render_template("manage/_contrast.html", values=values, measured=measured)


@bp.get("/manage/themes/preview.css")
@role_required("org-admin")
def theme_preview_css():
    """Colours for the preview box (a stylesheet, because the CSP forbids inline styles)."""
    colours = {c: request.args.get(c, "") for c in ("primary", "background", "text")}
    if not all(HEX.match(v) for v in colours.values()):
        colours = {"primary": "#1f5f8b", "background": "#ffffff", "text": "#1a1a1a"}
    css = render_template("manage/preview.css", on_primary=on_color(colours["primary"]), **colours)
    return Response(css, mimetype="text/css")
