"""API clients: made by an organisation admin (or the command line), secret shown once, rotated, revoked."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import delete
from sqlmodel import Session, select

from mvc.manage import audit
from mvc.models import ApiClient, ApiToken, User
from mvc.models.api import API_ROLES
from mvc.models.base import utcnow


def hash_secret(secret: str) -> str:
    """sha256 of a secret: enough for 256 random bits (argon2's slowness only helps guessable passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(client: ApiClient, secret: str) -> bool:
    """Constant-time check of a presented secret."""
    return hmac.compare_digest(client.secret_hash, hash_secret(secret or ""))


def clean_roles(roles: list[str]) -> list[str]:
    """The known API roles among roles, in the usual order."""
    return [r for r in API_ROLES if r in roles]


def create(db: Session, organisation_id: int, name: str, roles: list[str], actor: User | None = None
           ) -> tuple[ApiClient, str]:
    """A new client and its secret (the only time the secret exists in clear)."""
    secret = secrets.token_urlsafe(32)
    client = ApiClient(organisation_id=organisation_id, name=name, client_id="mvc-" + secrets.token_hex(10),
                       secret_hash=hash_secret(secret), roles=" ".join(clean_roles(roles)))
    db.add(client)
    _audit(db, actor, client, "api-client.create", f"roles: {client.roles}")
    db.commit()
    return client, secret


def rotate(db: Session, client: ApiClient, actor: User | None = None) -> str:
    """A new secret; the old one and every token issued with it stop working at once."""
    secret = secrets.token_urlsafe(32)
    client.secret_hash, client.rotated_at = hash_secret(secret), utcnow()
    db.add(client)
    db.exec(delete(ApiToken).where(ApiToken.client_pk == client.id))
    _audit(db, actor, client, "api-client.rotate")
    db.commit()
    return secret


def revoke(db: Session, client: ApiClient, actor: User | None = None) -> None:
    """Take access away for good: no new tokens, and issued ones are refused on their next call."""
    client.revoked_at = utcnow()
    db.add(client)
    db.exec(delete(ApiToken).where(ApiToken.client_pk == client.id))
    _audit(db, actor, client, "api-client.revoke")
    db.commit()


def label(client: ApiClient) -> str:
    """How a client appears in the audit log."""
    return f"api client {client.name} ({client.client_id})"


def org_clients(db: Session, organisation_id: int) -> list[ApiClient]:
    """The organisation's clients, active first, newest first."""
    query = select(ApiClient).where(ApiClient.organisation_id == organisation_id)
    return list(db.exec(query.order_by(ApiClient.revoked_at.is_not(None), ApiClient.created_at.desc())))


def _audit(db: Session, actor: User | None, client: ApiClient, action: str, detail: str = "") -> None:
    if actor is None:
        audit.record_as(db, "command line", None, client.organisation_id, action, label(client), detail)
    else:
        audit.record(db, actor, action, label(client), detail, organisation_id=client.organisation_id)
