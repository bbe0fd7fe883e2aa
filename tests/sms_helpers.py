"""Helpers for SMS tests: a signed-in host and a recording sender."""
from __future__ import annotations

from sqlmodel import Session, select

from mvc import db as mvc_db
from mvc.auth import hash_password
from mvc.models import Organisation, User
from mvc.sms.senders import OutboxSender, Outcome
from tests.conftest import csrf_from

PASSWORD = "correct horse battery"


def make_staff(app, email="nurse@demo.example", roles="host", org_slug="demo-kommune") -> User:
    """A staff member of an organisation (Demo Kommune by default)."""
    with app.app_context(), Session(mvc_db.engine(), expire_on_commit=False) as db:
        org = db.exec(select(Organisation).where(Organisation.slug == org_slug)).one()
        user = User(organisation_id=org.id, email=email, name="Nina Nurse", password_hash=hash_password(PASSWORD),
                    roles=roles)
        db.add(user)
        db.commit()
        return user


def login(client, email="nurse@demo.example") -> None:
    """Sign the test client in, in English."""
    client.get("/lang/en")
    page = client.get("/login").get_data(as_text=True)
    resp = client.post("/login", data={"csrf_token": csrf_from(page), "email": email, "password": PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]


def post_form(client, path: str, data: dict, **kw):
    """GET a form for its CSRF token, then POST data to it."""
    page = client.get(path).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_from(page), **data}, **kw)


class RecordingSender(OutboxSender):
    """The outbox backend, remembering what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send(self, to, body, sender, status_callback=None) -> Outcome:
        self.sent.append((to, body, sender))
        return super().send(to, body, sender, status_callback)


def session_for(app) -> Session:
    """A database session without pushing an app context (an outer context would share `g` with requests)."""
    return Session(app.extensions["mvc.engine"], expire_on_commit=False)
