"""The device's own pages: the code screen, the idle and ringing screen, answering, and its websocket."""
from __future__ import annotations

from flask import current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlmodel import Session

from mvc import db, participants, security
from mvc.devices import bp, service
from mvc.devices.screen import DeviceSocket, screen_context
from mvc.extensions import sock
from mvc.meeting.connection import origin_allowed
from mvc.models import Meeting
from mvc.sockets import page_may_vanish
from mvc.stats import record as stats

COOKIE = "mvc_device_key"  # the device credential; the server keeps only its hash


def current_device():
    """The bound device this browser's credential names, or None."""
    return service.by_credential(db.session(), request.cookies.get(COOKIE))


def _keep(response, credential: str):
    """(Re)issue the credential cookie: every visit of a bound device starts its lifetime afresh, so a device in
    use stays bound although browsers keep a cookie at most 400 days."""
    days = current_app.config["DEVICE_CREDENTIAL_DAYS"]
    response.set_cookie(COOKIE, credential, httponly=True, samesite="Lax", path="/",
                        secure=current_app.config["SECURE_COOKIES"],
                        max_age=min(days * 86400, participants.DEVICE_MAX_AGE))
    return response


def _code_page(problem: str = "", wait: int = 0, status: int = 200):
    messages = {
        "wrong": _("That code is not right, or it has already been used. Check the code and try again."),
        "locked": _("Too many wrong codes. %(retry)s", retry=security.retry_text(wait)),
    }
    headers = {"Retry-After": str(wait)} if wait else {}
    return render_template("devices/code.html", problem=messages.get(problem, ""), theme=None,
                           alphabet=service.ALPHABET), status, headers


@bp.route("/device", methods=["GET", "POST"])
def page():
    """Unbound: type the provisioning code. Bound: the calm idle screen that rings when called."""
    if request.method == "POST":
        result = service.provision(db.session(), request.form.get("code", ""))
        if result.device is None:
            return _code_page(result.problem, result.wait, 429 if result.problem == "locked" else 422)
        return _keep(redirect(url_for("devices.page")), result.credential)
    device = current_device()
    if device is None:
        return _code_page()
    session.pop("device_home", None)
    return _keep(make_response(render_template("devices/idle.html", **screen_context(db.session(), device))),
                 request.cookies[COOKIE])


@bp.get("/device/keep")
def keep():
    """The idle screen asks this whenever its websocket connects, and daily: a websocket's answer cannot set
    the cookie, and an idle screen may stay open for months without a page load."""
    response = make_response("", 204)
    response.headers["Cache-Control"] = "no-store"
    return _keep(response, request.cookies[COOKIE]) if current_device() else response


@bp.post("/device/calls/<int:call_id>/<any(answer, decline):choice>")
def respond(call_id: int, choice: str):
    """Answer (straight into the meeting, camera and microphone on) or decline a ringing call."""
    device = current_device()
    if device is None:
        return redirect(url_for("devices.page"))
    row = service.respond(db.session(), device, call_id, choice == "answer")
    if row is None or choice == "decline":
        return redirect(url_for("devices.page"))
    meeting = db.session().get(Meeting, row.meeting_id)
    if meeting.status != "open":  # ended or cancelled while it rang
        return redirect(url_for("devices.page"))
    me = participants.remember(meeting.id, device.name, "guest", row.invitation_id, "av")
    stats.record_join(meeting, me["pid"], "guest", "device", request.headers.get("User-Agent", ""))  # statistics
    session["device_home"] = meeting.id  # the meeting page brings the device back to /device when it ends
    return redirect(url_for("meeting.live", alias=meeting.alias))


@sock.route("/ws/device", bp=bp)
def socket(ws):
    """The device's one connection: screens pushed when called, revoked or back to idle."""
    with Session(db.engine()) as s:  # a short session: the socket's request lives as long as the socket
        device = service.by_credential(s, request.cookies.get(COOKIE)) if origin_allowed(request) else None
    if device is None:
        with page_may_vanish():
            ws.send(render_template("devices/_screen.html", state="unbound"))
            ws.close(1008, "not bound")
        return
    DeviceSocket(ws, device.id, request.cookies.get(COOKIE, "")).run()


@bp.app_context_processor
def _device_home() -> dict:
    """On a meeting page opened by answering a call: where to go when it ends."""
    return {"device_home": url_for("devices.page") if session.get("device_home") else None}

