"""The pre-call check (/check) for everyone, and the support pages for staff with the support role."""
from __future__ import annotations

from flask import abort, jsonify, redirect, render_template, request, url_for

from mvc import db
from mvc.auth import current_user, role_required
from mvc.extensions import limiter
from mvc.meeting.live_ops import ice_servers
from mvc.support import bp, check, texts, timeline

SDP_MAX = 20_000


def _json() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("/check")
def check_page():
    """Camera, microphone, speaker, browser and connection, checked before a meeting."""
    return render_template("support/check.html", theme=None, checks=texts.CHECKS, messages=texts.MESSAGES,
                           slow=texts.SLOW)


@bp.post("/check/start")
@limiter.limit("20/minute")
def check_start():
    """A fresh check id and the ICE servers (with TURN credentials) to test with."""
    check_id = check.new_id()
    return jsonify(id=check_id, iceServers=ice_servers(check_id))


@bp.post("/check/connect")
@limiter.limit("20/minute")
def check_connect():
    """Relay the page's offer to a media worker and return its answer (503 when none answers)."""
    body = _json()
    check_id, sdp = body.get("id"), body.get("sdp")
    if not isinstance(check_id, str) or not check.CHECK_ID.match(check_id) or not isinstance(sdp, str) \
            or len(sdp) > SDP_MAX:
        return jsonify(error="bad request"), 400
    try:
        return jsonify(sdp=check.connect(check_id, sdp))
    except check.NoWorker as exc:
        return jsonify(error=str(exc)), 503


@bp.post("/check/finish")
@limiter.limit("20/minute")
def check_finish():
    """Store the results and hand back the support code."""
    body = _json()
    check_id = body.get("id") if isinstance(body.get("id"), str) and check.CHECK_ID.match(body["id"]) else None
    row = check.finish(db.session(), check_id, check.clean_results(body.get("results")))
    return jsonify(code=row.code)


def _scope() -> int | None:
    """Support staff see their organisation's meetings; platform admins see all."""
    user = current_user()
    return None if user.has_role("platform-admin") else user.organisation_id


@bp.get("/support")
@role_required("support")
def support_home():
    """Enter a support code, or pick a recent meeting."""
    code = request.args.get("code", "")
    if code:
        found = check.by_code(db.session(), code)
        if found is not None:
            return redirect(url_for("support.support_code", code=found.code))
    return render_template("support/home.html", code=code[:12], not_found=bool(code),
                           meetings=timeline.recent(db.session(), _scope()))


@bp.get("/support/code/<code>")
@role_required("support")
def support_code(code: str):
    """A check's results and the timelines of the meetings the same browser joined."""
    found = check.by_code(db.session(), code)
    if found is None:
        abort(404)
    s, scope = db.session(), _scope()
    lines = [(t, pid) for t, pid in ((timeline.for_meeting(s, m, scope), pid)
                                     for m, pid in timeline.meetings_for_code(s, found.code)) if t is not None]
    return render_template("support/code.html", check=found, results=timeline.results(found), timelines=lines,
                           nav="support", checks=texts.CHECKS, message=texts.message, kinds=texts.EVENT_KINDS)


@bp.get("/support/meetings/<int:meeting_id>")
@role_required("support")
def support_meeting(meeting_id: int):
    """One meeting's timeline."""
    line = timeline.for_meeting(db.session(), meeting_id, _scope())
    if line is None:
        abort(404)
    return render_template("support/meeting.html", t=line, mark=None, nav="support", kinds=texts.EVENT_KINDS)
