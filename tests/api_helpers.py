"""Helpers for booking API tests: clients, tokens and JSON calls through the Flask test client."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from mvc.api import clients
from mvc.models import Organisation
from tests.sms_helpers import session_for


def make_client(app, roles=("meeting-planner",), org_slug="demo-kommune", name="Nexus") -> tuple[str, str]:
    """A new API client of the organisation: (client_id, secret)."""
    with session_for(app) as db:
        org = db.exec(select(Organisation).where(Organisation.slug == org_slug)).one()
        client, secret = clients.create(db, org.id, name, list(roles))
        return client.client_id, secret


def basic(client_id: str, secret: str) -> dict:
    """An HTTP Basic header (client_secret_basic)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def get_token(http, client_id: str, secret: str, method: str = "basic"):
    """POST /oauth/token with the secret in the Basic header or in the form body."""
    if method == "basic":
        return http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret))
    return http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                           "client_secret": secret})


class Api:
    """Calls the API with one client's bearer token."""

    def __init__(self, http, client_id: str, secret: str) -> None:
        resp = get_token(http, client_id, secret)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        self.http, self.token = http, resp.get_json()["access_token"]

    def __call__(self, method: str, path: str, body=None, **headers):
        return self.http.open(path, method=method, json=body, headers={"Authorization": f"Bearer {self.token}",
                                                                       **headers})


def vdx_time(moment: datetime) -> str:
    """yyyy-MM-dd'T'HH:mm:ssXXX in Danish winter time."""
    return moment.astimezone(timezone(timedelta(hours=1))).strftime("%Y-%m-%dT%H:%M:%S+01:00")


def meeting_body(start: datetime | None = None, minutes: int = 30, **extra) -> dict:
    """A create-meeting body starting tomorrow (or at start)."""
    start = start or datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    return {"subject": "Wound check after surgery", "startTime": vdx_time(start),
            "endTime": vdx_time(start + timedelta(minutes=minutes)), **extra}
