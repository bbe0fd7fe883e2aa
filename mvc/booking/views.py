"""Staff pages for SMS meetings and bookings, and the invitee's own page: small views over the service."""
from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from mvc import db
from mvc.auth import current_user, require_staff
from mvc.booking import bp, calendar, forms, service
from mvc.devices import service as device_service
from mvc.extensions import limiter
from mvc.join.service import JoinContext, problem_page
from mvc.mail import service as mail
from mvc.models import Invitation, Meeting, User
from mvc.models.base import utcnow
from mvc.sms import limits
from mvc.sms import service as sms


def _chosen_devices() -> list[int]:
    """Registered devices ticked as invitees (checked against the organisation when saved)."""
    return [int(v) for v in request.form.getlist("device") if v.isdigit()]


def _own_meeting(meeting_id: int) -> Meeting:
    meeting = db.session().get(Meeting, meeting_id)
    if meeting is None or meeting.kind not in ("booked", "instant") or (
            meeting.organisation_id != current_user().organisation_id):
        abort(404)
    return meeting


def _own_invitation(meeting_id: int, invitation_id: int) -> tuple[Meeting, Invitation]:
    meeting = _own_meeting(meeting_id)
    inv = db.session().get(Invitation, invitation_id)
    if inv is None or inv.meeting_id != meeting.id:
        abort(404)
    return meeting, inv


@bp.route("/sms-video", methods=["GET", "POST"])
@require_staff("host")
def instant():
    """Type mobile numbers, start a meeting now; each number gets its own link by text."""
    parsed = forms.instant_form(request.form) if request.method == "POST" else None
    if parsed is None or parsed.errors:
        return _form("booking/instant.html", parsed, request.form if parsed else None)
    try:
        outcome = service.create_instant(db.session(), current_user(), parsed)
    except limits.LimitReached as exc:
        return _form("booking/instant.html", parsed, request.form, limit=str(exc))
    if outcome.all_sent:
        return redirect(url_for("join.page", alias=outcome.meeting.alias))
    return redirect(url_for("booking.detail", meeting_id=outcome.meeting.id))


def _form(template: str, parsed, form, limit: str = "", status: int | None = None, **extra):
    errors = parsed.errors if parsed else {}
    code = status or (429 if limit else 422 if errors else 200)
    source = extra.get("meeting") or Meeting(organisation_id=0)
    chosen = parsed.options | {"reminders": parsed.reminders} if parsed else (
        source.settings_dict() | {"reminders": source.reminders})
    lists = {key: form.getlist(key) if hasattr(form, "getlist") else [] for key in ("name", "phone", "email")}
    people = [{key: (lists[key][i] if i < len(lists[key]) else "") for key in lists}
              for i in range(max(map(len, lists.values())))]
    people = [p for p in people if any(p.values())]
    people += [{"name": "", "phone": "", "email": ""}] * max(3 - len(people), 1)
    return render_template(template, errors=errors, form=form or {}, limit=limit, chosen=chosen, people=people,
                           locale_choice=(parsed.locale if parsed else "da"), **extra), code


@bp.get("/bookings")
@require_staff("host")
def bookings():
    """The organisation's booked and SMS meetings that have not ended."""
    rows = db.session().exec(select(Meeting).where(
        Meeting.organisation_id == current_user().organisation_id, Meeting.kind.in_(("booked", "instant")),
        Meeting.ends_at > utcnow()).order_by(Meeting.starts_at)).all()
    return render_template("booking/list.html", meetings=rows)


@bp.route("/bookings/new", methods=["GET", "POST"])
@require_staff("host")
def new():
    """Book a meeting with a start and end time and invitees."""
    devices = _chosen_devices()  # a registered device may be the only invitee
    parsed = forms.booking_form(request.form, utcnow(), require_people=not devices) if request.method == "POST" else None
    if parsed is None or parsed.errors:
        return _form("booking/form.html", parsed, request.form if parsed else None, meeting=None)
    try:
        outcome = service.create_booking(db.session(), current_user(), parsed)
    except limits.LimitReached as exc:
        return _form("booking/form.html", parsed, request.form, limit=str(exc), meeting=None)
    device_service.invite_to_booking(db.session(), current_user(), outcome.meeting, devices)
    return redirect(url_for("booking.detail", meeting_id=outcome.meeting.id))


@bp.route("/bookings/<int:meeting_id>", methods=["GET", "POST"])
@require_staff("host")
def detail(meeting_id: int):
    """A meeting's invitees and their texts; for bookings also the change form."""
    meeting = _own_meeting(meeting_id)
    parsed, problem = None, request.args.get("problem", "")
    if request.method == "POST" and meeting.kind == "booked" and meeting.status == "open":
        parsed = forms.booking_form(request.form, utcnow(), require_people=False)
        if not parsed.errors:
            remove = {int(v) for v in request.form.getlist("remove") if v.isdigit()}
            outcome = service.update_booking(db.session(), meeting, current_user(), parsed, remove)
            device_service.reschedule(db.session(), meeting)
            device_service.invite_to_booking(db.session(), current_user(), meeting, _chosen_devices())
            return redirect(url_for("booking.detail", meeting_id=meeting.id, saved=1, problem=outcome.problem or None))
    form = request.form if parsed else (forms.local_fields(meeting) | {"title": meeting.title})
    return _form("booking/detail.html", parsed, form, limit=problem, status=422 if parsed else 200,
                 **_detail_context(meeting))


def _detail_context(meeting: Meeting) -> dict:
    invitations = service.active_invitations(db.session(), meeting)
    return {"meeting": meeting, "invitations": invitations, "texts": sms.latest_for(db.session(),
            [inv.id for inv in invitations]), "label": sms.status_label, "problem_text": sms.problem_text,
            "saved": request.args.get("saved"), "mails": mail.latest_for(db.session(), [inv.id for inv in invitations]),
            "mail_label": mail.status_label,
            "organiser": db.session().get(User, meeting.created_by_id) if meeting.created_by_id else None}


@bp.post("/bookings/<int:meeting_id>/cancel")
@require_staff("host")
def cancel(meeting_id: int):
    """Cancel a booked meeting and tell the invitees."""
    meeting = _own_meeting(meeting_id)
    if meeting.status != "cancelled":
        outcome = service.cancel_booking(db.session(), meeting, current_user())
        device_service.reschedule(db.session(), meeting)
        return redirect(url_for("booking.detail", meeting_id=meeting.id, problem=outcome.problem or None))
    return redirect(url_for("booking.detail", meeting_id=meeting.id))


@bp.post("/bookings/<int:meeting_id>/invitations/<int:invitation_id>/resend")
@require_staff("host")
def resend(meeting_id: int, invitation_id: int):
    """Send an invitee's link again (after a failed text)."""
    meeting, inv = _own_invitation(meeting_id, invitation_id)
    if inv.revoked or meeting.status != "open":
        abort(404)
    try:
        sms.text_invitations(db.session(), [inv], meeting, "invite", current_user().id)
    except limits.LimitReached as exc:
        return redirect(url_for("booking.detail", meeting_id=meeting.id, problem=str(exc)))
    return redirect(url_for("booking.detail", meeting_id=meeting.id))


@bp.get("/bookings/<int:meeting_id>/invitations/<int:invitation_id>.ics")
@require_staff("host")
def ics(meeting_id: int, invitation_id: int):
    """The invitee's calendar file (to attach to an e-mail): a link, no health data."""
    meeting, inv = _own_invitation(meeting_id, invitation_id)
    if meeting.kind != "booked":
        abort(404)
    body = calendar.invitation_ics(db.session(), meeting, inv)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="meeting-{meeting.id}-{inv.id}.ics"'})


@bp.route("/m/<alias>/invitation", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def invitation(alias: str):
    """The invitee's page: switch reminders off or on, forward the invitation to someone."""
    ctx = JoinContext.load(db.session(), alias, request.values.get("t", ""))
    if ctx.problem and ctx.problem != "early":  # before the meeting opens is when this page matters most
        return problem_page(ctx)
    if ctx.invitation is None:
        abort(404)
    meeting, inv = ctx.target.meeting, ctx.invitation
    errors, done = {}, request.args.get("done", "")
    if request.method == "POST":
        errors, done = _invitee_action(meeting, inv)
        if not errors:
            return redirect(url_for("booking.invitation", alias=alias, t=ctx.token, done=done))
    return render_template("booking/invitation.html", ctx=ctx, meeting=meeting, inv=inv, errors=errors,
                           done=done, form=request.form, left=service.forwards_left(db.session(), inv, meeting),
                           reminders=meeting.kind == "booked" and meeting.reminders and bool(inv.phone)), \
        422 if errors else 200


def _invitee_action(meeting: Meeting, inv: Invitation) -> tuple[dict, str]:
    action = request.form.get("action")
    if action in ("reminders-off", "reminders-on"):
        inv.reminder_opt_out = action == "reminders-off"
        db.session().add(inv)
        db.session().commit()
        return {}, action
    if action != "forward":
        return {"form": _("Please choose what you want to do.")}, ""
    parsed = forms.Parsed()
    forms.read_people(request.form, parsed, with_email=False)
    if not parsed.errors and (not parsed.people or not parsed.people[0].name):
        parsed.errors["name-0"] = _("Please type the name of the person you are inviting.")
    if parsed.errors:
        return parsed.errors, ""
    try:
        outcome = service.forward(db.session(), inv, meeting, parsed.people[0])
    except (service.ForwardRefused, limits.LimitReached) as exc:
        return {"form": str(exc)}, ""
    return ({}, "forwarded") if outcome.all_sent else ({"form": _("The text message could not be sent. "
                                                                  "Please check the number.")}, "")
