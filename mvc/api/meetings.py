"""VDX-shaped meetings over MVC's own bookings: the booking service makes and changes them, this maps fields."""
from __future__ import annotations

import hashlib
import json
import secrets
import uuid as uuidlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mvc.api.schemas import (KEPT, MAPPED, CreateMeeting, Invalid, MeetingFields, MeetingOut, answer, check_times,
                             format_time, parse, parse_time, short_id)
from mvc.booking import forms, service
from mvc.models import ApiClient, ApiMeeting, Meeting, Organisation, User
from mvc.models.base import utcnow
from mvc.rooms import ALIAS_RE, EARLY_ADMIT, alias_taken
from mvc.sms.service import public_url

# A stable uuid for a booking made on the pages, so a lost row is remade with the same value.
NAMESPACE = uuidlib.UUID("5b0c4a52-6a1e-4f53-9f7c-0e6d1f6b8a11")
PLANNERS = ("meeting-planner", "meeting-admin")
FILTERS = ("short-id", "label", "subject", "organizedBy", "search", "from-start-time", "to-start-time", "uriWithDomain")


@dataclass
class Actor:
    """Who the booking service acts for (it reads .id and .organisation_id, as of a staff member):
    the organiser named by organizedByEmail, or nobody (id None) when the client books itself."""

    organisation_id: int
    id: int | None = None


@dataclass
class Caller:
    """The API client behind the current request and the roles its token carries."""

    client: ApiClient
    roles: list[str]

    @property
    def plans(self) -> bool:
        """Planners and admins act on all the organisation's meetings; users only on their own."""
        return any(r in PLANNERS for r in self.roles)

    @property
    def reads_all(self) -> bool:
        """Provisioners also read every meeting of the organisation."""
        return self.plans or "meeting-provisioner" in self.roles

    @property
    def name(self) -> str:
        """How the client appears in createdBy / updatedBy: its client id."""
        return self.client.client_id


class Refused(Exception):
    """A call the caller's role or the meeting's state does not allow: HTTP status, VDX code, text."""

    def __init__(self, status: int, code: int, text: str) -> None:
        super().__init__(text)
        self.status, self.code, self.text = status, code, text


# -- finding meetings --------------------------------------------------------------------------

def _visible(caller: Caller):
    query = select(Meeting, ApiMeeting).join(ApiMeeting, ApiMeeting.meeting_id == Meeting.id).where(
        Meeting.organisation_id == caller.client.organisation_id, Meeting.kind == "booked",
        Meeting.status != "cancelled")
    return query if caller.reads_all else query.where(ApiMeeting.client_pk == caller.client.id)


def adopt_bookings(db: Session, organisation_id: int) -> None:
    """Give bookings made on the pages their API row, so the API sees every booking of the organisation."""
    missing = db.exec(select(Meeting).where(
        Meeting.organisation_id == organisation_id, Meeting.kind == "booked",
        Meeting.id.not_in(select(ApiMeeting.meeting_id)))).all()
    for meeting in missing:
        creator = db.get(User, meeting.created_by_id) if meeting.created_by_id else None
        email = creator.email if creator else ""
        db.add(ApiMeeting(meeting_id=meeting.id, organisation_id=organisation_id,
                          uuid=str(uuidlib.uuid5(NAMESPACE, meeting.alias)), created_by=email, organized_by=email,
                          updated_by=email, updated_at=meeting.created_at))
    if missing:
        try:
            db.commit()
        except IntegrityError:  # another request adopted them at the same moment: same uuids
            db.rollback()


def find(db: Session, caller: Caller, uuid: str) -> tuple[Meeting, ApiMeeting]:
    """The meeting with this uuid if the caller may see it (404 for other organisations, 403 for others' own)."""
    adopt_bookings(db, caller.client.organisation_id)
    row = db.exec(select(Meeting, ApiMeeting).join(ApiMeeting, ApiMeeting.meeting_id == Meeting.id).where(
        ApiMeeting.uuid == uuid.lower()[:36], Meeting.kind == "booked", Meeting.status != "cancelled")).first()
    if row is None or row[0].organisation_id != caller.client.organisation_id:
        raise Refused(404, 404, _("No meeting with this uuid."))
    if not caller.reads_all and row[1].client_pk != caller.client.id:
        raise Refused(403, 403, _("This meeting was not booked by this client."))
    return row


def search(db: Session, caller: Caller, args) -> list[tuple[Meeting, ApiMeeting]]:
    """The meetings matching the first filter given, in VDX order (short-id, label, subject, organizedBy, ...)."""
    adopt_bookings(db, caller.client.organisation_id)
    query = _visible(caller)
    if args.get("short-id"):
        wanted = args["short-id"].lower()[:12]
        chosen = and_(~Meeting.alias.startswith("v-"),  # a chosen address's short id: the uuid's first digits
                      ApiMeeting.uuid.startswith(f"{wanted[:8]}-{wanted[8:]}", autoescape=True))
        query = query.where(or_(Meeting.alias == "v-" + wanted, chosen))
    elif args.get("label"):
        query = query.where(ApiMeeting.labels.contains(json.dumps(args["label"][:100]), autoescape=True))
    elif args.get("subject"):
        query = query.where(Meeting.title.icontains(args["subject"][:100], autoescape=True))
    elif args.get("organizedBy"):
        query = query.where(ApiMeeting.organized_by == args["organizedBy"].lower()[:254])
    elif args.get("search"):
        words = args["search"][:100]
        query = query.where(or_(*(column.icontains(words, autoescape=True) for column in (
            Meeting.title, ApiMeeting.description, ApiMeeting.labels))))
        query = _between(query, args)
    elif args.get("from-start-time") or args.get("to-start-time"):
        query = _between(query, args, required=True)
    elif args.get("uriWithDomain"):
        query = query.where(Meeting.alias == alias_of_uri(args["uriWithDomain"]))
    return list(db.exec(query.order_by(Meeting.starts_at, Meeting.id).limit(500)).all())


def _between(query, args, required: bool = False):
    start, end = args.get("from-start-time"), args.get("to-start-time")
    if not (start or end) and not required:
        return query
    if not (start and end):
        raise Invalid(14, _("Give both from-start-time and to-start-time, or neither."))
    return query.where(Meeting.starts_at >= parse_time(start, "from-start-time"),
                       Meeting.starts_at <= parse_time(end, "to-start-time"))


def domain() -> str:
    """The host part of uriWithDomain: the public host name."""
    return urlsplit(public_url("/")).hostname or "localhost"


def alias_of_uri(uri: str) -> str:
    """The meeting address in alias@domain (other domains match nothing)."""
    alias, _at, host = uri.strip().lower().partition("@")
    return alias if host == domain() else "-"


# -- making and changing -----------------------------------------------------------------------

def request_hash(body: dict) -> str:
    """A fingerprint of a create request, to tell a retry from a different request with the same key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _organiser(db: Session, caller: Caller, email: str | None) -> Actor:
    """Planners may book for an active staff member of the organisation by e-mail; others book as the client."""
    actor = Actor(caller.client.organisation_id)
    if not email:
        return actor
    if not caller.plans:
        raise Refused(403, 403, _("Only a meeting-planner or meeting-admin may use organizedByEmail."))
    user = db.exec(select(User).where(User.email == email.strip().lower(),
                                      User.organisation_id == caller.client.organisation_id)).first()
    if user is None or not user.active:
        # VDX makes a user for any address; in MVC the organiser is a staff member who can host the meeting.
        raise Invalid(18, _("organizedByEmail: no active staff member of the organisation has this e-mail address."))
    actor.id = user.id
    return actor


def _check_external_id(db: Session, organisation_id: int, external_id: str | None, own_id: int | None) -> None:
    if not external_id:
        return
    taken = db.exec(select(ApiMeeting).where(ApiMeeting.organisation_id == organisation_id,
                                             ApiMeeting.external_id == external_id)).first()
    if taken is not None and taken.id != own_id:
        raise Invalid(20, _("Another meeting of the organisation already has this externalId."))


def _address(db: Session, fields: dict, meeting: Meeting | None) -> str | None:
    """The address a client chose with uriWithoutDomain, checked like a room's; None: keep MVC's own.

    It is set when booking and fixed after: invitations and texts already carry it."""
    wanted = (fields.get("uriWithoutDomain") or "").strip().lower()
    if not wanted or (meeting is not None and wanted == meeting.alias):
        return None
    if meeting is not None:
        raise Invalid(24, _("uriWithoutDomain cannot change after booking: the invitations carry the address."))
    if not ALIAS_RE.match(wanted) or wanted.startswith("v-"):
        raise Invalid(23, _("uriWithoutDomain must be 2 to 60 small letters, digits or dashes, starting with a "
                            "letter or digit and not with v- (MVC's own addresses)."))
    if alias_taken(db, wanted):
        raise Invalid(22, _("The address %(alias)s is already in use. Please choose another.", alias=wanted))
    return wanted


def _settings(fields: dict, meeting: Meeting) -> dict:
    """MVC's meeting settings after applying the VDX fields given."""
    options = {name: getattr(meeting, name) for name in forms.OPTIONS} | {"layout": meeting.layout}
    if "guestMicrophone" in fields or "muteAllGuests" in fields:
        options["guests_may_unmute"] = (fields.get("guestMicrophone") or "on") == "on" and not fields.get("muteAllGuests")
    if fields.get("vmrType"):
        options["layout"] = "host_only" if fields["vmrType"] == "lecture" else "tiles"
    if fields.get("guestsCanPresent") is not None:
        options["guests_may_share"] = fields["guestsCanPresent"]
    return options


def _parsed(fields: dict, meeting: Meeting, now) -> forms.Parsed:
    # An empty time is a bad time, not a missing one (schemathesis found the 500 an empty string gave).
    start = parse_time(fields["startTime"], "startTime") if fields.get("startTime") is not None else meeting.starts_at
    end = parse_time(fields["endTime"], "endTime") if fields.get("endTime") is not None else meeting.ends_at
    check_times(start, end, now, start_changed=start != meeting.starts_at)
    parsed = forms.Parsed(title=fields.get("subject") or meeting.title, starts_at=start, ends_at=end,
                          reminders=meeting.reminders)
    parsed.options = _settings(fields, meeting)
    return parsed


def vdx_pin() -> str:
    """A 6-digit PIN without a leading zero: VDX carries PINs as integers."""
    return str(100000 + secrets.randbelow(900000))


def pin_out(pin: str | None) -> int | str | None:
    """A PIN as VDX's integer; one with a leading zero (made on the pages) stays a string so it still works."""
    return int(pin) if pin and not pin.startswith("0") else pin


def _pins(meeting: Meeting, fields: dict, made: bool = False) -> None:
    if made:
        meeting.host_pin = vdx_pin()
        meeting.guest_pin = vdx_pin() if meeting.guest_pin else None
    if fields.get("hostPin") is not None:
        meeting.host_pin = str(fields["hostPin"])
    if fields.get("guestPinRequired") is False:
        meeting.guest_pin = None
    elif fields.get("guestPin") is not None:
        meeting.guest_pin = str(fields["guestPin"])
    elif fields.get("guestPinRequired") and not meeting.guest_pin:
        meeting.guest_pin = vdx_pin()
    if meeting.guest_pin and meeting.guest_pin == meeting.host_pin:
        raise Invalid(15, _("guestPin and hostPin must differ."))


def _store(ext: ApiMeeting, fields: dict, caller: Caller, replace: bool) -> None:
    """Keep what the API remembers: description, externalId, labels, extra information, unhonoured fields."""
    kept = {} if replace else json.loads(ext.kept)
    for name in KEPT + MAPPED:
        if name in fields:
            kept.pop(name, None) if fields[name] is None else kept.__setitem__(name, fields[name])
    ext.kept = json.dumps(kept)
    for name, attr, empty in (("description", "description", ""), ("externalId", "external_id", None)):
        if replace or name in fields:
            setattr(ext, attr, fields.get(name) if fields.get(name) is not None else empty)
    if replace or "labels" in fields:
        ext.labels = json.dumps(fields.get("labels") or [])
    if replace or "additionalInformation" in fields:
        info = fields.get("additionalInformation") or []
        if len({item["key"] for item in info}) != len(info):
            raise Invalid(16, _("Each key in additionalInformation may appear only once."))
        ext.additional_information = json.dumps(info)
    if fields.get("organizedByEmail"):
        ext.organized_by = fields["organizedByEmail"].strip().lower()
    ext.updated_by, ext.updated_at = caller.name, utcnow()


def create(db: Session, caller: Caller, body: dict, idempotency_key: str | None) -> tuple[Meeting, ApiMeeting, bool]:
    """Book a meeting through the booking service; a repeated Idempotency-Key returns the first result."""
    fingerprint = request_hash(body)
    if idempotency_key:
        earlier = _earlier(db, caller, idempotency_key, fingerprint)
        if earlier:
            return (*earlier, False)
    fields = parse(CreateMeeting, body).model_dump(exclude_unset=True)
    _check_external_id(db, caller.client.organisation_id, fields.get("externalId"), None)
    actor = _organiser(db, caller, fields.get("organizedByEmail"))
    address = _address(db, fields, None)
    blank = Meeting(organisation_id=actor.organisation_id, reminders=True)
    parsed = _parsed(fields, blank, utcnow())
    ext = ApiMeeting(meeting_id=0, organisation_id=actor.organisation_id, uuid=str(uuidlib.uuid4()),
                     client_pk=caller.client.id, idempotency_key=idempotency_key, request_hash=fingerprint,
                     created_by=caller.name, organized_by=caller.name)
    _store(ext, fields, caller, replace=True)
    _pins(blank, fields)  # checked before anything is saved
    meeting = service.create_booking(db, actor, parsed).meeting
    _pins(meeting, fields, made=True)
    meeting.alias = address or meeting.alias  # nobody has the fresh random address yet
    db.add(meeting)
    ext.meeting_id = meeting.id
    db.add(ext)
    try:
        db.commit()
    except IntegrityError:  # a rival request with the same key or externalId won the race: undo ours
        db.rollback()
        meeting.status = "cancelled"
        db.add(meeting)
        db.commit()
        earlier = _earlier(db, caller, idempotency_key, fingerprint) if idempotency_key else None
        if earlier:
            return (*earlier, False)
        if address and alias_taken(db, address):
            raise Invalid(22, _("The address %(alias)s is already in use. Please choose another.", alias=address))
        raise Invalid(20, _("Another meeting of the organisation already has this externalId.")) from None
    return meeting, ext, True


def _earlier(db: Session, caller: Caller, key: str, fingerprint: str) -> tuple[Meeting, ApiMeeting] | None:
    ext = db.exec(select(ApiMeeting).where(ApiMeeting.client_pk == caller.client.id,
                                           ApiMeeting.idempotency_key == key)).first()
    if ext is None:
        return None
    if ext.request_hash != fingerprint:
        raise Invalid(21, _("This Idempotency-Key was used before with a different request."))
    return db.get(Meeting, ext.meeting_id), ext


def check_changeable(meeting: Meeting) -> None:
    """Refuse (406) changes to a meeting that has ended."""
    if meeting.status != "open" or meeting.ends_at <= utcnow():
        raise Refused(406, 30, _("The meeting has ended and cannot be changed."))


def update(db: Session, caller: Caller, meeting: Meeting, ext: ApiMeeting, body: dict, replace: bool) -> None:
    """PUT (replace) or PATCH (only the fields present; null clears) through the booking service."""
    check_changeable(meeting)
    fields = parse(CreateMeeting if replace else MeetingFields, body).model_dump(exclude_unset=True)
    for required in ("subject", "startTime", "endTime"):
        if required in fields and fields[required] is None:
            raise Invalid(10, _("The field %(field)s is required.", field=required))
    _check_external_id(db, meeting.organisation_id, fields.get("externalId"), ext.id)
    actor = _organiser(db, caller, fields.get("organizedByEmail"))
    _address(db, fields, meeting)
    parsed = _parsed(fields, meeting, utcnow())
    _store(ext, fields, caller, replace)
    _pins(meeting, fields)
    if actor.id is not None:
        meeting.created_by_id = actor.id  # the meeting is now the named staff member's
    db.add(ext)
    service.update_booking(db, meeting, actor, parsed, set())


def delete(db: Session, caller: Caller, meeting: Meeting) -> None:
    """Cancel through the booking service: the links stop working and invitees are told."""
    service.cancel_booking(db, meeting, Actor(caller.client.organisation_id))


# -- answers -----------------------------------------------------------------------------------

def _person(org: Organisation, email: str) -> dict:
    return {"organisationId": org.slug, "email": email}


def reported(meeting: Meeting, kept: dict) -> dict:
    """The mapped VDX fields: as given when they still describe the meeting's settings, else derived."""
    unmute = meeting.guests_may_unmute
    mic = kept.get("guestMicrophone")
    mute_all = kept.get("muteAllGuests")
    vmr = kept.get("vmrType")
    return {
        "guestMicrophone": mic if mic and (mic == "on") == unmute else ("on" if unmute else "off"),
        "muteAllGuests": mute_all if mute_all is not None and (not mute_all or not unmute) else not unmute,
        "vmrType": vmr if vmr and (vmr == "lecture") == (meeting.layout == "host_only") else (
            "lecture" if meeting.layout == "host_only" else "conference"),
        "guestsCanPresent": meeting.guests_may_share,
        "guestPinRequired": meeting.guest_pin is not None,
    }


def to_json(db: Session, meeting: Meeting, ext: ApiMeeting, url_for) -> dict:
    """A meeting in VDX's shape, scheduling details included."""
    org = db.get(Organisation, meeting.organisation_id)
    kept = json.loads(ext.kept)
    link = public_url(f"/m/{meeting.alias}")
    return answer(MeetingOut, {
        "uuid": ext.uuid, "shortId": short_id(meeting.alias, ext.uuid), "shortLink": link, "shortlink": link,
        "subject": meeting.title, "description": ext.description,
        "startTime": format_time(meeting.starts_at), "endTime": format_time(meeting.ends_at),
        "createdBy": _person(org, ext.created_by), "updatedBy": _person(org, ext.updated_by or ext.created_by),
        "organizedBy": _person(org, ext.organized_by or ext.created_by),
        "createdTime": format_time(meeting.created_at), "updatedTime": format_time(ext.updated_at),
        "externalId": ext.external_id, "labels": json.loads(ext.labels),
        "additionalInformation": json.loads(ext.additional_information),
        **scheduling(meeting, ext),
        **{name: value for name, value in kept.items() if name in KEPT},
        **reported(meeting, kept),
        "_links": {"self": {"href": url_for("api.meeting", uuid=ext.uuid, _external=True)},
                   "scheduling-info": {"href": url_for("api.scheduling_info", uuid=ext.uuid, _external=True)}},
    })


def scheduling(meeting: Meeting, ext: ApiMeeting) -> dict:
    """Scheduling details: PINs, the address and the links."""
    link = public_url(f"/m/{meeting.alias}")
    return {"uuid": ext.uuid, "hostPin": pin_out(meeting.host_pin), "guestPin": pin_out(meeting.guest_pin),
            "uriWithDomain": f"{meeting.alias}@{domain()}", "uriWithoutDomain": meeting.alias,
            "portalLink": link, "shortLink": link, "provisionStatus": "PROVISIONED_OK",
            "vmrStartTime": format_time(meeting.starts_at - EARLY_ADMIT)}
