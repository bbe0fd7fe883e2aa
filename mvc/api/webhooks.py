"""Webhooks: API clients' endpoints, and the signed events put in the outbox where the change happens.

Events are Standard Webhooks messages ({type, timestamp, data}); mvc.api.webhook_sender posts them.
Only booked meetings (the ones the API shows) make events, and only for clients that may read the
meeting. Payloads carry ids; the subject and participants' names only for meeting-planner and
meeting-admin; phone numbers for nobody.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import uuid as uuidlib
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from media.ice import IceFilter
from mvc import db as mvc_db, logs
from mvc.api import schemas  # a module, not its names: schemas -> booking -> ... -> manage imports this module
from mvc.models import ApiClient, ApiMeeting, Meeting, SmsMessage, WebhookDelivery, WebhookEndpoint
from mvc.models.base import utcnow

log = logs.get("mvc.webhooks")
SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS = 10  # per client
SEES_NAMES = ("meeting-planner", "meeting-admin")  # the organisation's own planners: subject and names
READS_ALL = ("meeting-planner", "meeting-admin", "meeting-provisioner")


# -- signing (Standard Webhooks) ---------------------------------------------------------------

def new_secret() -> str:
    """A fresh signing secret: whsec_ + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The webhook-signature value: v1,<base64 HMAC-SHA256 of id.timestamp.body with the secret's key>."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# -- where events may go -------------------------------------------------------------------------

def address_allowed(address: str, loopback_ok: bool = False) -> bool:
    """The media worker's rule for ICE targets (media/ice.py): public unicast only, no private, link-local,
    multicast or reserved address; with loopback_ok (http://127.0.0.1 in tests) loopback only."""
    return IceFilter(loopback_only=loopback_ok).address_ok(address.split("%")[0])


def loopback_http(url: str) -> bool:
    """True for http://127.0.0.1 (or [::1]) when the setting allows it (tests and one-machine demos)."""
    parts = urlsplit(url)
    return (parts.scheme == "http" and current_app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"]
            and parts.hostname in ("127.0.0.1", "::1"))


def url_problem(url: str) -> str | None:
    """Why an endpoint address is refused, or None: https only, a real host, no private or link-local IP."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return _("The url is not a valid address.")
    if len(url) > 500 or not parts.hostname or parts.username or parts.password or parts.fragment:
        return _("The url is not a valid address.")
    if loopback_http(url):
        return None
    if parts.scheme != "https":
        return _("The url must start with https://.")
    host = parts.hostname.lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return _("The url must point to a public address.")
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None  # a name: its addresses are checked every time an event is sent
    return None if address_allowed(host) else _("The url must point to a public address.")


# -- endpoints -------------------------------------------------------------------------------------

def endpoints_of(db: Session, client: ApiClient) -> list[WebhookEndpoint]:
    """The client's endpoints, oldest first."""
    return list(db.exec(select(WebhookEndpoint).where(WebhookEndpoint.client_pk == client.id,
                                                      WebhookEndpoint.deleted_at.is_(None))
                        .order_by(WebhookEndpoint.id)).all())


def register(db: Session, client: ApiClient, url: str, events: list[str]) -> WebhookEndpoint:
    """A new endpoint for the client; its secret is returned to the caller once (ValueError: refused)."""
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    if len(endpoints_of(db, client)) >= MAX_ENDPOINTS:
        raise ValueError(_("A client may have at most %(num)d webhook endpoints.", num=MAX_ENDPOINTS))
    endpoint = WebhookEndpoint(client_pk=client.id, organisation_id=client.organisation_id, url=url,
                               events=" ".join(dict.fromkeys(events)), secret=new_secret())
    db.add(endpoint)
    db.commit()
    return endpoint


def remove(db: Session, endpoint: WebhookEndpoint) -> None:
    """Stop an endpoint: nothing more is sent to it, pending events included."""
    endpoint.deleted_at = utcnow()
    db.add(endpoint)
    for row in db.exec(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                     WebhookDelivery.status == "pending")):
        row.status = "cancelled"
        db.add(row)
    db.commit()


# -- events ----------------------------------------------------------------------------------------

def meeting_uuid(db: Session, meeting: Meeting) -> tuple[str, int | None]:
    """The meeting's API uuid and the client that booked it (a page booking gets the uuid the API will give it)."""
    from mvc.api.meetings import NAMESPACE

    ext = db.exec(select(ApiMeeting).where(ApiMeeting.meeting_id == meeting.id)).first()
    if ext is not None:
        return ext.uuid, ext.client_pk
    return str(uuidlib.uuid5(NAMESPACE, meeting.alias)), None


def _endpoints(db: Session, organisation_id: int, event_type: str) -> list[tuple[WebhookEndpoint, ApiClient]]:
    """The organisation's live endpoints that take this kind of event, with their (active) clients."""
    rows = db.exec(select(WebhookEndpoint, ApiClient).join(ApiClient, ApiClient.id == WebhookEndpoint.client_pk).where(
        WebhookEndpoint.organisation_id == organisation_id, WebhookEndpoint.deleted_at.is_(None),
        ApiClient.revoked_at.is_(None))).all()
    return [(endpoint, client) for endpoint, client in rows if endpoint.wants(event_type)]


def enqueue(db: Session, meeting: Meeting | None, event_type: str, data, dedupe: str | None = None) -> int:
    """Add the event to the outbox in db's transaction (the caller commits); data(sees_names) builds the body."""
    if meeting is None or meeting.kind != "booked":
        return 0
    candidates = _endpoints(db, meeting.organisation_id, event_type)
    if not candidates:
        return 0
    uuid, booked_by = meeting_uuid(db, meeting)
    event_id = "msg_" + secrets.token_hex(12)  # webhook-id: one per event, the same for each endpoint and attempt
    added = 0
    for endpoint, client in candidates:
        if not (set(client.role_list()) & set(READS_ALL) or booked_by == client.id):
            continue  # a meeting-user hears only about the meetings it booked
        if dedupe and db.exec(select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id,
                                                               WebhookDelivery.dedupe_key == dedupe)).first():
            continue
        sees = bool(set(client.role_list()) & set(SEES_NAMES))
        body = schemas.answer(schemas.WebhookEvent, {"type": event_type, "timestamp": schemas.format_time(utcnow()),
                                     "data": {"meeting": _meeting_data(meeting, uuid, sees), **data(sees)}})
        db.add(WebhookDelivery(endpoint_id=endpoint.id, event_id=event_id, event_type=event_type, dedupe_key=dedupe,
                               payload=json.dumps(body, ensure_ascii=False, separators=(",", ":"))))
        added += 1
    return added


def _meeting_data(meeting: Meeting, uuid: str, sees: bool) -> dict:
    data = {"uuid": uuid, "shortId": schemas.short_id(meeting.alias, uuid),
            "startTime": schemas.format_time(meeting.starts_at), "endTime": schemas.format_time(meeting.ends_at)}
    if sees:
        data["subject"] = meeting.title
    return data


def _person(person, sees: bool) -> dict:
    data = {"pid": person.pid, "role": person.role, "invitationId": person.invitation_id}
    if sees:
        data["name"] = person.name
    return {"participant": data}


def _in_own_session(meeting_id: int, make) -> None:
    """Enqueue from live code (websockets, joins); a failure never breaks the meeting."""
    try:
        with mvc_db.side_session() as db:
            meeting = db.get(Meeting, meeting_id)
            if meeting is not None and make(db, meeting):
                db.commit()
    except IntegrityError:
        pass  # another process enqueued the same once-only event a moment ago
    except Exception:  # noqa: BLE001 - webhooks must never stop people from meeting
        log.exception("webhook_enqueue_failed", meeting=meeting_id)


def participant_arrived(meeting_id: int, person) -> None:
    """meeting.started for the first person ever, and participant.joined once per participant."""
    def make(db: Session, meeting: Meeting) -> int:
        started = enqueue(db, meeting, "meeting.started", lambda sees: {}, dedupe=f"started:{meeting.id}")
        return started + enqueue(db, meeting, "participant.joined", lambda sees: _person(person, sees),
                                 dedupe=f"joined:{meeting.id}:{person.pid}")

    _in_own_session(meeting_id, make)


def participant_left(meeting_id: int, person, reason: str = "left") -> None:
    """participant.left for someone who left or was sent away by a host (reason: left | removed), once."""
    _in_own_session(meeting_id, lambda db, meeting: enqueue(
        db, meeting, "participant.left", lambda sees: _person(person, sees) | {"reason": reason},
        dedupe=f"left:{meeting.id}:{person.pid}"))


def meeting_ended(db: Session, meeting: Meeting) -> None:
    """meeting.ended, in the caller's transaction."""
    enqueue(db, meeting, "meeting.ended", lambda sees: {"endedTime": schemas.format_time(meeting.ended_at)},
            dedupe=f"ended:{meeting.id}")


def sms_outcome(db: Session, msg: SmsMessage) -> None:
    """sms.delivered or sms.failed for a text about a booked meeting, in the caller's transaction (no number)."""
    if msg.meeting_id is None or msg.status not in ("delivered", "undelivered", "failed"):
        return
    kind = "sms.delivered" if msg.status == "delivered" else "sms.failed"
    data = {"sms": {"id": msg.id, "invitationId": msg.invitation_id, "purpose": msg.purpose, "status": msg.status,
                    "errorCode": msg.error_code}}
    enqueue(db, db.get(Meeting, msg.meeting_id), kind, lambda sees: data, dedupe=f"sms:{msg.id}")
