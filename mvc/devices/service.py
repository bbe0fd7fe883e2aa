"""Registered devices: codes and credentials, calls into meetings, and who may join what."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update
from sqlmodel import Session, select

from mvc import logs, security
from mvc.manage import audit
from mvc.live import state as rules
from mvc.meeting import live_ops
from mvc.models import Invitation, Meeting, Organisation, User
from mvc.models.base import utcnow
from mvc.models.device import Device, DeviceCall

log = logs.get("mvc.devices")
# No look-alikes: no 0/O, 1/I/L, 2/Z, 5/S, 8/B; easy to read aloud and type on a tablet.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 8
ONLINE_GRACE = timedelta(seconds=60)  # a socket refreshes last_seen_at well within this
NAME_MAX, NOTE_MAX = 80, 200


# Codes and credentials ------------------------------------------------------------------


def digest(value: str) -> str:
    """The stored form of a code or credential (keyed, so a leaked table cannot be tested offline)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    """A fresh provisioning code of CODE_LENGTH characters from ALPHABET."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown_code(code: str) -> str:
    """The code as shown to staff: two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def normalise_code(raw: str | None) -> str:
    """What a person typed, without spaces or dashes, upper case."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())[:40]


Actor = User | str | None  # a staff member, an API client (its audit label), or None: the device itself


def _staff_id(actor: Actor) -> int | None:
    return actor.id if isinstance(actor, User) else None


def _audit(db: Session, org_id: int | None, action: str, subject: str, detail: str = "",
           actor: Actor = None) -> None:
    """An audit entry by a staff member, an API client or, without either, by the device itself."""
    who = actor.email if isinstance(actor, User) else actor or "device"
    audit.record_as(db, who, _staff_id(actor), org_id, action, subject, detail)


def _fresh_code(db: Session, device: Device) -> str:
    code = new_code()
    device.code_hash = digest(code)
    device.code_expires_at = utcnow() + timedelta(minutes=current_app.config["DEVICE_CODE_MINUTES"])
    db.add(device)
    return code


def clean(name: str | None, note: str | None) -> tuple[str, str, dict]:
    """The trimmed name and note, and errors keyed by field (message ids)."""
    name, note = " ".join((name or "").split()), " ".join((note or "").split())
    errors = {}
    if not name:
        errors["name"] = "name_missing"
    elif len(name) > NAME_MAX:
        errors["name"] = "name_long"
    if len(note) > NOTE_MAX:
        errors["note"] = "note_long"
    return name, note, errors


def register(db: Session, user: Actor, name: str, note: str = "", auto_answer: bool = False,
             org_id: int | None = None) -> tuple[Device, str]:
    """A new device of the staff member's organisation (or org_id's) and its first provisioning code (shown once)."""
    device = Device(organisation_id=org_id or user.organisation_id, name=name, note=note,
                    auto_answer=auto_answer, created_by_id=_staff_id(user))
    db.add(device)
    db.flush()
    code = _fresh_code(db, device)
    _audit(db, device.organisation_id, "device_created", device.name, actor=user)
    db.commit()
    log.info("device_created", device=device.id)
    return device, code


def issue_code(db: Session, user: Actor, device: Device) -> str:
    """A new provisioning code; the old code stops working, a bound device stays bound."""
    code = _fresh_code(db, device)
    _audit(db, device.organisation_id, "device_code", device.name, actor=user)
    db.commit()
    return code


def change(db: Session, user: Actor, device: Device, name: str, note: str, auto_answer: bool) -> None:
    """Rename a device, change its note or auto-answer."""
    before = f"{device.name!r}, auto_answer={device.auto_answer}"
    device.name, device.note, device.auto_answer = name, note, auto_answer
    db.add(device)
    _audit(db, device.organisation_id, "device_changed", name, f"{before} → {name!r}, auto_answer={auto_answer}",
           actor=user)
    db.commit()
    publish(device.id, {"kind": "changed"})


def revoke(db: Session, user: Actor, device: Device) -> None:
    """Unbind the device: its credential and any code stop working, it leaves any meeting it is in,
    and its screen drops to the code page."""
    device.credential_hash = device.code_hash = None
    device.bound_at = device.code_expires_at = None
    db.add(device)
    _audit(db, device.organisation_id, "device_revoked", device.name, actor=user)
    db.commit()  # before its meeting page is sent home: /device then shows the code screen
    publish(device.id, {"kind": "revoked"})
    leave_meetings(db, user, device)
    log.info("device_revoked", device=device.id)


@dataclass
class Provisioned:
    """Outcome of typing a code on /device."""

    device: Device | None = None
    credential: str = ""
    problem: str = ""  # wrong | locked
    wait: int = 0


def _limit() -> security.Limit:
    cfg = current_app.config
    return security.Limit("device-code", cfg["PIN_CLIENT_TRIES"], cfg["PIN_WINDOW_SECONDS"])


def provision(db: Session, raw_code: str) -> Provisioned:
    """Bind this browser with a code; wrong, used or expired codes count towards the client's lockout."""
    client = security.client_key()
    if wait := _limit().wait(client):
        _audit(db, None, "device_code_refused", security.client_id(), "locked")
        db.commit()
        return Provisioned(problem="locked", wait=wait)
    code = normalise_code(raw_code)
    device = db.exec(select(Device).where(Device.code_hash == digest(code))).first() if len(code) == CODE_LENGTH else None
    if device is None or device.code_expires_at is None or device.code_expires_at < utcnow():
        _limit().spend(client)
        wait = _limit().wait(client)
        _audit(db, device.organisation_id if device else None, "device_code_wrong", security.client_id(),
               "expired" if device else "unknown")
        db.commit()
        log.warning("device_code_wrong", client=security.client_id(), locked=bool(wait))
        return Provisioned(problem="locked" if wait else "wrong", wait=wait)
    credential = secrets.token_urlsafe(32)
    device.credential_hash, device.bound_at = digest(credential), utcnow()
    device.code_hash = device.code_expires_at = None  # single use
    db.add(device)
    _audit(db, device.organisation_id, "device_bound", device.name, security.client_id())
    db.commit()
    log.info("device_bound", device=device.id)
    return Provisioned(device, credential)


def by_credential(db: Session, credential: str | None) -> Device | None:
    """The bound device holding this credential, or None."""
    if not credential or len(credential) > 100:
        return None
    return db.exec(select(Device).where(Device.credential_hash == digest(credential))).first()


# Presence ------------------------------------------------------------------------------


def is_online(device: Device, now: datetime | None = None) -> bool:
    """A device socket is open and was heard from recently."""
    now = now or utcnow()
    return bool(device.online and device.credential_hash and device.last_seen_at
                and device.last_seen_at > now - ONLINE_GRACE)


def seen(db: Session, device_id: int, online: bool) -> None:
    """Record that the device's socket is (still) open, or closed."""
    db.exec(update(Device).where(Device.id == device_id).values(online=online, last_seen_at=utcnow()))
    db.commit()


def publish(device_id: int, event: dict) -> None:
    """Tell the device's socket (in whichever process) that something changed; channel = -device id."""
    current_app.extensions["mvc.live"].publish(-device_id, event)


def subscribe(device_id: int, listener):
    """Listen to the device's events; returns the unsubscribe function."""
    return current_app.extensions["mvc.live"].subscribe(-device_id, listener)


# Calls ---------------------------------------------------------------------------------


def _device_invitation(db: Session, device: Device, meeting: Meeting) -> Invitation:
    """The device's invitation to the meeting (made once), so it shows among the invitees."""
    known = db.exec(select(DeviceCall.invitation_id).where(
        DeviceCall.device_id == device.id, DeviceCall.meeting_id == meeting.id,
        DeviceCall.invitation_id.is_not(None))).first()
    inv = db.get(Invitation, known) if known else None
    if inv is None or inv.revoked:
        inv = Invitation(meeting_id=meeting.id, name=device.name)
        db.add(inv)
        db.flush()
    return inv


def new_meeting(db: Session, user: Actor, device: Device) -> Meeting:
    """An instant meeting for calling a device now: no waiting room, the staff member hosts."""
    from mvc.booking.service import new_alias
    from mvc.rooms import new_pin

    org = db.get(Organisation, device.organisation_id)
    now = utcnow()
    meeting = Meeting(organisation_id=org.id, theme_id=org.default_theme_id, kind="device", alias=new_alias(db),
                      title=device.name, host_pin=new_pin(6), guest_pin=new_pin(6),
                      created_by_id=_staff_id(user),
                      reminders=False, waiting_room=False, starts_at=now,
                      ends_at=now + timedelta(hours=current_app.config["INSTANT_HOURS"]))
    db.add(meeting)
    db.flush()
    return meeting


def call(db: Session, user: Actor, device: Device, meeting: Meeting | None = None) -> DeviceCall:
    """Call the device now (into a fresh instant meeting unless one is given): it rings, or is busy or offline."""
    meeting = meeting or new_meeting(db, user, device)
    inv = _device_invitation(db, device, meeting)
    row = DeviceCall(device_id=device.id, meeting_id=meeting.id, invitation_id=inv.id,
                     created_by_id=_staff_id(user))
    db.add(row)
    db.flush()
    ring(db, row, device, user)
    return row


def _live_calls(db: Session, device: Device) -> list[DeviceCall]:
    """The device's newest answered calls into meetings still open: the meetings it may be in now."""
    return list(db.exec(select(DeviceCall).join(Meeting, Meeting.id == DeviceCall.meeting_id).where(
        DeviceCall.device_id == device.id, DeviceCall.status == "answered", DeviceCall.invitation_id.is_not(None),
        Meeting.status == "open").order_by(DeviceCall.id.desc()).limit(10)))


def in_call(db: Session, device: Device, idle_open: bool) -> bool:
    """The device is in a live meeting it answered a call into: its meeting page is connected there, or,
    with its idle screen closed, it still holds its seat (a page reconnecting)."""
    for row in _live_calls(db, device):
        state = live_ops.store().get(row.meeting_id)
        if state and any(p.invitation_id == row.invitation_id and (p.connected or not idle_open and rules.holds_seat(p))
                         for p in state.participants.values()):
            return True
    return False


def leave_meetings(db: Session, user: Actor, device: Device) -> list[int]:
    """Take the device out of every live meeting it is in, as a host removes someone; each removal is audited."""
    left = []
    for row in _live_calls(db, device):
        if live_ops.remove_where(row.meeting_id, lambda p, inv=row.invitation_id: p.invitation_id == inv):
            left.append(row.meeting_id)
            _audit(db, device.organisation_id, "device_removed", device.name, f"meeting {row.meeting_id}",
                   actor=user)
    db.commit()
    if left:
        log.info("device_removed", device=device.id, meetings=left)
    return left


def ring(db: Session, row: DeviceCall, device: Device, user: Actor = None) -> None:
    """Ring the device if its idle screen is open; the call ends at once as 'busy' when the device is in a
    meeting (whose page replaced the idle screen), or as 'offline'."""
    now = utcnow()
    row.rang_at = now
    online = is_online(device, now)
    row.status = "busy" if in_call(db, device, online) else "ringing" if online else "offline"
    if row.status == "ringing":  # a newer call replaces one still ringing
        db.exec(update(DeviceCall).where(DeviceCall.device_id == device.id, DeviceCall.status == "ringing",
                                         DeviceCall.id != row.id).values(status="cancelled"))
    db.add(row)
    _audit(db, device.organisation_id, "device_call", device.name, f"meeting {row.meeting_id}: {row.status}",
           actor=user)
    db.commit()
    log.info("device_call", device=device.id, call=row.id, status=row.status)
    if row.status == "ringing":
        publish(device.id, {"kind": "ring", "call": row.id})


def settle(db: Session, row: DeviceCall, now: datetime | None = None) -> DeviceCall:
    """A ringing call whose ring time is over becomes 'no_answer'."""
    now = now or utcnow()
    ring_for = timedelta(seconds=current_app.config["DEVICE_RING_SECONDS"])
    if row.status == "ringing" and row.rang_at and row.rang_at + ring_for < now:
        result = db.exec(update(DeviceCall).where(DeviceCall.id == row.id, DeviceCall.status == "ringing")
                         .values(status="no_answer"))
        db.commit()
        db.refresh(row)
        if result.rowcount:
            publish(row.device_id, {"kind": "idle"})
    return row


def ringing_call(db: Session, device: Device) -> DeviceCall | None:
    """The call ringing on the device now, if any."""
    row = db.exec(select(DeviceCall).where(DeviceCall.device_id == device.id, DeviceCall.status == "ringing")
                  .order_by(DeviceCall.id.desc())).first()
    return row if row is not None and settle(db, row).status == "ringing" else None


def ring_left(row: DeviceCall) -> int:
    """Seconds the call keeps ringing."""
    end = row.rang_at + timedelta(seconds=current_app.config["DEVICE_RING_SECONDS"])
    return max(0, int((end - utcnow()).total_seconds()))


def respond(db: Session, device: Device, call_id: int, answer: bool) -> DeviceCall | None:
    """The device answers or declines its ringing call; None when that call is not ringing on it."""
    row = db.get(DeviceCall, call_id)
    if row is None or row.device_id != device.id:
        return None
    settle(db, row)
    status = "answered" if answer else "declined"
    result = db.exec(update(DeviceCall).where(DeviceCall.id == row.id, DeviceCall.status == "ringing")
                     .values(status=status, answered_at=utcnow() if answer else None))
    if not result.rowcount:
        db.rollback()
        return None
    _audit(db, device.organisation_id, f"device_{status}", device.name, f"meeting {row.meeting_id}")
    db.commit()
    db.refresh(row)
    log.info("device_" + status, device=device.id, call=row.id)
    return row


def last_calls(db: Session, device_ids: list[int]) -> dict[int, DeviceCall]:
    """Each device's newest call that has rung (scheduled ones not yet)."""
    rows = db.exec(select(DeviceCall).where(DeviceCall.device_id.in_(device_ids), DeviceCall.status != "scheduled")
                   .order_by(DeviceCall.id)).all() if device_ids else []
    return {row.device_id: settle(db, row) for row in rows}


def org_devices(db: Session, org_id: int) -> list[Device]:
    """The organisation's devices by name."""
    return list(db.exec(select(Device).where(Device.organisation_id == org_id).order_by(Device.name, Device.id)))


# Bookings: a device as invitee ----------------------------------------------------------


def invite_to_booking(db: Session, user: User, meeting: Meeting, device_ids: list[int]) -> list[DeviceCall]:
    """Invite the organisation's chosen devices to a booking: each is called at the start time, once."""
    rows = []
    for device_id in set(device_ids):
        device = db.get(Device, device_id)
        if device is None or device.organisation_id != meeting.organisation_id:
            continue
        if db.exec(select(DeviceCall).where(DeviceCall.device_id == device.id, DeviceCall.meeting_id == meeting.id,
                                            DeviceCall.status == "scheduled")).first():
            continue
        inv = _device_invitation(db, device, meeting)
        rows.append(DeviceCall(device_id=device.id, meeting_id=meeting.id, invitation_id=inv.id,
                               status="scheduled", due_at=meeting.starts_at, created_by_id=user.id))
        _audit(db, meeting.organisation_id, "device_invited", device.name, f"meeting {meeting.id}", actor=user)
    db.add_all(rows)
    db.commit()
    return rows


def reschedule(db: Session, meeting: Meeting) -> None:
    """Move a booking's pending device calls with it; cancel them with it or with the device's invitation."""
    pending = (DeviceCall.meeting_id == meeting.id, DeviceCall.status == "scheduled")
    if meeting.status != "open":
        db.exec(update(DeviceCall).where(*pending).values(status="cancelled"))
    else:
        db.exec(update(DeviceCall).where(*pending).values(due_at=meeting.starts_at))
        revoked = select(Invitation.id).where(Invitation.meeting_id == meeting.id, Invitation.revoked == True)  # noqa: E712
        db.exec(update(DeviceCall).where(*pending, DeviceCall.invitation_id.in_(revoked)).values(status="cancelled"))
    db.commit()


def scheduled_devices(db: Session, meeting_id: int) -> list[Device]:
    """Devices a booking will call at its start."""
    return list(db.exec(select(Device).join(DeviceCall, DeviceCall.device_id == Device.id).where(
        DeviceCall.meeting_id == meeting_id, DeviceCall.status == "scheduled")))


def ring_scheduled(db: Session, call_id: int) -> str:
    """Ring a claimed scheduled call (skipped when the booking is no longer open)."""
    row = db.get(DeviceCall, call_id)
    meeting, device = db.get(Meeting, row.meeting_id), db.get(Device, row.device_id)
    if meeting.status != "open" or device.credential_hash is None:
        row.status = "cancelled" if meeting.status != "open" else "offline"
        db.add(row)
        db.commit()
        return row.status
    ring(db, row, device)
    return row.status

