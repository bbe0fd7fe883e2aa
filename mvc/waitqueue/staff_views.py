"""The staff side: the live queue, take next (or pick one), pause, message, and running calls."""
from __future__ import annotations

import time

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _

from mvc import db, participants
from mvc.auth import current_user, role_required
from mvc.manage.access import owned
from mvc.manage.forms import text
from mvc.models import Meeting, Queue
from mvc.sms import limits
from mvc.sms.phones import error_text, parse_mobile
from mvc.waitqueue import bp, service

MESSAGE_MAX = 200
REASON_MAX = 200


def _served(queue_id: int) -> Queue:
    """The queue if the signed-in staff member serves it (403 for other organisations and other staff)."""
    queue = owned(Queue, queue_id)
    if not service.serves(db.session(), queue, current_user()):
        abort(403)
    return queue


def _call(queue: Queue, meeting_id: int) -> Meeting:
    """One of the staff member's running calls from this queue."""
    for meeting, _doc in service.calls(db.session(), queue, current_user()):
        if meeting.id == meeting_id:
            return meeting
    abort(404)


@bp.get("/queues")
@role_required("host")
def staff_list():
    """The queues the staff member serves."""
    return render_template("queue/staff_list.html", queues=service.staff_queues(db.session(), current_user()))


@bp.get("/queues/<int:queue_id>")
@role_required("host")
def staff(queue_id: int):
    """The live queue in order, with the tools; the list part polls itself."""
    queue = _served(queue_id)
    return render_template("queue/staff.html", **_live_context(queue))


@bp.get("/queues/<int:queue_id>/live")
@role_required("host")
def staff_live(queue_id: int):
    """The polled fragment: who waits, and the staff member's running calls."""
    return render_template("queue/_staff_live.html", **_live_context(_served(queue_id)))


def _live_context(queue: Queue) -> dict:
    return {"queue": queue, "state": service.current(queue.id), "now": time.time(),
            "calls": service.calls(db.session(), queue, current_user())}


@bp.post("/queues/<int:queue_id>/take")
@role_required("host")
def take(queue_id: int):
    """Take the next citizen (or the chosen one, with a reason) into a private call, and go there at once."""
    queue, user = _served(queue_id), current_user()
    eid = request.form.get("eid") or None
    meeting = service.take(db.session(), queue, user, eid, text(request.form, "reason", REASON_MAX)[:REASON_MAX])
    if meeting is None:
        flash(_("Nobody is waiting in the queue.") if eid is None else _("That citizen is no longer waiting."))
        return redirect(url_for("queue.staff", queue_id=queue.id))
    participants.remember(meeting.id, user.name, "host")
    return redirect(url_for("meeting.live", alias=meeting.alias))


@bp.post("/queues/<int:queue_id>/pause")
@role_required("host")
def pause(queue_id: int):
    """Pause the queue (nobody new may join) or open it again."""
    queue = _served(queue_id)
    paused = request.form.get("paused") == "on"
    service.set_paused(queue, paused)
    flash(_("The queue is paused. Nobody new can join.") if paused else _("The queue is open again."))
    return redirect(url_for("queue.staff", queue_id=queue.id))


@bp.post("/queues/<int:queue_id>/message")
@role_required("host")
def message(queue_id: int):
    """Show a short message to everyone waiting (an empty message removes it)."""
    queue = _served(queue_id)
    words = " ".join(text(request.form, "message", MESSAGE_MAX).split())[:MESSAGE_MAX]
    service.set_message(queue, words)
    flash(_("Everyone waiting now sees your message.") if words else _("The message is removed."))
    return redirect(url_for("queue.staff", queue_id=queue.id))


@bp.post("/queues/<int:queue_id>/calls/<int:meeting_id>/end")
@role_required("host")
def end_call(queue_id: int, meeting_id: int):
    """Finish a call: the meeting ends and the intake answer is deleted."""
    queue = _served(queue_id)
    service.end_call(db.session(), _call(queue, meeting_id))
    flash(_("The call is finished."))
    return redirect(url_for("queue.staff", queue_id=queue.id))


@bp.post("/queues/<int:queue_id>/calls/<int:meeting_id>/invite")
@role_required("host")
def invite(queue_id: int, meeting_id: int):
    """Text a second person (interpreter, colleague) their own link to the call."""
    queue = _served(queue_id)
    meeting = _call(queue, meeting_id)
    phone, problem = parse_mobile(request.form.get("phone"))
    name = " ".join(text(request.form, "name", 80).split())[:80]
    if problem:
        flash(error_text(problem))
    else:
        try:
            service.invite_second(db.session(), meeting, current_user(), name, phone, str(get_locale()))
            flash(_("The invitation is sent by text message."))
        except limits.LimitReached as exc:
            flash(str(exc))
    return redirect(url_for("queue.staff", queue_id=queue.id))
