"""First-start data for the embedded mode: a neutral theme and the demo organisation."""
from __future__ import annotations

import secrets

from sqlmodel import Session, select

from mvc.auth import hash_password
from mvc.models import Organisation, Room, Theme, User
from mvc.rooms import new_pin

DEMO_ALIAS = "demo"


def seed_demo(db: Session) -> dict | None:
    """Create the neutral theme and Demo Kommune with room `demo` once; return what was made."""
    if db.exec(select(Theme).where(Theme.organisation_id == None)).first() is None:  # noqa: E711
        db.add(Theme(name="Neutral", primary_color="#1f5f8b", background_color="#ffffff", text_color="#1a1a1a"))
        db.commit()
    if db.exec(select(Organisation).where(Organisation.slug == "demo-kommune")).first() is not None:
        return None
    org = Organisation(name="Demo Kommune", slug="demo-kommune")
    db.add(org)
    db.commit()
    theme = Theme(
        organisation_id=org.id, name="Demo Kommune", primary_color="#00548c", background_color="#f4f7fa",
        text_color="#14213d", sms_sender="DemoKommune",
        waiting_da="Mødet er ikke begyndt endnu. Du bliver lukket ind, når medarbejderen er klar.",
        waiting_en="The meeting has not started yet. You will be let in when the staff member is ready.",
    )
    db.add(theme)
    db.commit()
    org.default_theme_id = theme.id
    room = Room(organisation_id=org.id, theme_id=theme.id, alias=DEMO_ALIAS, name="Demo Kommune – videomøde",
                host_pin=new_pin(6))
    password = new_pin(8)
    admin = User(organisation_id=org.id, email="admin@demo.example", name="Demo Admin",
                 password_hash=hash_password(password), roles="host,org-admin")
    db.add_all([org, room, admin])
    db.commit()
    return {"alias": room.alias, "host_pin": room.host_pin, "admin_email": admin.email, "admin_password": password}


def make_platform_admin(db: Session, email: str, name: str) -> str | None:
    """Give an account the platform-admin role (creating it if needed); returns a new account's password."""
    email = email.strip().lower()
    user = db.exec(select(User).where(User.email == email)).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = User(email=email, name=name, roles="platform-admin", password_hash=hash_password(password))
    elif not user.has_role("platform-admin"):
        user.roles = f"{user.roles},platform-admin"
    db.add(user)
    db.commit()
    return password
