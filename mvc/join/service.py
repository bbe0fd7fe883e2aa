"""Join rules: invitation tokens, booking windows, names and PINs."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template, request
from flask_babel import gettext as _
from sqlmodel import Session

from mvc import db, logs, participants, rooms, security
from mvc.auth import current_user
from mvc.live import state as rules
from mvc.meeting import live_ops
from mvc.models import Invitation, Theme
from mvc.rooms import Target
from mvc.stats import record as stats
from mvc.stats.metrics import REFUSALS

log = logs.get("mvc.join")


@dataclass
class JoinContext:
    """Everything the join page needs about the address and the visitor."""

    target: Target | None
    theme: Theme | None = None
    token: str = ""
    invitation: Invitation | None = None
    problem: str | None = None  # unknown | invalid_token | expired_token | early | over | cancelled

    @property
    def invited_name(self) -> str:
        return self.invitation.name if self.invitation else ""

    @property
    def staff_host(self) -> bool:
        """Signed-in staff of the room's organisation join as host without a PIN."""
        user = current_user()
        return bool(
            user and self.target and user.organisation_id == self.target.organisation.id and user.has_role("host")
        )

    @property
    def needs_pin(self) -> bool:
        """Guests must type a PIN (none needed with a valid invitation)."""
        return bool(self.target and self.target.guest_pin and not self.invitation and not self.staff_host)

    @classmethod
    def load(cls, db: Session, alias: str, token: str) -> "JoinContext":
        target = rooms.resolve(db, alias)
        if target is None:
            return cls(None, problem="unknown")
        ctx = cls(target, theme=rooms.theme_for(db, target.theme_id), token=token[:400])
        if token:
            try:
                inv_id, meeting_id = security.read_invite_token(token)
            except security.TokenError as exc:
                log.warning("invite_token_refused", alias=alias, reason=exc.reason)
                ctx.problem = "expired_token" if exc.reason == "expired" else "invalid_token"
                return ctx
            invitation = db.get(Invitation, inv_id)
            if invitation is None or invitation.meeting_id != meeting_id or invitation.revoked or (
                target.meeting is None or target.meeting.id != meeting_id
            ):
                log.warning("invite_token_refused", alias=alias, reason="mismatch")
                ctx.problem = "invalid_token"
                return ctx
            ctx.invitation = invitation
        window = rooms.window_state(target.meeting if target.meeting and target.meeting.kind != "room" else None)
        if window == "early" and ctx.staff_host:
            window = "open"  # the host may open the room before the guests' window starts
        if window != "open":
            ctx.problem = window
        return ctx


def problem_page(ctx: JoinContext):
    """A clear page for an address or link that cannot be used now."""
    REFUSALS.labels(reason=ctx.problem).inc()  # statistics
    status = {"unknown": 404, "invalid_token": 400, "expired_token": 410, "early": 425, "over": 410, "cancelled": 410}
    return render_template("join/problem.html", ctx=ctx, problem=ctx.problem), status.get(ctx.problem, 400)


def full_for_everyone(ctx: JoinContext) -> bool:
    """True when every seat is taken (hosts' too) and this visitor holds none: no form to fill in."""
    meeting = ctx.target.meeting
    state = live_ops.store().get(meeting.id) if meeting is not None else None
    if state is None:
        return False
    me = participants.me(meeting.id) or {}
    visitor = rules.Participant(pid=me.get("pid", ""), name="", role=rules.HOST)
    return not rules.seat_free(state, visitor, live_ops.room_cap(ctx.target.alias), 0)


@dataclass
class JoinResult:
    ok: bool
    errors: dict = field(default_factory=dict)
    status: int = 200
    retry_after: int = 0  # seconds, when the visitor must wait before trying a PIN again
    full: bool = False


NAME_ERRORS = {
    "name_missing": lambda: _("Please type your name."),
    "name_long": lambda: _("The name is too long. Please use at most 60 characters."),
    "name_chars": lambda: _("The name contains characters that cannot be used. Please use letters and spaces."),
}


def _pin_error(check: security.PinCheck) -> str:
    """What to tell someone whose PIN was not accepted, with when to try again."""
    retry = security.retry_text(check.wait)
    if check.blocked == "room":
        return _("Many wrong PINs have been tried for this room. %(retry)s "
                 "If you have a link from an invitation, you can use it now.", retry=retry)
    if check.blocked == "client":
        return _("Too many wrong PINs. %(retry)s", retry=retry)
    return _("The PIN is not correct. Please check it and try again.")


def join(ctx: JoinContext, form) -> JoinResult:
    """Validate the join form and, if it passes, remember the visitor as a participant."""
    name, name_error = rooms.clean_name(form.get("name"))
    errors: dict[str, str] = {}
    if name_error:
        errors["name"] = NAME_ERRORS[name_error]()
    pin = (form.get("pin") or "").strip()
    if len(pin) > 20 or (pin and not pin.isdigit()):
        errors["pin"] = _("The PIN is a number of 4 to 12 digits.")
    if errors:
        return JoinResult(False, errors, 422)

    role = "guest"
    if ctx.staff_host or (ctx.invitation is not None and ctx.invitation.role == "host"):
        role = "host"
    elif ctx.invitation is None and (pin or ctx.needs_pin):  # an invitation link never waits on PINs
        check = security.check_pin(ctx.target.alias, pin, ctx.target.host_pin, ctx.target.guest_pin)
        if check.role is None:
            REFUSALS.labels(reason=f"pin_{check.blocked or 'wrong'}").inc()  # statistics
            return JoinResult(False, {"pin": _pin_error(check)}, 429 if check.blocked else 403, check.wait)
        role = check.role

    meeting = rooms.open_meeting(db.session(), ctx.target)
    me = participants.remember(meeting.id, name, role, ctx.invitation.id if ctx.invitation else None,
                               form.get("media", "av"))
    try:
        # The seat is taken here, atomically in the live state, so the cap holds at the door.
        live_ops.arrive(meeting, me, live_ops.room_cap(ctx.target.alias), returning=True)
    except rules.RoomFull:
        participants.forget(meeting.id)
        REFUSALS.labels(reason="room_full").inc()  # statistics
        log.info("room_full", meeting=meeting.id, role=role)
        return JoinResult(False, status=409, full=True)
    via = "invitation" if ctx.invitation else "staff" if ctx.staff_host else "pin" if pin else "link"
    stats.record_join(meeting, me["pid"], role, via, request.headers.get("User-Agent", ""))  # statistics
    log.info("joined", meeting=meeting.id, role=role, invited=ctx.invitation is not None)
    return JoinResult(True)
