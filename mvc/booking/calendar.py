"""Calendar files (ICS) per invitee: time, organisation and link; never the title or a reason."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from icalendar import Calendar, Event, vCalAddress, vText
from sqlmodel import Session

from mvc.models import Invitation, Meeting, Organisation
from mvc.models.base import utcnow
from mvc.sms import service as sms


def uid_for(meeting: Meeting, invitation: Invitation) -> str:
    """The event's UID: the same for every version of the invitee's event, so calendars update it."""
    host = urlsplit(sms.public_url("/")).hostname or "mvc.local"
    return f"mvc-{meeting.id}-{invitation.id}@{host}"


def method_for(meeting: Meeting, invitation: Invitation) -> str:
    """CANCEL once the meeting is cancelled or the invitee removed, else REQUEST."""
    return "CANCEL" if meeting.status == "cancelled" or invitation.revoked else "REQUEST"


def sender_address() -> str:
    """The address e-mails come from and calendar files name as organiser (MVC_MAIL_FROM, else noreply@host)."""
    return current_app.config.get("MAIL_FROM") or f"noreply@{urlsplit(sms.public_url('/')).hostname or 'mvc.local'}"


def invitation_ics(db: Session, meeting: Meeting, invitation: Invitation) -> bytes:
    """METHOD:REQUEST for a booked meeting, METHOD:CANCEL once it is cancelled or the invitee removed."""
    org = db.get(Organisation, meeting.organisation_id)
    method = method_for(meeting, invitation)
    cancelled = method == "CANCEL"
    link = sms.invite_link(invitation, meeting)
    cal = Calendar()
    cal.add("prodid", "-//MVC//Video meeting//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", uid_for(meeting, invitation))
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", utcnow())
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.ends_at)
    with force_locale(invitation.locale):
        event.add("summary", _("Video meeting with %(org)s", org=org.name))
        event.add("description", _("Join the video meeting here: %(link)s", link=link))
    event.add("url", link)
    event.add("location", link)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{sender_address()}")
    organizer.params["cn"] = vText(org.name)
    event.add("organizer", organizer)
    if invitation.email:
        attendee = vCalAddress(f"mailto:{invitation.email}")
        attendee.params["cn"] = vText(invitation.name or invitation.email)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical()
