"""Staff of an organisation and their roles; organisations made by a platform admin."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlmodel import Session, select

from mvc.auth import hash_password
from mvc.manage import audit
from mvc.manage.forms import Checked, text
from mvc.models import Organisation, Theme, User
from mvc.models.org import GLN_PATTERN, SOR_PATTERN

ORG_ROLES = ("host", "org-admin", "support")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,59}$")
MIN_PASSWORD = 10


def org_users(db: Session, organisation_id: int) -> list[User]:
    """The organisation's staff, active first, by name."""
    query = select(User).where(User.organisation_id == organisation_id)
    return list(db.exec(query.order_by(User.active.desc(), User.name)))


def _roles(form, keep_platform: bool) -> list[str]:
    roles = [r for r in ORG_ROLES if r in form.getlist("roles")]
    return roles + (["platform-admin"] if keep_platform else [])


def check_new(db: Session, form) -> Checked:
    """Check the form for a new staff account (the password may be empty for OpenID Connect only)."""
    v = {"email": text(form, "email", 254).lower(), "name": " ".join(text(form, "name", 120).split()),
         "password": (form.get("password") or "")[:201], "roles": _roles(form, False)}
    errors = _name_and_roles(v)
    if not EMAIL_RE.match(v["email"]) or len(v["email"]) > 254:
        errors["email"] = _("Write a valid e-mail address.")
    elif db.exec(select(User).where(User.email == v["email"])).first() is not None:
        errors["email"] = _("There is already an account with this e-mail address.")
    if v["password"] and not MIN_PASSWORD <= len(v["password"]) <= 200:
        errors["password"] = _("The password must be 10 to 200 characters, or empty to log in only through your organisation's login.")
    return Checked(v, errors)


def check_edit(actor: User, user: User, form) -> Checked:
    """Check a change of name and roles; admins cannot take away their own admin role."""
    v = {"name": " ".join(text(form, "name", 120).split()), "roles": _roles(form, user.has_role("platform-admin"))}
    errors = _name_and_roles(v)
    if user.id == actor.id and "org-admin" not in v["roles"]:
        errors["roles"] = _("You cannot remove your own administrator role. Ask another administrator.")
    return Checked(v, errors)


def _name_and_roles(v: dict) -> dict:
    errors = {}
    if not v["name"] or len(v["name"]) > 120:
        errors["name"] = _("Write the name, at most 120 characters.")
    if not v["roles"]:
        errors["roles"] = _("Choose at least one role.")
    return errors


def create(db: Session, actor: User, values: dict, organisation_id: int | None = None) -> User:
    """Create a staff account in the actor's (or the given) organisation."""
    org_id = organisation_id if organisation_id is not None else actor.organisation_id
    user = User(organisation_id=org_id, email=values["email"], name=values["name"], roles=",".join(values["roles"]),
                password_hash=hash_password(values["password"]) if values["password"] else None)
    db.add(user)
    audit.record(db, actor, "user.create", f"user {user.email}", f"roles: {user.roles}", organisation_id=org_id)
    db.commit()
    return user


def update(db: Session, actor: User, user: User, values: dict) -> None:
    """Change a staff member's name and roles."""
    roles = ",".join(values["roles"])
    detail = audit.changes({"name": user.name, "roles": user.roles}, {"name": values["name"], "roles": roles})
    user.name, user.roles = values["name"], roles
    db.add(user)
    audit.record(db, actor, "user.update", f"user {user.email}", detail)
    db.commit()


def set_active(db: Session, actor: User, user: User, active: bool) -> str | None:
    """Deactivate or reactivate an account; returns an error message instead when refused."""
    if user.id == actor.id:
        return _("You cannot deactivate your own account.")
    user.active = active
    db.add(user)
    audit.record(db, actor, "user.activate" if active else "user.deactivate", f"user {user.email}")
    db.commit()
    return None


def check_organisation(db: Session, form) -> Checked:
    """Check a new organisation with its first administrator."""
    admin = check_new(db, form)
    v = {**admin.values, "org_name": " ".join(text(form, "org_name", 120).split()),
         "slug": text(form, "slug", 60).lower(), "roles": ["host", "org-admin"]}
    errors = {k: e for k, e in admin.errors.items() if k != "roles"}
    if not v["org_name"] or len(v["org_name"]) > 120:
        errors["org_name"] = _("Write the organisation's name, at most 120 characters.")
    if not SLUG_RE.match(v["slug"]):
        errors["slug"] = _("The short name must be 2 to 60 small letters, digits or dashes.")
    elif db.exec(select(Organisation).where(Organisation.slug == v["slug"])).first() is not None:
        errors["slug"] = _("This short name is already in use.")
    return Checked(v, errors)


def create_organisation(db: Session, actor: User, values: dict) -> Organisation:
    """Create an organisation, its own theme (a copy of the neutral colours) and its first admin."""
    org = Organisation(name=values["org_name"], slug=values["slug"])
    db.add(org)
    db.flush()
    neutral = db.exec(select(Theme).where(Theme.organisation_id == None)).first() or Theme(name="")  # noqa: E711
    theme = Theme(organisation_id=org.id, name=org.name, primary_color=neutral.primary_color,
                  background_color=neutral.background_color, text_color=neutral.text_color)
    db.add(theme)
    db.flush()
    org.default_theme_id = theme.id
    audit.record(db, actor, "organisation.create", f"organisation {org.slug}", org.name, organisation_id=org.id)
    create(db, actor, values, organisation_id=org.id)
    return org


def organisations(db: Session) -> list[Organisation]:
    """Every organisation by name."""
    return list(db.exec(select(Organisation).order_by(Organisation.name)))


def check_settings(form) -> Checked:
    """Check the organisation's own settings: its SOR code and GLN number (both or neither)."""
    v = {"sor": text(form, "sor", 20).replace(" ", ""), "gln": text(form, "gln", 13).replace(" ", "")}
    errors = {}
    if v["sor"] and not re.match(SOR_PATTERN, v["sor"]):
        errors["sor"] = _("The SOR code is 6 to 20 digits.")
    if v["gln"] and not re.match(GLN_PATTERN, v["gln"]):
        errors["gln"] = _("The GLN number is 13 digits.")
    if bool(v["sor"]) != bool(v["gln"]) and not errors:
        errors["sor" if not v["sor"] else "gln"] = _("Give both the SOR code and the GLN number, or neither.")
    return Checked(v, errors)


def save_settings(db: Session, actor: User, org: Organisation, values: dict) -> None:
    """Save the organisation's settings, audited."""
    org.sor, org.gln = values["sor"], values["gln"]
    db.add(org)
    audit.record(db, actor, "organisation.settings", f"organisation {org.slug}",
                 f"SOR {org.sor or '-'}, GLN {org.gln or '-'}")
    db.commit()
