"""Device endpoints beside the booking API: create, list, read, rename, revoke, new code, call."""
from __future__ import annotations

from flask import g, jsonify, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.api import bp, clients, meetings
from mvc.api.device_schemas import CallIn, CallOut, DeviceFields, DeviceIn, DeviceOut
from mvc.api.meetings import Refused
from mvc.api.openapi import doc
from mvc.api.schemas import answer, format_time, parse
from mvc.api.views import _body, allow, require
from mvc.devices import service
from mvc.models import Meeting
from mvc.models.base import utcnow
from mvc.models.device import Device, DeviceCall

READ = ("meeting-planner", "meeting-admin", "meeting-provisioner")
MANAGE = ("meeting-admin", "meeting-provisioner")
CALL = ("meeting-user", "meeting-planner", "meeting-admin")


def _org() -> int:
    return g.api_caller.client.organisation_id


def _actor() -> str:
    """Who the device audit entries name: the calling client, as the booking API's own entries do."""
    return clients.label(g.api_caller.client)


def _device(device_id: str) -> Device:
    """The device if it belongs to the caller's organisation (404 otherwise, as for meetings)."""
    device = db.session().get(Device, device_id)
    if device is None or device.organisation_id != _org():
        raise Refused(404, 404, _("No device with this id."))
    return device


def _call_json(row: DeviceCall) -> dict:
    meeting = db.session().get(Meeting, row.meeting_id)
    return answer(CallOut, {"id": row.id, "deviceId": row.device_id, "status": row.status,
                            "time": format_time(row.rang_at or row.due_at),
                            "joinUrl": url_for("join.page", alias=meeting.alias, _external=True)})


def _json(device: Device, code: str = "") -> dict:
    """A device as the API shows it (with its code only right after issuing one)."""
    now = utcnow()
    state = "bound" if device.credential_hash else (
        "waiting" if device.code_hash and device.code_expires_at and device.code_expires_at > now else "unbound")
    last = service.last_calls(db.session(), [device.id]).get(device.id)
    data = {"id": device.id, "name": device.name, "note": device.note, "autoAnswer": device.auto_answer,
            "state": state, "online": service.is_online(device, now), "lastSeen": format_time(device.last_seen_at),
            "lastCall": _call_json(last) if last else None}
    if code:
        data |= {"provisioningCode": service.shown_code(code), "codeExpires": format_time(device.code_expires_at)}
    return answer(DeviceOut, data)


def _cleaned(name: str | None, note: str | None) -> tuple[str, str]:
    name, note, errors = service.clean(name, note)
    if errors:
        raise Refused(400, 10, _("The device needs a name of at most 80 characters."))
    return name, note


@bp.route("/v2/devices", methods=["GET", "POST"])
@doc("get", "The organisation's registered devices", answer=DeviceOut, many=True)
@doc("post", "Register a device; the answer holds its one-time provisioning code (shown only here)",
     body=DeviceIn, answer=DeviceOut, status=201, roles=MANAGE)
@allow(*READ)
def device_list():
    """GET: every device of the organisation. POST: register one and get its one-time code."""
    if request.method == "GET":
        return jsonify([_json(d) for d in service.org_devices(db.session(), _org())])
    require(*MANAGE)
    wanted = parse(DeviceIn, _body())
    name, note = _cleaned(wanted.name, wanted.note)
    device, code = service.register(db.session(), _actor(), name, note, bool(wanted.autoAnswer), org_id=_org())
    return jsonify(_json(device, code)), 201


@bp.route("/v2/devices/<device_id>", methods=["GET", "PATCH"])
@doc("get", "One device", answer=DeviceOut)
@doc("patch", "Rename a device, change its note or auto-answer", body=DeviceFields, answer=DeviceOut, roles=MANAGE)
@allow(*READ)
def device_one(device_id: str):
    """Read or change one device."""
    device = _device(device_id)
    if request.method == "PATCH":
        require(*MANAGE)
        wanted = parse(DeviceFields, _body())
        name, note = _cleaned(wanted.name or device.name, device.note if wanted.note is None else wanted.note)
        auto = device.auto_answer if wanted.autoAnswer is None else wanted.autoAnswer
        service.change(db.session(), _actor(), device, name, note, auto)
    return jsonify(_json(device))


@bp.post("/v2/devices/<device_id>/revoke")
@doc("post", "Disconnect a device: its credential and code stop working, its screen shows the code page",
     answer=DeviceOut)
@allow(*MANAGE)
def device_revoke(device_id: str):
    """Disconnect a device at once."""
    device = _device(device_id)
    service.revoke(db.session(), _actor(), device)
    return jsonify(_json(device))


@bp.post("/v2/devices/<device_id>/code")
@doc("post", "A new one-time provisioning code (shown only here)", answer=DeviceOut)
@allow(*MANAGE)
def device_code(device_id: str):
    """Issue a new provisioning code."""
    device = _device(device_id)
    return jsonify(_json(device, service.issue_code(db.session(), _actor(), device)))


@bp.post("/v2/devices/<device_id>/call")
@doc("post", "Call a device now, into a booked meeting (meetingUuid) or a fresh one; "
     "status 'busy' when it is in a call, 'offline' when it is not connected", body=CallIn, answer=CallOut, status=201)
@allow(*CALL)
def device_call(device_id: str):
    """Ring a device now."""
    device = _device(device_id)
    wanted = parse(CallIn, request.get_json(silent=True) or {})
    meeting = None
    if wanted.meetingUuid:
        meeting, _ext = meetings.find(db.session(), g.api_caller, wanted.meetingUuid)
        meetings.check_changeable(meeting)
    elif device.credential_hash is None:
        raise Refused(409, 409, _("The device is not set up."))
    row = service.call(db.session(), _actor(), device, meeting)
    return jsonify(_call_json(row)), 201


@bp.get("/v2/devices/calls/<call_id>")
@doc("get", "How a call goes: ringing, answered, declined, no_answer, busy, offline", answer=CallOut)
@allow(*CALL)
def call_status(call_id: str):
    """One call's state."""
    row = db.session().get(DeviceCall, int(call_id)) if call_id.isdigit() else None
    if row is None:
        raise Refused(404, 404, _("No call with this id."))
    _device(row.device_id)
    return jsonify(_call_json(service.settle(db.session(), row)))


