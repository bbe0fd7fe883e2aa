"""Views for rooms, the hosts' room list and the audit log; the work is in mvc.manage.rooms."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.auth import current_user, role_required
from mvc.manage import audit, bp, rooms
from mvc.manage.access import owned
from mvc.manage.forms import form_page
from mvc.models import Room


@bp.get("/rooms")
@role_required("host")
def my_rooms():
    """The rooms of the host's organisation, each with a button that starts the meeting."""
    user = current_user()
    listed = rooms.org_rooms(db.session(), user.organisation_id) if user.organisation_id else []
    return render_template("manage/my_rooms.html", rooms=listed, join_url=rooms.join_url)


@bp.get("/manage")
@role_required("org-admin")
def home():
    """Management starts at the room list."""
    return redirect(url_for("manage.room_list"))


@bp.get("/manage/rooms")
@role_required("org-admin")
def room_list():
    """The organisation's fixed rooms."""
    listed = rooms.org_rooms(db.session(), current_user().organisation_id)
    return render_template("manage/rooms.html", rooms=listed, join_url=rooms.join_url)


@bp.route("/manage/rooms/new", methods=["GET", "POST"])
@bp.route("/manage/rooms/<int:room_id>", methods=["GET", "POST"])
@role_required("org-admin")
def room_edit(room_id: int | None = None):
    """Create or edit a fixed room."""
    s, user = db.session(), current_user()
    room = owned(Room, room_id) if room_id else None

    def save(values):
        saved = rooms.save(s, user, room, values)
        return _("The room %(name)s is saved.", name=saved.name), url_for("manage.room_edit", room_id=saved.id)

    return form_page("manage/room_form.html", rooms.room_values(room) if room else rooms.blank_values(),
                     lambda: rooms.check(s, user.organisation_id, request.form, room_id), save, room=room,
                     themes=rooms.theme_choices(s, user.organisation_id), join_url=rooms.join_url)


@bp.post("/manage/rooms/<int:room_id>/delete")
@role_required("org-admin")
def room_delete(room_id: int):
    """Delete a fixed room."""
    room = owned(Room, room_id)
    rooms.delete(db.session(), current_user(), room)
    flash(_("The room %(name)s is deleted.", name=room.name))
    return redirect(url_for("manage.room_list"))


@bp.get("/manage/rooms/<int:room_id>/qr.svg")
@role_required("org-admin")
def room_qr(room_id: int):
    """A QR code of the room's join link, served from our own origin."""
    room = owned(Room, room_id)
    resp = Response(rooms.qr_svg(rooms.join_url(room.alias)), mimetype="image/svg+xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return resp


@bp.get("/manage/audit")
@role_required("org-admin")
def audit_log():
    """Who changed what in the organisation, newest first."""
    return render_template("manage/audit.html", entries=audit.entries(db.session(), current_user().organisation_id))
