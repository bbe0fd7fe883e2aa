"""The meeting page and its websocket."""
from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for

from mvc import db, participants, rooms
from mvc.extensions import sock
from mvc.live.state import RoomFull
from mvc.meeting import bp, live_ops
from mvc.meeting.connection import Connection, origin_allowed
from mvc.sockets import page_may_vanish


def _target_and_me(alias: str):
    target = rooms.resolve(db.session(), alias)
    if target is None:
        return None, None
    meeting = target.meeting
    me = participants.me(meeting.id) if meeting is not None and meeting.status == "open" else None
    return target, me


@bp.get("/m/<alias>/live")
def live(alias: str):
    """The meeting page: waiting room or meeting, kept live by the websocket."""
    target, me = _target_and_me(alias)
    if target is None:
        abort(404)
    if me is None:
        return redirect(url_for("join.page", alias=alias))
    try:
        # person is None if they were removed; someone removed earlier who opens the page knocks
        state, person = live_ops.arrive(target.meeting, me, live_ops.room_cap(target.alias), returning=True)
    except RoomFull:
        return live_ops.full_page(target)
    view = live_ops.view_for(state, person)
    ctx = live_ops.page_context(target, state, person, view)
    return render_template("meeting/page.html", media_mode=me.get("media", "av"), **ctx)


@bp.post("/m/<alias>/leave")
def leave(alias: str):
    """Leave the meeting on purpose (the button; works without JavaScript)."""
    target, me = _target_and_me(alias)
    if target is None:
        abort(404)
    if me is not None:
        live_ops.leave(target.meeting.id, me["pid"])
        participants.forget(target.meeting.id)
    return render_template("meeting/left.html", alias=alias, theme=rooms.theme_for(db.session(), target.theme_id))


@sock.route("/ws/m/<alias>", bp=bp)
def socket(ws, alias: str):
    """One websocket per participant: live fragments out, actions and signalling in."""
    if not origin_allowed(request):
        current_app.logger.warning("websocket origin refused")
        with page_may_vanish():
            ws.close(1008, "origin")
        return
    target, me = _target_and_me(alias)
    if me is None:
        with page_may_vanish():
            ws.send(render_template("meeting/_status.html", text=live_ops.not_joined_text()))
            ws.receive(timeout=2)  # let the page read it before the socket closes
            ws.close(1008, "not joined")
        return
    db.release()  # the socket lives long: its connection goes back to the pool now
    Connection(ws, target, me).run()
