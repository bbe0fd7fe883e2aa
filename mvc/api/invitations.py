"""Invitations over the API: the booking pages' own invitation, SMS and e-mail code, limits included."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlmodel import Session

from mvc import rooms
from mvc.api.meetings import Actor, Refused
from mvc.api.schemas import Invalid, InvitationOut, InvitationsIn, answer
from mvc.booking import service
from mvc.booking.forms import PersonIn
from mvc.mail import service as mail
from mvc.models import Invitation, Meeting
from mvc.sms import service as sms
from mvc.sms.phones import error_text, parse_mobile


def people(body: InvitationsIn) -> list[PersonIn]:
    """Checked invitees; with send=false their number and address are not kept, so MVC never contacts them."""
    found = []
    for i, item in enumerate(body.invitees):
        name = ""
        if item.name.strip():
            name, problem = rooms.clean_name(item.name)
            if problem:
                raise Invalid(10, _("invitees.%(num)d.name: please use a shorter name with letters and spaces only.",
                                    num=i))
        phone = None
        if item.mobile:
            phone, problem = parse_mobile(item.mobile)
            if problem:
                raise Invalid(10, f"invitees.{i}.mobile: {error_text(problem)}")
        email = (item.email or "").strip() or None
        if email and ("@" not in email.strip("@") or " " in email):
            raise Invalid(10, _("invitees.%(num)d.email: this is not an e-mail address.", num=i))
        if body.send and not (phone or email):
            raise Invalid(10, _("invitees.%(num)d: give a mobile number or an e-mail address, or send=false.", num=i))
        found.append(PersonIn(name, phone if body.send else None, email if body.send else None, locale=item.language,
                              reminder=item.reminder and body.send, may_forward=item.mayForward))
    return found


def invite(db: Session, meeting: Meeting, body: InvitationsIn) -> list[Invitation]:
    """Add the invitees and send their texts and e-mails as the booking pages do (LimitReached first)."""
    organiser = Actor(meeting.organisation_id, meeting.created_by_id)  # a staff organiser's own SMS limit applies
    return service.add_invitees(db, meeting, organiser, people(body)).invitations


def to_json(db: Session, meeting: Meeting, invitations: list[Invitation]) -> list[dict]:
    """Each invitee's own link and how their text and e-mail went."""
    ids = [inv.id for inv in invitations]
    texts, mails = sms.latest_for(db, ids), mail.latest_for(db, ids)
    return [answer(InvitationOut, {
        "id": inv.id, "name": inv.name, "mobile": inv.phone, "email": inv.email, "language": inv.locale,
        "reminder": not inv.reminder_opt_out and bool(inv.phone), "mayForward": inv.may_forward and meeting.allow_forward,
        "forwardedFrom": inv.forwarded_from_id, "link": sms.invite_link(inv, meeting),
        "smsStatus": texts[inv.id].status if inv.id in texts else None,
        "smsError": sms.problem_text(texts[inv.id]) or None if inv.id in texts else None,
        "emailStatus": mails[inv.id].status if inv.id in mails else None,
    }) for inv in invitations]


def link_for(db: Session, meeting: Meeting, invitation_id: int | None, receiver_name: str) -> str:
    """The join link of one of the meeting's invitees, or of a new link-only invitee for the receiver."""
    if invitation_id is None:
        made = service.add_invitees(db, meeting, Actor(meeting.organisation_id),
                                    [PersonIn(receiver_name[:80], None, None, may_forward=False)])
        return sms.invite_link(made.invitations[0], meeting)
    inv = db.get(Invitation, invitation_id)
    if inv is None or inv.meeting_id != meeting.id or inv.revoked:
        raise Refused(404, 404, _("No invitation with this id in the meeting."))
    return sms.invite_link(inv, meeting)
