"""The OpenAPI 3.1 document, built from the routes, their @doc notes and the pydantic models that check requests."""
from __future__ import annotations

import re

from flask import Flask
from pydantic.json_schema import models_json_schema

from mvc.api import device_schemas, schemas
from mvc.models.api import API_ROLES

REF = "#/components/schemas/{model}"
ERRORS = {"400": "Bad input (errorCode says which rule)", "401": "No valid access token",
          "403": "The client's role or the meeting's owner does not allow this",
          "404": "No such meeting in the client's organisation", "406": "The meeting has ended",
          "413": "The request body is too large (errorCode 10)",
          "429": "Too many calls (Retry-After says how long to wait)"}


def doc(method: str, summary: str, *, body=None, answer=None, many: bool = False, status: int = 200,
        query: tuple[str, ...] = (), headers: tuple[str, ...] = (), roles: tuple[str, ...] | None = None,
        form: bool = False):
    """Note what one method of a view takes and answers; the document is generated from these notes."""
    def decorate(view):
        notes = dict(getattr(view, "openapi", {}))
        notes[method] = {"summary": summary, "body": body, "answer": answer, "many": many, "status": status,
                         "query": query, "headers": headers, "roles": roles, "form": form}
        view.openapi = notes
        return view

    return decorate


def _ref(model) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(note: dict, path_params: list[str], view_roles) -> dict:
    roles = note["roles"] or view_roles or ()
    op: dict = {"summary": note["summary"],
                "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                               for p in path_params]
                + [{"name": q, "in": "query", "required": q == "uri", "schema": {"type": "string"}}
                   for q in note["query"]]
                + [{"name": h, "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}
                   for h in note["headers"]]}
    if note["body"] is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(note["body"])}}}
    if note["form"]:
        op["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["grant_type"], "properties": {
                "grant_type": {"const": "client_credentials"}, "scope": {"type": "string"},
                "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}}}}
        op["responses"] = {"200": {"description": "An access token"}, "400": {"description": "Bad request"},
                           "401": {"description": "Unknown client or wrong secret"},
                           "429": {"description": "Too many token requests from this address"}}
        op["security"] = []
        return op
    answer = note["answer"]
    ok: dict = {"description": "OK" if answer else "Done"}
    if answer is not None:
        schema = {"type": "array", "items": _ref(answer)} if note["many"] else _ref(answer)
        ok["content"] = {"application/json": {"schema": schema}}
    op["responses"] = {str(note["status"]): ok, **{code: {"description": text, "content": {
        "application/json": {"schema": _ref(schemas.ErrorOut)}}} for code, text in ERRORS.items()}}
    op["security"] = [{"clientCredentials": list(roles)}]
    op["x-roles"] = list(roles)
    return op


def document(app: Flask) -> dict:
    """The whole document for the app's API routes."""
    paths: dict = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        notes = getattr(view, "openapi", None)
        if not rule.endpoint.startswith("api.") or not notes:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method, note in notes.items():
            paths.setdefault(path, {})[method] = _operation(note, list(rule.arguments), getattr(view, "roles", None))
    return {"openapi": "3.1.0",
            "info": {"title": "MVC booking API", "version": "2",
                     "description": "VDX Booking Module API v2 shape; see the README's Booking API section."},
            "paths": paths,
            "webhooks": webhooks(),
            "components": {"schemas": component_schemas(), "securitySchemes": {"clientCredentials": {
                "type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "/oauth/token", "scopes": {role: role for role in API_ROLES}}}}}}}


def webhooks() -> dict:
    """The events MVC posts to registered endpoints (OpenAPI 3.1 webhooks), one body model for all."""
    from mvc.models.webhook import EVENT_TYPES

    headers = {name: {"required": True, "schema": {"type": "string"}, "description": text} for name, text in (
        ("webhook-id", "The message id, the same on every attempt"),
        ("webhook-timestamp", "Seconds since 1970 of this attempt"),
        ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body keyed with the whsec_ secret>"))}
    return {event: {"post": {
        "summary": f"{event} (signed, Standard Webhooks)",
        "parameters": [{"name": name, "in": "header", **spec} for name, spec in headers.items()],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(schemas.WebhookEvent)}}},
        "responses": {"200": {"description": "Received (any 2xx); anything else is retried with backoff"}}}}
        for event in EVENT_TYPES}


REQUESTS = (schemas.CreateMeeting, schemas.MeetingFields, schemas.InvitationsIn, schemas.CareCommunicationIn,
            device_schemas.DeviceIn, device_schemas.DeviceFields, device_schemas.CallIn, schemas.WebhookIn)
ANSWERS = (schemas.MeetingOut, schemas.SchedulingOut, schemas.InvitationOut, schemas.InfoOut, schemas.ErrorOut,
           schemas.FhirBundle, device_schemas.DeviceOut, device_schemas.CallOut, schemas.WebhookOut,
           schemas.WebhookEvent)


def component_schemas() -> dict:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses) of every request and answer model."""
    _, defs = models_json_schema([(m, "validation") for m in REQUESTS] + [(m, "serialization") for m in ANSWERS],
                                 ref_template=REF)
    return defs["$defs"]


def model(name: str):
    """The model behind a schema name (tests check answers against the document with it)."""
    return {m.__name__: m for m in REQUESTS + ANSWERS}[name]
