"""The citizen's queue pages: join, wait (polled), leave, and into the call."""
from __future__ import annotations

import hashlib

from flask import abort, current_app, redirect, render_template, request, url_for

from mvc import db, rooms
from mvc.extensions import limiter
from mvc.models import Organisation
from mvc.waitqueue import bp, citizen, hours, service
from mvc.waitqueue import state as rules


def _queue(alias: str):
    queue = service.by_alias(db.session(), alias)
    if queue is None:
        abort(404)
    return queue


def _page(template: str, queue, status: int = 200, **context):
    org = db.session().get(Organisation, queue.organisation_id)
    theme = rooms.theme_for(db.session(), org.default_theme_id)
    return render_template(template, queue=queue, theme=theme, org_name=org.name, precheck=_precheck(), **context), status


def _precheck() -> str | None:
    """The pre-call check page's address, when the app has one."""
    return "/check" if any(rule.rule == "/check" for rule in current_app.url_map.iter_rules()) else None


@bp.route("/q/<alias>", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def join(alias: str):
    """The queue's join page (name, preview); outside opening hours a page that says when it opens."""
    queue = _queue(alias)
    state = service.current(queue.id)
    record = citizen.place(queue)
    if record and state.find(record["eid"]):
        return redirect(url_for("queue.wait", alias=queue.alias))
    if not citizen.is_open(queue):
        opens = hours.next_opening(queue.hours, queue.closed_days, citizen.now())
        return _page("queue/closed.html", queue, opens=opens)
    paused = state.paused
    if request.method == "POST" and not paused:
        joining = citizen.read_form(queue, request.form)
        if not joining.errors:
            entry = service.join(queue, joining.name, joining.assisted, joining.intake)
            citizen.remember(queue, entry.eid, joining)
            return redirect(url_for("queue.wait", alias=queue.alias))
        return _page("queue/join.html", queue, joining.status, form=request.form, errors=joining.errors)
    return _page("queue/join.html", queue, form={}, errors={}, paused=paused)


@bp.get("/q/<alias>/wait")
def wait(alias: str):
    """The calm queue view: place, wait estimate, messages; kept up to date by polling the status."""
    queue = _queue(alias)
    record = citizen.place(queue)
    if record is None:
        return redirect(url_for("queue.join", alias=queue.alias))
    return _page("queue/wait.html", queue, **_status(queue, record))


@bp.get("/q/<alias>/status")
def status(alias: str):
    """The status fragment the wait page polls (204 when nothing changed); each poll also keeps the place."""
    queue = _queue(alias)
    context = _status(queue, citizen.place(queue) or {"eid": ""})
    if request.args.get("v") == context["digest"]:
        return "", 204  # nothing new: the page keeps what it shows and screen readers stay quiet
    return render_template("queue/_status.html", queue=queue, **context)


def _status(queue, record: dict) -> dict:
    state, entry = service.change(queue.id, lambda s: rules.touch(s, record["eid"]))
    position = state.position(record["eid"]) if entry else None
    minutes = citizen.estimate(state, position) if position else None
    seen = (position, minutes, state.message, bool(entry), entry and entry.meeting_id)
    return {"entry": entry, "position": position, "state": state, "minutes": minutes,
            "digest": hashlib.sha1(repr(seen).encode()).hexdigest()[:12]}


@bp.post("/q/<alias>/leave")
def leave(alias: str):
    """Leave the queue on purpose (works without JavaScript)."""
    queue = _queue(alias)
    record = citizen.place(queue)
    if record is not None:
        service.leave(queue, record["eid"])
        citizen.forget(queue)
    return _page("queue/left.html", queue)


@bp.route("/q/<alias>/go", methods=["GET", "POST"])
def go(alias: str):
    """The citizen's turn: into the private call, with the name they typed."""
    queue = _queue(alias)
    record = citizen.place(queue)
    meeting = service.enter_call(queue, record["eid"]) if record else None
    if meeting is None:
        return redirect(url_for("queue.join", alias=queue.alias))
    citizen.into_call(queue, record, meeting)
    return redirect(url_for("meeting.live", alias=meeting.alias))
