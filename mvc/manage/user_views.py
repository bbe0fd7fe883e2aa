"""Views for staff accounts and, for platform admins, organisations."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.auth import current_user, role_required
from mvc.manage import bp, users
from mvc.manage.access import owned
from mvc.manage.forms import form_page
from mvc.models import Organisation, User


@bp.get("/manage/users")
@role_required("org-admin")
def user_list():
    """The organisation's staff."""
    return render_template("manage/users.html", users=users.org_users(db.session(), current_user().organisation_id))


@bp.route("/manage/users/new", methods=["GET", "POST"])
@role_required("org-admin")
def user_new():
    """Create a staff account."""
    def save(values):
        user = users.create(db.session(), current_user(), values)
        return _("The account for %(name)s is created.", name=user.name), url_for("manage.user_list")

    return form_page("manage/user_form.html", {"email": "", "name": "", "roles": ["host"]},
                     lambda: users.check_new(db.session(), request.form), save, user=None)


@bp.route("/manage/users/<int:user_id>", methods=["GET", "POST"])
@role_required("org-admin")
def user_edit(user_id: int):
    """Change a staff member's name and roles."""
    user = owned(User, user_id)

    def save(values):
        users.update(db.session(), current_user(), user, values)
        return _("The changes for %(name)s are saved.", name=user.name), url_for("manage.user_list")

    return form_page("manage/user_form.html", {"name": user.name, "roles": user.roles.split(",")},
                     lambda: users.check_edit(current_user(), user, request.form), save, user=user)


@bp.post("/manage/users/<int:user_id>/active")
@role_required("org-admin")
def user_active(user_id: int):
    """Deactivate or reactivate a staff account."""
    user = owned(User, user_id)
    error = users.set_active(db.session(), current_user(), user, request.form.get("active") == "1")
    if error:
        return render_template("manage/users.html", users=users.org_users(db.session(), user.organisation_id),
                               error=error), 409
    flash(_("%(name)s is now active.", name=user.name) if user.active else _("%(name)s is deactivated.", name=user.name))
    return redirect(url_for("manage.user_list"))


@bp.route("/manage/organisations", methods=["GET", "POST"])
@role_required("platform-admin")
def organisations():
    """Platform admins list organisations and create new ones with their first administrator."""
    def save(values):
        org = users.create_organisation(db.session(), current_user(), values)
        return _("The organisation %(name)s is created.", name=org.name), url_for("manage.organisations")

    return form_page("manage/organisations.html", {}, lambda: users.check_organisation(db.session(), request.form),
                     save, orgs=users.organisations(db.session()))


@bp.route("/manage/organisation", methods=["GET", "POST"])
@role_required("org-admin")
def organisation_settings():
    """The organisation's own settings: the SOR code and GLN number its FHIR messages are sent from."""
    org = db.session().get(Organisation, current_user().organisation_id)

    def save(values):
        users.save_settings(db.session(), current_user(), org, values)
        return _("The organisation's settings are saved."), url_for("manage.organisation_settings")

    return form_page("manage/organisation_form.html", {"sor": org.sor, "gln": org.gln},
                     lambda: users.check_settings(request.form), save, org=org)
