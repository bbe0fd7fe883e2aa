"""Calendar files (ICS) per invitee: time, organisation and link; never the title or a reason."""
from __future__ import annotations

from urllib.parse import urlsplit

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


def invitation_ics(db: Session, meeting: Meeting, invitation: Invitation) -> bytes:
    """METHOD:REQUEST for a booked meeting, METHOD:CANCEL once it is cancelled or the invitee removed."""
    org = db.get(Organisation, meeting.organisation_id)
    cancelled = meeting.status == "cancelled" or invitation.revoked
    link = sms.invite_link(invitation, meeting)
    cal = Calendar()
    cal.add("prodid", "-//MVC//Video meeting//EN")
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if cancelled else "REQUEST")
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
    host = urlsplit(sms.public_url("/")).hostname or "mvc.local"
    organizer = vCalAddress(f"mailto:noreply@{host}")
    organizer.params["cn"] = vText(org.name)
    event.add("organizer", organizer)
    if invitation.email:
        attendee = vCalAddress(f"mailto:{invitation.email}")
        attendee.params["cn"] = vText(invitation.name or invitation.email)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical()
