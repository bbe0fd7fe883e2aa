"""Helpers for tests of staff pages: accounts with known passwords and logging in."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from mvc.auth import hash_password  # noqa: F401 - tests use staff.hash_password
from mvc.models import Organisation, User
from tests.conftest import csrf_from  # noqa: F401 - tests use staff.csrf_from

PASSWORD = "correct horse battery"


@pytest.fixture(name="db")
def db_outside_app_context(app):
    """A database session that, unlike conftest's `db`, keeps no app context pushed.

    With an app context pushed, Flask reuses it (and its `g`) for every test-client
    request, so a login's fresh session would meet the previous request's cached user
    and CSRF token. Import this into a test module to use it there.
    """
    with Session(app.extensions["mvc.engine"], expire_on_commit=False) as session:
        yield session


def make_user(db, email: str, roles: str = "host", org: Organisation | None = None, password: str = PASSWORD) -> User:
    """A staff account (in Demo Kommune unless another organisation is given)."""
    org = org or db.exec(select(Organisation).where(Organisation.slug == "demo-kommune")).one()
    user = User(organisation_id=org.id, email=email, name=email.split("@")[0].title(), roles=roles,
                password_hash=hash_password(password) if password else None)
    db.add(user)
    db.commit()
    return user


def make_org(db, slug: str) -> Organisation:
    """Another organisation."""
    org = Organisation(name=slug.replace("-", " ").title(), slug=slug)
    db.add(org)
    db.commit()
    return org


def login(client, email: str, password: str = PASSWORD, remote: str = "10.1.0.1"):
    """Log in through the form like a browser (English pages); returns the POST response."""
    client.get("/lang/en")
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email,
                                       "password": password}, environ_base={"REMOTE_ADDR": remote})


def admin(db) -> User:
    """The seeded Demo Kommune admin, given the known password."""
    user = db.exec(select(User).where(User.email == "admin@demo.example")).one()
    user.password_hash = hash_password(PASSWORD)
    db.add(user)
    db.commit()
    return user


def token(client, path: str) -> str:
    """The CSRF token of a page."""
    return csrf_from(client.get(path).get_data(as_text=True))
