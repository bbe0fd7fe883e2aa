"""Sending texts: record each one, retry temporary failures, and follow delivery reports."""
from __future__ import annotations

import time
from urllib.parse import urlencode

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlmodel import Session, select

from mvc import logs
from mvc.models import Invitation, Meeting, Organisation, SmsMessage, Theme
from mvc.models.base import utcnow
from mvc.models.sms import FINAL_STATES
from mvc.security import make_invite_token
from mvc.sms import limits, texts
from mvc.sms.phones import mask
from mvc.sms.senders import SmsSender, make_sender

log = logs.get("mvc.sms")
# Twilio's statuses in the order a message moves through them; a report never moves a message back.
RANK = {"queued": 0, "outbox": 0, "accepted": 1, "scheduled": 1, "sending": 1, "sent": 2, "delivered": 3,
        "undelivered": 3, "failed": 3, "read": 3}
PERMANENT_TEXT = {21211: "invalid", 21614: "not_mobile", 21610: "opted_out", 21408: "region", 21612: "region"}


def init_app(app: Flask, sender: SmsSender | None = None) -> None:
    """Bind the SMS backend (a test can hand in its own)."""
    app.extensions["mvc.sms"] = sender or make_sender(app.config)


def sender() -> SmsSender:
    """The app's SMS backend."""
    return current_app.extensions["mvc.sms"]


def public_url(path: str) -> str:
    """An absolute URL for a path, from MVC_PUBLIC_URL (the request's host when unset)."""
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    if not base:
        from flask import has_request_context, request

        base = request.host_url.rstrip("/") if has_request_context() else "http://127.0.0.1:8000"
    return base + path


def invite_link(invitation: Invitation, meeting: Meeting) -> str:
    """The invitee's own signed join link."""
    # Built by hand, not url_for: the reminder thread has no request to build URLs from.
    return public_url(f"/m/{meeting.alias}?{urlencode({'t': make_invite_token(invitation.id, meeting.id)})}")


def sender_name(db: Session, organisation: Organisation) -> str:
    """The organisation's SMS sender name (alphanumeric sender id), or '' for the default number."""
    theme = db.get(Theme, organisation.default_theme_id) if organisation.default_theme_id else None
    return theme.sms_sender if theme else ""


def deliver(db: Session, organisation: Organisation, to: str, body: str, *, purpose: str,
            meeting_id: int | None = None, invitation_id: int | None = None, reminder_id: int | None = None,
            user_id: int | None = None) -> SmsMessage:
    """Record a text, send it (retrying temporary failures with backoff) and return its row."""
    backend = sender()
    msg = SmsMessage(organisation_id=organisation.id, meeting_id=meeting_id, invitation_id=invitation_id,
                     reminder_id=reminder_id, created_by_id=user_id, purpose=purpose, to=to, body=body,
                     sender=sender_name(db, organisation), backend=backend.name)
    db.add(msg)
    db.commit()
    callback = None
    if backend.name == "twilio" and current_app.config["PUBLIC_URL"]:
        callback = public_url(f"/sms/status/{msg.id}")
    attempts, delay = current_app.config["SMS_ATTEMPTS"], current_app.config["SMS_RETRY_SECONDS"]
    for attempt in range(1, attempts + 1):
        outcome = backend.send(to, body, msg.sender, callback)
        msg.attempts = attempt
        if outcome.status != "failed" or not outcome.transient or attempt == attempts:
            break
        log.warning("sms_retry", message=msg.id, to=mask(to), attempt=attempt, error=outcome.error,
                    code=outcome.error_code)
        time.sleep(delay * 2 ** (attempt - 1))
    msg.status, msg.provider_sid = outcome.status, outcome.provider_sid
    msg.error_code, msg.error = outcome.error_code, outcome.error[:200]
    msg.updated_at = utcnow()
    db.add(msg)
    _webhook(db, msg)
    db.commit()
    limits.record(organisation.id, to, user_id)
    event = {"outbox": "sms_outbox", "sent": "sms_sent"}.get(msg.status, "sms_failed")
    (log.warning if msg.status == "failed" else log.info)(
        event, message=msg.id, meeting=meeting_id, purpose=purpose, to=mask(to), attempts=msg.attempts,
        code=msg.error_code, error=msg.error)
    return msg


def text_invitation(db: Session, invitation: Invitation, meeting: Meeting, purpose: str,
                    user_id: int | None = None) -> SmsMessage | None:
    """Send one invitee the text for purpose (invite, forward, update, cancel, reminder)."""
    if not invitation.phone:
        return None
    org = db.get(Organisation, meeting.organisation_id)
    when = meeting.starts_at if meeting.kind == "booked" else None
    body = texts.compose(purpose, org.name, invite_link(invitation, meeting), invitation.locale, when)
    return deliver(db, org, invitation.phone, body, purpose=purpose, meeting_id=meeting.id,
                   invitation_id=invitation.id, user_id=user_id)


def text_invitations(db: Session, invitations: list[Invitation], meeting: Meeting, purpose: str,
                     user_id: int | None) -> list[SmsMessage]:
    """Check the limits for the whole batch (LimitReached), then text each invitee with a number."""
    with_phone = [inv for inv in invitations if inv.phone]
    limits.check(db, meeting.organisation_id, [inv.phone for inv in with_phone], user_id)
    return [text_invitation(db, inv, meeting, purpose, user_id) for inv in with_phone]


def problem_text(msg: SmsMessage) -> str:
    """Why a text failed, in words a host can act on."""
    kind = PERMANENT_TEXT.get(msg.error_code)
    if kind in ("invalid", "not_mobile"):
        return _("The text service says this is not a valid mobile number.")
    if kind == "opted_out":
        return _("The person has blocked text messages from this sender.")
    if kind == "region":
        return _("Text messages cannot be sent to this country.")
    if msg.error == "timeout":
        return _("The text service did not answer in time. We tried %(num)d times.", num=msg.attempts)
    if msg.status in ("failed", "undelivered"):
        return _("The text could not be delivered. Please check the number or try again later.")
    return ""


def status_label(msg: SmsMessage | None) -> str:
    """A short word for where a text is."""
    if msg is None:
        return _("No text message")
    return {"queued": _("Sending"), "outbox": _("Kept in the outbox (not sent)"), "sent": _("Sent"),
            "delivered": _("Delivered"), "undelivered": _("Not delivered"), "failed": _("Failed")}.get(
        msg.status, msg.status)


def apply_report(db: Session, msg: SmsMessage, status: str, error_code: int | None) -> bool:
    """Apply a delivery report once: repeats and late, older reports change nothing."""
    if msg.status in FINAL_STATES or RANK.get(status, -1) <= RANK.get(msg.status, 0):
        return False
    msg.status = {"accepted": "sent", "scheduled": "sent", "sending": "sent", "read": "delivered"}.get(status, status)
    if error_code:
        msg.error_code = error_code
    msg.updated_at = utcnow()
    db.add(msg)
    _webhook(db, msg)
    db.commit()
    log.info("sms_status", message=msg.id, status=msg.status, code=error_code)
    return True


def _webhook(db: Session, msg: SmsMessage) -> None:
    """sms.delivered / sms.failed for API clients, in the same transaction as the status."""
    from mvc.api import webhooks

    webhooks.sms_outcome(db, msg)


def latest_for(db: Session, invitation_ids: list[int]) -> dict[int, SmsMessage]:
    """The newest text per invitation."""
    if not invitation_ids:
        return {}
    rows = db.exec(select(SmsMessage).where(SmsMessage.invitation_id.in_(invitation_ids))
                   .order_by(SmsMessage.id)).all()
    return {row.invitation_id: row for row in rows}
