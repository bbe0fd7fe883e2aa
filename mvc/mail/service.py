"""E-mailing invitees: the invitation, a change or a cancellation, each with the invitee's calendar file."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlmodel import Session, select

from mvc import logs
from mvc.booking import calendar
from mvc.models import MailMessage
from mvc.mail.senders import MailSender, make_sender
from mvc.models import Invitation, Meeting, Organisation
from mvc.models.base import utcnow
from mvc.sms import service as sms, texts
from mvc.sms.senders import Outcome

log = logs.get("mvc.mail")


def init_app(app: Flask, sender: MailSender | None = None) -> None:
    """Bind the e-mail backend (a test can hand in its own)."""
    app.extensions["mvc.mail"] = sender or make_sender(app.config)


def sender() -> MailSender:
    """The app's e-mail backend."""
    return current_app.extensions["mvc.mail"]


def mask(address: str | None) -> str:
    """An address safe for logs: first letters and the top-level domain only (k***@e***.dk)."""
    if not address or "@" not in address:
        return ""
    local, _at, domain = address.rpartition("@")
    name, _dot, tld = domain.rpartition(".")
    return f"{local[:1]}***@{(name or tld)[:1]}***{'.' + tld if name else ''}"


def compose(purpose: str, org: str, link: str, locale: str, when) -> tuple[str, str]:
    """Subject and body for one purpose (invite, update, cancel): organisation, time and link, never a title."""
    sentence = texts.compose(purpose, org, link, locale, when)
    with force_locale(locale if locale in ("da", "en") else "da"):
        if purpose == "cancel":
            return (_("Cancelled: video meeting with %(org)s", org=org),
                    sentence + "\n\n" + _("The attached calendar file removes the meeting from your calendar."))
        subject = (_("Changed: video meeting with %(org)s", org=org) if purpose == "update"
                   else _("Video meeting with %(org)s", org=org))
        return subject, sentence + "\n\n" + _("The attached calendar file puts the meeting in your calendar.")


def build(msg: MailMessage, org: Organisation, ics: bytes, method: str) -> EmailMessage:
    """The MIME message: plain text and the calendar file as text/calendar with its method."""
    from_address = calendar.sender_address()
    message = EmailMessage()
    message["Subject"] = msg.subject
    message["From"] = formataddr((org.name, from_address))
    message["To"] = msg.to
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2])
    message.set_content(msg.body)
    message.add_attachment(ics, maintype="text", subtype="calendar", filename="meeting.ics",
                           params={"method": method, "charset": "utf-8"})
    return message


def mail_invitation(db: Session, invitation: Invitation, meeting: Meeting, purpose: str) -> MailMessage | None:
    """E-mail one invitee (invite, update, cancel) with their own link and calendar file; a failure is recorded."""
    if not invitation.email or meeting.kind != "booked":
        return None
    org = db.get(Organisation, meeting.organisation_id)
    backend = sender()
    subject, body = compose(purpose, org.name, sms.invite_link(invitation, meeting), invitation.locale,
                            meeting.starts_at)
    msg = MailMessage(meeting_id=meeting.id, invitation_id=invitation.id, purpose=purpose, to=invitation.email,
                      subject=subject[:200], body=body[:2000], backend=backend.name)
    db.add(msg)
    db.commit()
    try:
        method = calendar.method_for(meeting, invitation)
        outcome = backend.send(build(msg, org, calendar.invitation_ics(db, meeting, invitation), method))
    except Exception as exc:  # noqa: BLE001 - an e-mail must never break the booking it belongs to
        outcome = Outcome("failed", error=type(exc).__name__)
    msg.status, msg.error = outcome.status, outcome.error[:200]
    db.add(msg)
    db.commit()
    event = {"outbox": "mail_outbox", "sent": "mail_sent"}.get(msg.status, "mail_failed")
    (log.warning if msg.status == "failed" else log.info)(
        event, message=msg.id, meeting=meeting.id, purpose=purpose, to=mask(msg.to), error=msg.error)
    return msg


def mail_invitations(db: Session, invitations: list[Invitation], meeting: Meeting, purpose: str) -> list[MailMessage]:
    """E-mail each invitee with an address."""
    return [m for m in (mail_invitation(db, inv, meeting, purpose) for inv in invitations) if m]


def latest_for(db: Session, invitation_ids: list[int]) -> dict[int, MailMessage]:
    """The newest e-mail per invitation."""
    if not invitation_ids:
        return {}
    rows = db.exec(select(MailMessage).where(MailMessage.invitation_id.in_(invitation_ids))
                   .order_by(MailMessage.id)).all()
    return {row.invitation_id: row for row in rows}


def status_label(msg: MailMessage | None) -> str:
    """A short phrase for where an e-mail is."""
    if msg is None:
        return _("No e-mail")
    return {"outbox": _("E-mail kept in the outbox (not sent)"), "sent": _("E-mail sent"),
            "failed": _("The e-mail could not be sent")}.get(msg.status, _("Sending e-mail"))
