"""Staff pages for devices: register, list, change, revoke, new code, and calling a device."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.auth import current_user, require_staff
from mvc.devices import bp, service
from mvc.manage.access import owned
from mvc.models import Meeting
from mvc.models.device import Device, DeviceCall

ERRORS = {
    "name_missing": lambda: _("Please give the device a name."),
    "name_long": lambda: _("The name is too long. Please use at most 80 characters."),
    "note_long": lambda: _("The note is too long. Please use at most 200 characters."),
}


def _form_errors(errors: dict) -> dict:
    return {field: ERRORS[key]() for field, key in errors.items()}


def _list(form=None, errors=None, status: int = 200):
    s, org = db.session(), current_user().organisation_id
    devices = service.org_devices(s, org)
    return render_template("manage/devices.html", devices=devices, last=service.last_calls(s, [d.id for d in devices]),
                           online=service.is_online, now=service.utcnow(), form=form or {},
                           errors=errors or {}), status


def _code_page(device: Device, code: str):
    return render_template("manage/devices_code.html", device=device, code=service.shown_code(code),
                           device_url=url_for("devices.page", _external=True))


@bp.get("/manage/devices")
@require_staff("org-admin")
def device_list():
    """Every device of the organisation: online, last call, bound or waiting."""
    return _list()


@bp.get("/devices")
@require_staff("host")
def staff_list():
    """The organisation's devices for staff to call: name, online or not, a call button; nothing to change."""
    devices = service.org_devices(db.session(), current_user().organisation_id)
    return render_template("devices/staff_list.html", devices=devices, online=service.is_online)


@bp.post("/manage/devices")
@require_staff("org-admin")
def device_create():
    """Register a device; its one-time code is shown once."""
    name, note, errors = service.clean(request.form.get("name"), request.form.get("note"))
    if errors:
        return _list(request.form, _form_errors(errors), 422)
    device, code = service.register(db.session(), current_user(), name, note, bool(request.form.get("auto_answer")))
    return _code_page(device, code)


@bp.route("/manage/devices/<int:device_id>", methods=["GET", "POST"])
@require_staff("org-admin")
def device_edit(device_id: int):
    """Rename a device, change its note or auto-answer."""
    device = owned(Device, device_id)
    form, errors = {"name": device.name, "note": device.note, "auto_answer": device.auto_answer}, {}
    if request.method == "POST":
        name, note, found = service.clean(request.form.get("name"), request.form.get("note"))
        if not found:
            service.change(db.session(), current_user(), device, name, note, bool(request.form.get("auto_answer")))
            flash(_("The device %(name)s is saved.", name=name))
            return redirect(url_for("devices.device_list"))
        form, errors = request.form, _form_errors(found)
    return render_template("manage/devices_form.html", device=device, form=form, errors=errors), 422 if errors else 200


@bp.post("/manage/devices/<int:device_id>/code")
@require_staff("org-admin")
def device_code(device_id: int):
    """A new one-time code (the device stays bound until it is used)."""
    device = owned(Device, device_id)
    return _code_page(device, service.issue_code(db.session(), current_user(), device))


@bp.post("/manage/devices/<int:device_id>/revoke")
@require_staff("org-admin")
def device_revoke(device_id: int):
    """Unbind the device at once; it shows the code screen."""
    device = owned(Device, device_id)
    service.revoke(db.session(), current_user(), device)
    flash(_("The device %(name)s is disconnected. Give it a new code to use it again.", name=device.name))
    return redirect(url_for("devices.device_list"))


@bp.post("/manage/devices/<int:device_id>/call")
@require_staff("host")
def device_call(device_id: int):
    """Call the device now: into a booking (meeting_id) or a fresh meeting; then follow the call."""
    device = owned(Device, device_id)
    meeting = None
    if request.form.get("meeting_id", "").isdigit():
        meeting = owned(Meeting, int(request.form["meeting_id"]))
        if meeting.status != "open":
            abort(409)
    row = service.call(db.session(), current_user(), device, meeting)
    return redirect(url_for("devices.call_status", call_id=row.id))


def _own_call(call_id: int) -> tuple[DeviceCall, Device, Meeting]:
    row = db.session().get(DeviceCall, call_id)
    if row is None:
        abort(404)
    return row, owned(Device, row.device_id), db.session().get(Meeting, row.meeting_id)


@bp.get("/manage/devices/calls/<int:call_id>")
@require_staff("host")
def call_status(call_id: int):
    """How the call goes (ringing, answered, declined, no answer, busy, offline), kept live by polling."""
    row, device, meeting = _own_call(call_id)
    service.settle(db.session(), row)
    template = "manage/_device_call.html" if request.headers.get("HX-Request") else "manage/devices_call.html"
    return render_template(template, call=row, device=device, meeting=meeting)


@bp.app_template_global()
def booking_devices() -> list[Device]:
    """Devices the signed-in staff member may invite to a booking."""
    user = current_user()
    return service.org_devices(db.session(), user.organisation_id) if user and user.organisation_id else []


@bp.app_template_global()
def booking_device_ids(meeting_id: int | None) -> set[int]:
    """Devices a booking calls at its start."""
    return {d.id for d in service.scheduled_devices(db.session(), meeting_id)} if meeting_id else set()
