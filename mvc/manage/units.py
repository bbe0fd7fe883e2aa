"""Organisation units (org admins): named groups of staff that can serve a queue together."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlmodel import Session, select

from mvc.manage import audit
from mvc.manage.forms import Checked, text
from mvc.models import QueueUnit, Unit, UnitMember, User


def org_units(db: Session, organisation_id: int) -> list[Unit]:
    """The organisation's units by name."""
    return list(db.exec(select(Unit).where(Unit.organisation_id == organisation_id).order_by(Unit.name)))


def member_choices(db: Session, organisation_id: int) -> list[User]:
    """Active staff of the organisation, by name."""
    query = select(User).where(User.organisation_id == organisation_id, User.active == True)  # noqa: E712
    return list(db.exec(query.order_by(User.name)))


def members(db: Session, unit: Unit) -> list[User]:
    """The unit's members, by name."""
    query = select(User).join(UnitMember, UnitMember.user_id == User.id).where(UnitMember.unit_id == unit.id)
    return list(db.exec(query.order_by(User.name)))


def chosen(form, name: str, allowed: set[int], errors: dict, message: str) -> list[int]:
    """The ids ticked in a list of checkboxes; an id outside allowed (another organisation's) is an error."""
    picked = [int(x) for x in form.getlist(name) if x.isdigit()]
    if any(x not in allowed for x in picked):
        errors[name] = message
    return [x for x in dict.fromkeys(picked) if x in allowed]


def check(db: Session, organisation_id: int, form, unit_id: int | None = None) -> Checked:
    """Clean and check the unit form: a name unique in the organisation, members of the organisation."""
    name = " ".join(text(form, "name", 120).split())
    errors: dict[str, str] = {}
    if not name or len(name) > 120:
        errors["name"] = _("Give the unit a name of at most 120 characters.")
    elif any(u.name.lower() == name.lower() and u.id != unit_id for u in org_units(db, organisation_id)):
        errors["name"] = _("There is already a unit called %(name)s.", name=name)
    allowed = {u.id for u in member_choices(db, organisation_id)}
    picked = chosen(form, "members", allowed, errors, _("Choose staff of your own organisation."))
    return Checked({"name": name, "members": picked}, errors)


def save(db: Session, actor: User, unit: Unit | None, values: dict) -> Unit:
    """Create or rename a unit and set its members, with an audit entry."""
    before = {"name": unit.name, "members": [u.id for u in members(db, unit)]} if unit else {}
    if unit is None:
        unit = Unit(organisation_id=actor.organisation_id, name=values["name"])
    unit.name = values["name"]
    db.add(unit)
    db.flush()
    for link in db.exec(select(UnitMember).where(UnitMember.unit_id == unit.id)):
        db.delete(link)
    db.flush()
    db.add_all(UnitMember(unit_id=unit.id, user_id=uid) for uid in values["members"])
    audit.record(db, actor, "unit.update" if before else "unit.create", f"unit {unit.name}",
                 audit.changes(before, values))
    db.commit()
    return unit


def delete(db: Session, actor: User, unit: Unit) -> None:
    """Delete a unit: its members no longer serve the queues it served."""
    for model in (UnitMember, QueueUnit):
        for link in db.exec(select(model).where(model.unit_id == unit.id)):
            db.delete(link)
    audit.record(db, actor, "unit.delete", f"unit {unit.name}", unit.name)
    db.flush()
    db.delete(unit)
    db.commit()
