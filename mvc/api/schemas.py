"""What the API accepts, checked by pydantic: VDX field names, strict types, no unknown fields."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mvc.booking.forms import MAX_HOURS, MAX_PEOPLE
from mvc.models.org import GLN_PATTERN, SOR_PATTERN
from mvc.models.webhook import EVENT_TYPES

# yyyy-MM-dd'T'HH:mm:ssXXX; a fraction of a second is allowed and ignored, as in VDX.
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
GRACE = timedelta(minutes=5)  # a start this far in the past still counts as now

Text = lambda n: Annotated[str, StringConstraints(max_length=n)]  # noqa: E731 - a type shorthand
Pin = Annotated[int, Field(ge=1000, le=999999999)]


class Strict(BaseModel):
    """Unknown fields and loose types are errors, never guessed at."""

    model_config = ConfigDict(extra="forbid", strict=True)


class KeyValue(Strict):
    key: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    value: Text(500)


class Kept(Strict):
    """VDX fields MVC accepts, stores and reports back unchanged: it has nothing to do with them."""

    projectCode: Text(100) | None = None
    maxParticipants: Annotated[int, Field(ge=0, le=100000)] | None = None
    endMeetingOnEndTime: bool | None = None
    schedulingTemplateId: Annotated[int, Field(ge=0)] | None = None
    meetingType: Text(50) | None = None
    hostView: Text(50) | None = None
    guestView: Text(50) | None = None
    vmrQuality: Text(20) | None = None
    enableOverlayText: bool | None = None
    forcePresenterIntoMain: bool | None = None
    forceEncryption: bool | None = None
    callType: Text(100) | None = None


class MeetingFields(Kept):
    """Every field of create-meeting; all optional here (PATCH: null clears), the create/PUT model requires three."""

    subject: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    startTime: Text(40) | None = None
    endTime: Text(40) | None = None
    description: Text(500) | None = None
    organizedByEmail: Text(254) | None = None
    externalId: Text(200) | None = None
    labels: Annotated[list[Text(100)], Field(max_length=50)] | None = None
    additionalInformation: Annotated[list[KeyValue], Field(max_length=50)] | None = None
    guestMicrophone: Literal["on", "off", "muted"] | None = None
    guestPinRequired: bool | None = None
    guestPin: Pin | None = None
    hostPin: Pin | None = None
    vmrType: Literal["conference", "lecture"] | None = None
    muteAllGuests: bool | None = None
    guestsCanPresent: bool | None = None
    uriWithoutDomain: Text(100) | None = None  # the meeting's address, chosen at booking (then fixed)


KEPT = tuple(Kept.model_fields)
# Mapped onto MVC's meeting settings, and also kept so they are reported back as given.
MAPPED = ("guestMicrophone", "vmrType", "muteAllGuests", "guestsCanPresent", "guestPinRequired")


class CreateMeeting(MeetingFields):
    """POST and PUT: subject, startTime and endTime are required."""

    subject: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    startTime: Text(40)
    endTime: Text(40)


class InviteeIn(Strict):
    name: Text(80) = ""
    mobile: Text(30) | None = None
    email: Text(254) | None = None
    language: Literal["da", "en"] = "da"
    reminder: bool = True
    mayForward: bool = False


class InvitationsIn(Strict):
    """POST /v2/meetings/{uuid}/invitations; send=false gives links only, no SMS or e-mail."""

    invitees: Annotated[list[InviteeIn], Field(min_length=1, max_length=MAX_PEOPLE)]
    send: bool = True


# -- answers (the OpenAPI document is generated from these and the request models) --------------

class Person(Strict):
    organisationId: str
    email: str


class Link(Strict):
    href: str


class Links(Strict):
    self: Link
    scheduling_info: Link = Field(alias="scheduling-info")


class SchedulingOut(Strict):
    """Scheduling details: PINs (integers; a page-made PIN with a leading zero stays a string), address, links."""

    uuid: str
    hostPin: int | str | None
    guestPin: int | str | None
    uriWithDomain: str
    uriWithoutDomain: str
    portalLink: str
    shortLink: str
    provisionStatus: Literal["PROVISIONED_OK"]
    vmrStartTime: str


class MeetingOut(SchedulingOut, Kept):
    """A meeting in VDX's shape."""

    shortId: Annotated[str, StringConstraints(min_length=12, max_length=12)]
    shortlink: str
    subject: str
    description: str
    startTime: str
    endTime: str
    createdBy: Person
    updatedBy: Person
    organizedBy: Person
    createdTime: str
    updatedTime: str
    externalId: str | None
    labels: list[str]
    additionalInformation: list[KeyValue]
    guestMicrophone: Literal["on", "off", "muted"]
    muteAllGuests: bool
    vmrType: Literal["conference", "lecture"]
    guestsCanPresent: bool
    guestPinRequired: bool
    links: Links = Field(alias="_links")


class InvitationOut(Strict):
    """One invitee: their own link and how their text and e-mail went."""

    id: int
    name: str
    mobile: str | None
    email: str | None
    language: str
    reminder: bool
    mayForward: bool
    forwardedFrom: int | None
    link: str
    smsStatus: str | None
    smsError: str | None
    emailStatus: str | None


class InfoItem(Strict):
    key: str
    value: dict


class InfoOut(Strict):
    info: list[InfoItem]


class ErrorOut(Strict):
    """VDX's error body."""

    errorCode: int
    errorText: str


def answer(model: type[Strict], data: dict) -> dict:
    """Data checked against its answer model (so answers always match the OpenAPI document)."""
    return model.model_validate(data).model_dump(by_alias=True, exclude_unset=True)


Sor = Annotated[str, StringConstraints(pattern=SOR_PATTERN)]
Gln = Annotated[str, StringConstraints(pattern=GLN_PATTERN)]


class Party(Strict):
    """An organisation in the message: its SOR code and GLN (EAN) number."""

    sor: Sor
    gln: Gln
    name: Text(120) = ""


class Sender(Strict):
    """The sending organisation: SOR and GLN as given, else the organisation's own settings."""

    sor: Sor | None = None
    gln: Gln | None = None
    name: Text(120) = ""


class CareCommunicationIn(Strict):
    """POST /v2/meetings/{uuid}/care-communication: the CPR number is used for the message only, never stored."""

    cpr: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}-?[0-9]{4}$")]
    patientName: Text(120) = ""
    sender: Sender = Field(default_factory=Sender)
    receiver: Party
    invitationId: int | None = None  # whose link to send; none: a new link for the receiver
    text: Text(2000) = ""


class FhirBundle(BaseModel):
    """A FHIR R4 message Bundle (checked in full by fhir.resources)."""

    model_config = ConfigDict(extra="allow")
    resourceType: Literal["Bundle"]
    type: Literal["message"]
    entry: list[dict]


# -- webhooks (issue 11 item 4) ---------------------------------------------------------------------

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type] - a tuple in Literal lists its values


class WebhookIn(Strict):
    """POST /v2/webhooks: an https address and the events it wants (none listed: all)."""

    url: Annotated[str, StringConstraints(min_length=8, max_length=500)]
    events: Annotated[list[EventType], Field(max_length=6)] = []


class WebhookOut(Strict):
    """A registered endpoint; the signing secret (whsec_...) only in the answer to its registration."""

    id: int
    url: str
    events: list[EventType]
    createdTime: str
    secret: str | None = None


class EventMeeting(Strict):
    """The meeting an event is about; subject only for meeting-planner and meeting-admin."""

    uuid: str
    shortId: str
    startTime: str | None
    endTime: str | None
    subject: str | None = None


class EventParticipant(Strict):
    """Who joined or left: ids, and the name only for meeting-planner and meeting-admin."""

    pid: str
    role: str
    invitationId: int | None
    name: str | None = None


class EventSms(Strict):
    """How a text about the meeting went (never the number)."""

    id: int
    invitationId: int | None
    purpose: str
    status: Literal["delivered", "undelivered", "failed"]
    errorCode: int | None


class EventData(Strict):
    meeting: EventMeeting
    participant: EventParticipant | None = None
    reason: Literal["left", "removed"] | None = None
    endedTime: str | None = None
    sms: EventSms | None = None


class WebhookEvent(Strict):
    """The body MVC posts to a webhook endpoint (Standard Webhooks: type, timestamp, data)."""

    type: EventType
    timestamp: str
    data: EventData


class Invalid(Exception):
    """Input that breaks a rule: a VDX error code and a plain text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def parse(model: type[Strict], data) -> Strict:
    """The checked model, or Invalid naming the first field that is wrong."""
    if not isinstance(data, dict):
        raise Invalid(10, _("The request body must be a JSON object."))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid(10, describe(exc.errors()[0])) from None


def describe(error: dict) -> str:
    """One pydantic error in plain words."""
    field = ".".join(str(p) for p in error["loc"]) or "body"
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return _("The field %(field)s is required.", field=field)
    if kind == "extra_forbidden":
        return _("Unknown field %(field)s.", field=field)
    if kind in ("string_too_long", "too_long"):
        return _("The field %(field)s is too long (at most %(num)s).", field=field, num=ctx.get("max_length", "?"))
    if kind in ("string_too_short", "too_short"):
        return _("The field %(field)s must not be empty.", field=field)
    if kind == "literal_error":
        return _("The field %(field)s must be one of %(allowed)s.", field=field, allowed=ctx.get("expected", ""))
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return _("The field %(field)s has the wrong type.", field=field)
    return _("The field %(field)s is not valid.", field=field)


def parse_time(value: str, field: str) -> datetime:
    """A yyyy-MM-dd'T'HH:mm:ssXXX time as aware UTC (seconds kept, fraction dropped)."""
    if not TIME_RE.match(value or ""):
        raise Invalid(11, _("The field %(field)s must be a time like 2026-12-01T09:30:00+01:00.", field=field))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(11, _("The field %(field)s is not a real date and time.", field=field)) from None
    return moment.replace(microsecond=0).astimezone(timezone.utc)


def check_times(start: datetime, end: datetime, now: datetime, start_changed: bool = True) -> None:
    """End after start, at most MAX_HOURS long, and not starting in the past beyond a small grace."""
    if end <= start:
        raise Invalid(12, _("endTime must be after startTime."))
    if end - start > timedelta(hours=MAX_HOURS):
        raise Invalid(12, _("A meeting can last at most %(num)d hours.", num=MAX_HOURS))
    if start_changed and start < now - GRACE:
        raise Invalid(13, _("startTime has already passed."))
    if end < now:
        raise Invalid(13, _("endTime has already passed."))


def short_id(alias: str, uuid: str) -> str:
    """VDX's 12-character short id: the random part of an address MVC made (v-...), else the uuid's first 12 digits."""
    return alias[2:] if alias.startswith("v-") else uuid.replace("-", "")[:12]


def format_time(moment: datetime | None) -> str | None:
    """yyyy-MM-dd'T'HH:mm:ssXXX in UTC (Z)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
