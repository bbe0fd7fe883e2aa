"""OAuth2 client credentials with authlib: the token endpoint's server and the API's resource protector."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, current_app
from sqlalchemy import delete
from sqlmodel import select

from mvc import db
from mvc.api.clients import label
from mvc.manage import audit
from mvc.models import ApiClient, ApiToken, Organisation
from mvc.models.base import utcnow


class ClientCredentials(grants.ClientCredentialsGrant):
    """client_credentials with the secret in the Basic header or in the form body."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def token_hash(token: str) -> str:
    """Tokens are stored as sha256: a copy of the database holds no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _query_client(client_id: str) -> ApiClient | None:
    if not client_id or len(client_id) > 64:
        return None
    return db.session().exec(select(ApiClient).where(ApiClient.client_id == client_id)).first()


def _save_token(token: dict, request) -> None:
    client: ApiClient = request.client
    s = db.session()
    s.exec(delete(ApiToken).where(ApiToken.client_pk == client.id, ApiToken.expires_at < utcnow()))  # tidy up
    s.add(ApiToken(client_pk=client.id, token_hash=token_hash(token["access_token"]), scope=token.get("scope", ""),
                   expires_at=utcnow() + timedelta(seconds=token["expires_in"])))
    client.last_used_at = utcnow()
    s.add(client)
    audit.record_as(s, label(client), None, client.organisation_id, "api.token", label(client),
                    f"scope: {token.get('scope', '')}")
    s.commit()


class Token:
    """A stored token joined with its client, checked afresh on every request (authlib's TokenMixin)."""

    def __init__(self, row: ApiToken, client: ApiClient) -> None:
        self.row, self.client = row, client

    @property
    def organisation_id(self) -> int:
        return self.client.organisation_id

    def roles(self) -> list[str]:
        """The roles this token carries (never more than the client holds now)."""
        return [r for r in self.row.scope.split() if r in self.client.role_list()]

    def check_client(self, client) -> bool:
        return client.id == self.client.id

    def get_scope(self) -> str:
        return " ".join(self.roles())

    def get_expires_in(self) -> int:
        return max(int((self.row.expires_at - utcnow()).total_seconds()), 0)

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return not self.client.active


class Validator(BearerTokenValidator):
    """Finds a token by its hash and loads its client, so a revoked client is refused at once."""

    def authenticate_token(self, token_string: str) -> Token | None:
        if not token_string or len(token_string) > 200:
            return None
        s = db.session()
        row = s.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token_string))).first()
        client = s.get(ApiClient, row.client_pk) if row else None
        return Token(row, client) if client else None


def init_app(app: Flask) -> None:
    """One authorization server and one resource protector per app (tests build many apps)."""
    minutes = app.config["API_TOKEN_MINUTES"]
    server = AuthorizationServer()
    server.init_app(app, _query_client, _save_token)
    bearer = server.create_bearer_token_generator({"OAUTH2_TOKEN_EXPIRES_IN": {"client_credentials": minutes * 60}})
    server.register_token_generator("default", _with_organisation(bearer))
    server.register_grant(ClientCredentials)
    protector = ResourceProtector()
    protector.register_token_validator(Validator())
    app.extensions["mvc.api.server"] = server
    app.extensions["mvc.api.protector"] = protector


def _with_organisation(bearer):
    """The token response also names the organisation the token acts for."""
    def generate(**kwargs) -> dict:
        token = bearer(**kwargs)
        org = db.session().get(Organisation, kwargs["client"].organisation_id)
        token["organisation"] = org.slug if org else ""
        return token

    return generate


def server() -> AuthorizationServer:
    """The current app's authorization server."""
    return current_app.extensions["mvc.api.server"]


def protector() -> ResourceProtector:
    """The current app's resource protector."""
    return current_app.extensions["mvc.api.protector"]
