"""Fixed rooms in Management: checking the form, saving, deleting, the join link and its QR code."""
from __future__ import annotations

import io

import segno
from flask import current_app, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session, or_, select

from mvc.manage import audit
from mvc.manage.forms import PIN_RE, Checked, Refused, flag, text
from mvc.meeting import live_ops
from mvc.models import Meeting, MeetingSettings, Room, Theme, User
from mvc.models.room import LAYOUTS
from sqlalchemy.exc import IntegrityError

from mvc.rooms import ALIAS_RE, alias_taken, new_pin

FLAGS = ("chat", "hand_raise", "waiting_room", "guests_may_unmute", "guests_camera", "one_way_video")
FIELDS = ("name", "alias", "host_pin", "guest_pin", "layout", "theme_id", "training", *FLAGS)


def org_rooms(db: Session, organisation_id: int) -> list[Room]:
    """The organisation's rooms by name."""
    return list(db.exec(select(Room).where(Room.organisation_id == organisation_id).order_by(Room.name)))


def theme_choices(db: Session, organisation_id: int) -> list[Theme]:
    """Themes a room of the organisation may use: its own and the neutral default."""
    query = select(Theme).where(or_(Theme.organisation_id == organisation_id, Theme.organisation_id == None))  # noqa: E711
    return list(db.exec(query.order_by(Theme.organisation_id, Theme.name)))


def blank_values() -> dict:
    """Form values for a new room: the model's default settings and a fresh host PIN."""
    defaults = MeetingSettings()
    return {"name": "", "alias": "", "host_pin": new_pin(6), "guest_pin": "", "layout": defaults.layout,
            "theme_id": None, "training": False, **{name: getattr(defaults, name) for name in FLAGS}}


def room_values(room: Room) -> dict:
    """The room as form values."""
    values = {name: getattr(room, name) for name in FIELDS}
    values["guest_pin"] = values["guest_pin"] or ""
    return values


def check(db: Session, organisation_id: int, form, room_id: int | None = None) -> Checked:
    """Clean and check a room form; errors are ready to show next to their fields."""
    v = {"name": " ".join(text(form, "name", 120).split()), "alias": text(form, "alias", 60).lower(),
         "host_pin": text(form, "host_pin", 12), "guest_pin": text(form, "guest_pin", 12),
         "layout": form.get("layout", ""), "training": flag(form, "training"), **{name: flag(form, name) for name in FLAGS}}
    errors: dict[str, str] = {}
    if not v["name"] or len(v["name"]) > 120:
        errors["name"] = _("Give the room a name of at most 120 characters.")
    if not ALIAS_RE.match(v["alias"]):
        errors["alias"] = _("The address must be 2 to 60 small letters, digits or dashes, starting with a letter or digit.")
    elif alias_taken(db, v["alias"], room_id):
        errors["alias"] = _("The address %(alias)s is already in use. Please choose another.", alias=v["alias"])
    if not PIN_RE.match(v["host_pin"]):
        errors["host_pin"] = _("The host PIN must be 4 to 12 digits.")
    if v["guest_pin"] and not PIN_RE.match(v["guest_pin"]):
        errors["guest_pin"] = _("The guest PIN must be 4 to 12 digits, or empty for no guest PIN.")
    elif v["guest_pin"] and v["guest_pin"] == v["host_pin"]:
        errors["guest_pin"] = _("The guest PIN must differ from the host PIN.")
    if v["layout"] not in LAYOUTS:
        errors["layout"] = _("Choose one of the layouts.")
    v["theme_id"] = _theme_id(db, organisation_id, form.get("theme_id", ""), errors)
    return Checked(v, errors)


def _theme_id(db: Session, organisation_id: int, raw: str, errors: dict) -> int | None:
    if not raw:
        return None
    allowed = {t.id for t in theme_choices(db, organisation_id)}
    if not raw.isdigit() or int(raw) not in allowed:
        errors["theme_id"] = _("Choose one of your organisation's themes.")
        return None
    return int(raw)


def save(db: Session, actor: User, room: Room | None, values: dict) -> Room:
    """Create or update a room from checked values, with an audit entry."""
    before = room_values(room) if room else {}
    stored = {**values, "guest_pin": values["guest_pin"] or None}
    if room is None:
        room = Room(organisation_id=actor.organisation_id, owner_id=actor.id, **stored)
    else:
        for key, value in stored.items():
            setattr(room, key, value)
    db.add(room)
    action = "room.update" if before else "room.create"
    audit.record(db, actor, action, f"room {room.alias}", audit.changes(before, values, secret=("host_pin", "guest_pin")))
    try:
        db.commit()
    except IntegrityError as exc:  # another admin took the address between the check and the save
        db.rollback()
        raise Refused({"alias": _("The address %(alias)s is already in use. Please choose another.", alias=values["alias"])}) from exc
    return room


def delete(db: Session, actor: User, room: Room) -> None:
    """Delete a room; its past meetings stay (as history) without the link to it."""
    ended = []
    for meeting in db.exec(select(Meeting).where(Meeting.room_id == room.id)):
        meeting.room_id = None
        if meeting.status == "open":
            meeting.status = "ended"
            ended.append(meeting.id)
        db.add(meeting)
    audit.record(db, actor, "room.delete", f"room {room.alias}", room.name)
    db.flush()
    db.delete(room)
    db.commit()
    for meeting_id in ended:
        live_ops.end(meeting_id)


def join_url(alias: str) -> str:
    """The room's public join link (the configured public URL, else this request's host)."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return base.rstrip("/") + url_for("join.page", alias=alias)


def qr_svg(url: str) -> bytes:
    """A QR code of the URL as an SVG document."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=6, border=2, title=url)
    return out.getvalue()
