"""Queues in Management: checking the form (hours, closed days, staff, call settings), saving, deleting."""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mvc.manage import audit
from mvc.manage.forms import PIN_RE, Checked, Refused, flag, text
from mvc.manage.rooms import FLAGS
from mvc.manage import units as org_units
from mvc.models import MeetingSettings, Queue, QueueStaff, QueueUnit, User
from mvc.models.room import LAYOUTS
from mvc.rooms import ALIAS_RE
from mvc.waitqueue import hours

DAYS = range(7)
FIELDS = ("name", "alias", "welcome", "guest_pin", "intake_question", "layout", *FLAGS)


def org_queues(db: Session, organisation_id: int) -> list[Queue]:
    """The organisation's queues by name."""
    return list(db.exec(select(Queue).where(Queue.organisation_id == organisation_id).order_by(Queue.name)))


def staff_choices(db: Session, organisation_id: int) -> list[User]:
    """Active staff of the organisation who may serve a queue (hosts)."""
    return [u for u in org_units.member_choices(db, organisation_id) if u.has_role("host")]


def blank_values() -> dict:
    """Form values for a new queue: the default call settings, open weekdays 8-12."""
    defaults = MeetingSettings()
    values = {"name": "", "alias": "", "welcome": "", "guest_pin": "", "intake_question": "", "closed_days": "",
              "layout": defaults.layout, "staff": [], "units": [], **{name: getattr(defaults, name) for name in FLAGS}}
    values.update({f"hours_{d}": "08:00-12:00" if d < 5 else "" for d in DAYS})
    return values


def queue_values(db: Session, queue: Queue) -> dict:
    """The queue as form values."""
    values = {name: getattr(queue, name) or "" for name in FIELDS}
    values.update({name: getattr(queue, name) for name in FLAGS})
    typed = hours.typed(queue.hours)
    values.update({f"hours_{d}": typed.get(d, "") for d in DAYS})
    values["closed_days"] = queue.closed_days
    values["staff"] = [s.user_id for s in db.exec(select(QueueStaff).where(QueueStaff.queue_id == queue.id))]
    values["units"] = [u.unit_id for u in db.exec(select(QueueUnit).where(QueueUnit.queue_id == queue.id))]
    return values


def check(db: Session, organisation_id: int, form, queue_id: int | None = None) -> Checked:
    """Clean and check a queue form; errors are ready to show next to their fields."""
    v = {"name": " ".join(text(form, "name", 120).split()), "alias": text(form, "alias", 60).lower(),
         "welcome": text(form, "welcome", 500), "guest_pin": text(form, "guest_pin", 12),
         "intake_question": " ".join(text(form, "intake_question", 200).split()),
         "layout": form.get("layout", ""), **{name: flag(form, name) for name in FLAGS}}
    errors: dict[str, str] = {}
    if not v["name"] or len(v["name"]) > 120:
        errors["name"] = _("Give the queue a name of at most 120 characters.")
    if not ALIAS_RE.match(v["alias"]):
        errors["alias"] = _("The address must be 2 to 60 small letters, digits or dashes, starting with a letter or digit.")
    elif db.exec(select(Queue.id).where(Queue.alias == v["alias"], Queue.id != queue_id)).first() is not None:
        errors["alias"] = _("The address %(alias)s is already in use. Please choose another.", alias=v["alias"])
    if len(v["welcome"]) > 500:
        errors["welcome"] = _("Please write at most 500 characters.")
    if v["guest_pin"] and not PIN_RE.match(v["guest_pin"]):
        errors["guest_pin"] = _("The guest PIN must be 4 to 12 digits, or empty for no guest PIN.")
    if len(v["intake_question"]) > 200:
        errors["intake_question"] = _("Please write at most 200 characters.")
    if v["layout"] not in LAYOUTS:
        errors["layout"] = _("Choose one of the layouts.")
    v.update(_hours(form, errors))
    v["staff"] = org_units.chosen(form, "staff", {u.id for u in staff_choices(db, organisation_id)}, errors,
                                  _("Choose staff of your own organisation."))
    v["units"] = org_units.chosen(form, "units", {u.id for u in org_units.org_units(db, organisation_id)}, errors,
                                  _("Choose units of your own organisation."))
    return Checked(v, errors)


def _hours(form, errors: dict) -> dict:
    """Opening periods per weekday and closed days from the form."""
    out, periods = {}, {}
    for d in DAYS:
        out[f"hours_{d}"] = text(form, f"hours_{d}", 120)
        try:
            periods[d] = hours.parse_day(out[f"hours_{d}"])
        except hours.BadPeriods as exc:
            errors[f"hours_{d}"] = _period_error(exc)
    out["hours"] = hours.stored(periods)
    days = []
    for line in text(form, "closed_days", 2000).splitlines():
        try:
            days.append(date.fromisoformat(line.strip()).isoformat()) if line.strip() else None
        except ValueError:
            errors["closed_days"] = _("Write one date per line as 2026-12-24.")
    out["closed_days"] = "\n".join(sorted(set(days)))
    return out


def _period_error(exc: hours.BadPeriods) -> str:
    """What is wrong with a day's periods, in words."""
    if exc.why == "reversed":
        return _("The period %(period)s must close after it opens.", period=exc.periods[0])
    if exc.why == "overlap":
        return _("The periods %(first)s and %(second)s overlap.", first=exc.periods[0], second=exc.periods[1])
    if exc.why == "many":
        return _("Give at most %(most)d periods a day.", most=hours.MOST_PERIODS)
    return _("Write each period as 08:00-11:00, several separated by commas, or leave the day empty for closed.")


def save(db: Session, actor: User, queue: Queue | None, values: dict) -> Queue:
    """Create or update a queue from checked values, with an audit entry."""
    before = queue_values(db, queue) if queue else {}
    stored = {k: v for k, v in values.items() if k in (*FIELDS, "hours", "closed_days")}
    stored["guest_pin"] = stored["guest_pin"] or None
    if queue is None:
        queue = Queue(organisation_id=actor.organisation_id, **stored)
    else:
        for key, value in stored.items():
            setattr(queue, key, value)
    db.add(queue)
    try:
        db.flush()
    except IntegrityError as exc:  # another admin took the address between the check and the save
        db.rollback()
        raise Refused({"alias": _("The address %(alias)s is already in use. Please choose another.",
                                  alias=values["alias"])}) from exc
    _unlink(db, queue)
    db.add_all(QueueStaff(queue_id=queue.id, user_id=uid) for uid in values["staff"])
    db.add_all(QueueUnit(queue_id=queue.id, unit_id=uid) for uid in values["units"])
    shown = {k: v for k, v in values.items() if k in FIELDS or k in ("staff", "units")}
    audit.record(db, actor, "queue.update" if before else "queue.create", f"queue {queue.alias}",
                 audit.changes(before, shown, secret=("guest_pin",)))
    db.commit()
    return queue


def delete(db: Session, actor: User, queue: Queue) -> None:
    """Delete a queue (its running calls go on; the waiting citizens see that they are no longer queued)."""
    _unlink(db, queue)
    audit.record(db, actor, "queue.delete", f"queue {queue.alias}", queue.name)
    db.flush()
    db.delete(queue)
    db.commit()


def _unlink(db: Session, queue: Queue) -> None:
    """Forget who serves the queue (its staff and units)."""
    for model in (QueueStaff, QueueUnit):
        for link in db.exec(select(model).where(model.queue_id == queue.id)):
            db.delete(link)
    db.flush()
