"""The API's routes: small views over mvc.api.meetings and mvc.api.invitations."""
from __future__ import annotations

from functools import wraps

from authlib.oauth2 import OAuth2Error
from flask import Response, current_app, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.exceptions import HTTPException

from mvc import db, logs
from mvc.api import bp, clients, fhir, invitations, meetings, oauth, openapi, webhooks
from mvc.api.meetings import Caller, Refused
from mvc.api.openapi import doc
from mvc.api.schemas import (CareCommunicationIn, CreateMeeting, ErrorOut, FhirBundle, InfoOut, Invalid, InvitationOut,
                             InvitationsIn, MeetingFields, MeetingOut, SchedulingOut, WebhookIn, WebhookOut, answer,
                             format_time, parse)
from mvc.booking.service import active_invitations
from mvc.extensions import limiter
from mvc.manage import audit
from mvc.models import Organisation, WebhookEndpoint
from mvc.models.base import utcnow
from mvc.security import breached_wait, retry_text
from mvc.sms.limits import LimitReached

log = logs.get("mvc.api")
READ = ("meeting-user", "meeting-planner", "meeting-admin", "meeting-provisioner")
WRITE = ("meeting-user", "meeting-planner", "meeting-admin")
MINUTE = 60
PUBLIC = ("api.token", "api.openapi_json", "api.docs")  # no token needed
PREFIXES = ("/v2/", "/oauth/token")


def error(status: int, code: int, text: str, headers: dict | None = None) -> Response:
    """VDX's error body: {errorCode, errorText}."""
    resp = jsonify(answer(ErrorOut, {"errorCode": code, "errorText": text}))
    resp.status_code = status
    resp.headers.update(headers or {})
    return resp


def owns(path: str) -> bool:
    """Whether path is under the API's URL prefixes, where every error is the JSON error body."""
    return path.startswith(PREFIXES)


def http_error(exc: HTTPException) -> Response:
    """An HTTP error under the API's prefixes (no route, wrong method, the token endpoint's limit, …) as JSON."""
    texts = {404: _("No such endpoint."), 405: _("This endpoint does not take this method."),
             429: _("Too many requests. %(retry)s", retry=retry_text(breached_wait())),
             500: _("An error occurred on our side. Please try again in a moment.")}
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error(exc.code or 500, exc.code or 500, texts.get(exc.code, exc.name), headers)


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid):
    return error(400, exc.code, exc.text)


@bp.errorhandler(Refused)
def _refused(exc: Refused):
    return error(exc.status, exc.code, exc.text)


@bp.errorhandler(413)
def _too_large(_exc):
    return error(413, 10, _("The request body is too large."))


@bp.errorhandler(LimitReached)
def _sms_limit(exc: LimitReached):
    return error(429, 40, str(exc), {"Retry-After": "3600"})


@bp.post("/oauth/token")
@doc("post", "Get an access token (grant client_credentials; secret in the Basic header or the form)", form=True)
@limiter.limit("30/minute")
def token():
    """OAuth2 token endpoint: grant client_credentials, secret by Basic header or form (authlib)."""
    return oauth.server().create_token_response()


@bp.before_request
def _authenticate():
    """Every API call: a valid token of an active client, within the client's rate limit."""
    if request.endpoint in PUBLIC:
        return None
    try:
        token = oauth.protector().acquire_token()
    except OAuth2Error as exc:
        log.info("api_refused", error=exc.error, path=request.path)
        return error(exc.status_code, 401, _("A valid access token is needed."), dict(exc.get_headers()))
    g.api_caller = Caller(token.client, token.roles())
    return _rate_limit(token.client) or _touch(token.client)


def _rate_limit(client) -> Response | None:
    live, key = current_app.extensions["mvc.live"], f"api:client:{client.id}"
    if live.count(key, MINUTE) >= current_app.config["API_RATE_PER_MINUTE"]:
        return error(429, 41, _("Too many requests from this client. Please wait a minute."),
                     {"Retry-After": str(MINUTE)})
    live.hit(key, MINUTE)
    return None


def _touch(client) -> None:
    """Keep "last used" current to the minute, without a write on every call."""
    if client.last_used_at is None or (utcnow() - client.last_used_at).total_seconds() > MINUTE:
        client.last_used_at = utcnow()
        db.session().add(client)
        db.session().commit()


@bp.after_request
def _audit(resp: Response) -> Response:
    """Every call of a known client goes into the organisation's audit log: client, action, meeting."""
    caller: Caller | None = g.get("api_caller")
    if caller is None:
        return resp
    uuid = (request.view_args or {}).get("uuid") or g.get("api_uuid") or ""
    action = "api." + (request.endpoint or "unknown").removeprefix("api.")
    # The path only: query strings may hold search words about citizens.
    detail = f"{request.method} {request.path} → {resp.status_code}"
    with Session(db.engine()) as s:  # its own session: the request's may hold a refused change
        audit.record_as(s, clients.label(caller.client), None, caller.client.organisation_id, action,
                        f"meeting {uuid}" if uuid else request.path, detail)
        s.commit()
    return resp


def require(*roles: str) -> None:
    """Refuse (403) a token holding none of roles."""
    if not set(roles) & set(g.api_caller.roles):
        raise Refused(403, 403, _("The client's role does not allow this."))


def allow(*roles: str):
    """Views for tokens holding one of roles (403 otherwise)."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            require(*roles)
            return view(*args, **kwargs)

        wrapped.roles = roles
        return wrapped

    return decorate


def _body() -> dict:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise Invalid(10, _("The request body must be a JSON object."))
    return data


def _meeting_json(meeting, ext) -> dict:
    return meetings.to_json(db.session(), meeting, ext, url_for)


@bp.get("/v2/info")
@doc("get", "Who is asking, and that the API answers", answer=InfoOut)
@allow(*READ)
def info():
    """Who is asking and that the API answers."""
    org = db.session().get(Organisation, g.api_caller.client.organisation_id)
    return jsonify(answer(InfoOut, {"info": [
        {"key": "api", "value": {"name": "MVC booking API", "version": "2"}},
        {"key": "client", "value": {"clientId": g.api_caller.client.client_id, "organisationId": org.slug,
                                    "roles": g.api_caller.roles}}]}))


@bp.get("/v2/meetings")
@doc("get", "Meetings matching the first filter given", answer=MeetingOut, many=True, query=meetings.FILTERS)
@allow(*READ)
def meeting_list():
    """Meetings matching the first filter given."""
    rows = meetings.search(db.session(), g.api_caller, request.args)
    return jsonify([_meeting_json(m, ext) for m, ext in rows])


@bp.post("/v2/meetings")
@doc("post", "Book a meeting (an Idempotency-Key header makes a retry return the first result)",
     body=CreateMeeting, answer=MeetingOut, headers=("Idempotency-Key",))
@allow(*WRITE)
def meeting_create():
    """Book a meeting; a repeated Idempotency-Key returns the first result."""
    key = (request.headers.get("Idempotency-Key") or "").strip()[:200] or None
    meeting, ext, made = meetings.create(db.session(), g.api_caller, _body(), key)
    g.api_uuid = ext.uuid
    resp = jsonify(_meeting_json(meeting, ext))
    if not made:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


@bp.get("/v2/meetings/findByUriWithDomain")
@doc("get", "The meeting at alias@domain", answer=MeetingOut, query=("uri",))
@allow(*READ)
def find_by_uri():
    """The meeting at alias@domain."""
    rows = meetings.search(db.session(), g.api_caller, {"uriWithDomain": request.args.get("uri", "") or "-"})
    if not rows:
        raise Refused(404, 404, _("No meeting with this uri."))
    return jsonify(_meeting_json(*rows[0]))


@bp.route("/v2/meetings/<uuid>", methods=["GET", "PUT", "PATCH", "DELETE"])
@doc("get", "One meeting", answer=MeetingOut)
@doc("put", "Replace a meeting", body=CreateMeeting, answer=MeetingOut, roles=WRITE)
@doc("patch", "Change the fields given (null clears one)", body=MeetingFields, answer=MeetingOut, roles=WRITE)
@doc("delete", "Cancel a meeting; invitees are told", status=204, roles=WRITE)
@allow(*READ)
def meeting(uuid: str):
    """Read, replace, change or cancel one meeting."""
    found = meetings.find(db.session(), g.api_caller, uuid)
    if request.method == "GET":
        return jsonify(_meeting_json(*found))
    require(*WRITE)
    if request.method == "DELETE":
        meetings.delete(db.session(), g.api_caller, found[0])
        return Response(status=204)
    meetings.update(db.session(), g.api_caller, *found, _body(), replace=request.method == "PUT")
    return jsonify(_meeting_json(*found))


@bp.get("/v2/scheduling-info/<uuid>")
@doc("get", "PINs, the address and the links of one meeting", answer=SchedulingOut)
@allow(*READ)
def scheduling_info(uuid: str):
    """PINs, the address and the links of one meeting."""
    meeting_, ext = meetings.find(db.session(), g.api_caller, uuid)
    return jsonify(answer(SchedulingOut, meetings.scheduling(meeting_, ext)))


@bp.route("/v2/meetings/<uuid>/invitations", methods=["GET", "POST"])
@doc("get", "Every invitee's link and delivery state", answer=InvitationOut, many=True)
@doc("post", "Invite people; their SMS and e-mail go out (send=false: links only)", body=InvitationsIn,
     answer=InvitationOut, many=True, status=201, roles=WRITE)
@allow(*READ)
def meeting_invitations(uuid: str):
    """GET: every invitee's link and delivery state. POST: invite more people (send=false: links only)."""
    meeting_, _ext = meetings.find(db.session(), g.api_caller, uuid)
    if request.method == "GET":
        return jsonify(invitations.to_json(db.session(), meeting_, active_invitations(db.session(), meeting_)))
    require(*WRITE)
    meetings.check_changeable(meeting_)
    added = invitations.invite(db.session(), meeting_, parse(InvitationsIn, _body()))
    return jsonify(invitations.to_json(db.session(), meeting_, added)), 201


@bp.get("/api/v2/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 document, generated from the routes and the models that check requests."""
    return jsonify(openapi.document(current_app))


@bp.get("/api/v2/docs")
def docs():
    """The same document as a readable page."""
    return render_template("api/docs.html", spec=openapi.document(current_app))


@bp.post("/v2/meetings/<uuid>/care-communication")
@doc("post", "A MedCom CareCommunication (FHIR R4 message Bundle) carrying a join link; the CPR number is not stored",
     body=CareCommunicationIn, answer=FhirBundle)
@allow(*WRITE)
def care_communication(uuid: str):
    """Export the invitation as a CareCommunication message for the receiving organisation to send on."""
    meeting_, _ext = meetings.find(db.session(), g.api_caller, uuid)
    meetings.check_changeable(meeting_)
    wanted = parse(CareCommunicationIn, _body())
    org = db.session().get(Organisation, meeting_.organisation_id)
    sender = fhir.sender_party(org, wanted)  # before the link: a refusal adds no invitee
    link = invitations.link_for(db.session(), meeting_, wanted.invitationId, wanted.receiver.name)
    return jsonify(answer(FhirBundle, fhir.bundle(org, meeting_, wanted, sender, link)))


# -- webhooks (issue 11 item 4): each client manages its own endpoints -------------------------

def _webhook_json(endpoint: WebhookEndpoint, secret: bool = False) -> dict:
    data = {"id": endpoint.id, "url": endpoint.url, "events": endpoint.events.split(),
            "createdTime": format_time(endpoint.created_at)}
    return answer(WebhookOut, data | ({"secret": endpoint.secret} if secret else {}))


@bp.route("/v2/webhooks", methods=["GET", "POST"])
@doc("get", "The client's webhook endpoints", answer=WebhookOut, many=True)
@doc("post", "Register an https endpoint for signed events; the signing secret is in this answer only",
     body=WebhookIn, answer=WebhookOut, status=201)
@allow(*READ)
def webhook_list():
    """GET: the client's endpoints. POST: register one (its secret is shown this once)."""
    if request.method == "GET":
        return jsonify([_webhook_json(e) for e in webhooks.endpoints_of(db.session(), g.api_caller.client)])
    wanted = parse(WebhookIn, _body())
    try:
        endpoint = webhooks.register(db.session(), g.api_caller.client, wanted.url.strip(), list(wanted.events))
    except ValueError as exc:
        raise Invalid(17, str(exc)) from None
    return jsonify(_webhook_json(endpoint, secret=True)), 201, {"Cache-Control": "no-store"}


@bp.route("/v2/webhooks/<endpoint_id>", methods=["GET", "DELETE"])
@doc("get", "One webhook endpoint", answer=WebhookOut)
@doc("delete", "Stop an endpoint; its pending events are dropped", status=204)
@allow(*READ)
def webhook(endpoint_id: str):
    """Read or delete one of the client's endpoints."""
    found = next((e for e in webhooks.endpoints_of(db.session(), g.api_caller.client)
                  if str(e.id) == endpoint_id), None)
    if found is None:
        raise Refused(404, 404, _("No webhook endpoint with this id."))
    if request.method == "DELETE":
        webhooks.remove(db.session(), found)
        return Response(status=204)
    return jsonify(_webhook_json(found))
