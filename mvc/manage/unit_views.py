"""Views for organisation units (org admins); the work is in mvc.manage.units."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.auth import current_user, role_required
from mvc.manage import bp, units
from mvc.manage.access import owned
from mvc.manage.forms import form_page
from mvc.models import Unit


@bp.get("/manage/units")
@role_required("org-admin")
def unit_list():
    """The organisation's units and their members."""
    s = db.session()
    rows = [(unit, units.members(s, unit)) for unit in units.org_units(s, current_user().organisation_id)]
    return render_template("manage/units.html", rows=rows)


@bp.route("/manage/units/new", methods=["GET", "POST"])
@bp.route("/manage/units/<int:unit_id>", methods=["GET", "POST"])
@role_required("org-admin")
def unit_edit(unit_id: int | None = None):
    """Create a unit, or rename it and choose its members."""
    s, user = db.session(), current_user()
    unit = owned(Unit, unit_id) if unit_id else None

    def save(values):
        saved = units.save(s, user, unit, values)
        return _("The unit %(name)s is saved.", name=saved.name), url_for("manage.unit_list")

    values = {"name": unit.name, "members": [u.id for u in units.members(s, unit)]} if unit else {"members": []}
    return form_page("manage/unit_form.html", values, lambda: units.check(s, user.organisation_id, request.form, unit_id),
                     save, unit=unit, staff=units.member_choices(s, user.organisation_id))


@bp.post("/manage/units/<int:unit_id>/delete")
@role_required("org-admin")
def unit_delete(unit_id: int):
    """Delete a unit."""
    unit = owned(Unit, unit_id)
    units.delete(db.session(), current_user(), unit)
    flash(_("The unit %(name)s is deleted.", name=unit.name))
    return redirect(url_for("manage.unit_list"))
