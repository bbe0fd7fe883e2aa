"""Organisation admins' API clients: create (secret shown once), rotate, revoke; the work is in mvc.api.clients."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mvc import db
from mvc.api import clients, webhooks
from mvc.auth import current_user, role_required
from mvc.manage import bp
from mvc.manage.access import owned
from mvc.manage.forms import Checked, text
from mvc.manage import audit
from mvc.models import ApiClient, WebhookEndpoint

ROLE_LABELS = {
    "meeting-user": _l("meeting-user: books and changes its own meetings"),
    "meeting-planner": _l("meeting-planner: all the organisation's meetings, also for a named staff member"),
    "meeting-admin": _l("meeting-admin: as meeting-planner"),
    "meeting-provisioner": _l("meeting-provisioner: reads meetings and their scheduling details"),
}


def _check(form) -> Checked:
    values = {"name": " ".join(text(form, "name", 120).split()), "roles": clients.clean_roles(form.getlist("roles"))}
    errors = {}
    if not values["name"] or len(values["name"]) > 120:
        errors["name"] = _("Write the name of the system, at most 120 characters.")
    if not values["roles"]:
        errors["roles"] = _("Choose at least one role.")
    return Checked(values, errors)


def _secret_page(client: ApiClient, secret: str, rotated: bool):
    resp = render_template("manage/api_client_secret.html", client=client, secret=secret, rotated=rotated,
                           role_labels=ROLE_LABELS)
    return resp, 200, {"Cache-Control": "no-store"}


@bp.route("/manage/api-clients", methods=["GET", "POST"])
@role_required("org-admin")
def api_clients():
    """The organisation's API clients and the form for a new one."""
    user = current_user()
    values, errors = {"name": "", "roles": ["meeting-planner"]}, {}
    if request.method == "POST":
        checked = _check(request.form)
        if checked.ok:
            client, secret = clients.create(db.session(), user.organisation_id, checked.values["name"],
                                            checked.values["roles"], actor=user)
            return _secret_page(client, secret, rotated=False)
        values, errors = checked.values, checked.errors
    return _list_page(values, errors)


def _list_page(values: dict, errors: dict, hook_errors: dict | None = None):
    user = current_user()
    found = clients.org_clients(db.session(), user.organisation_id)
    hooks = {c.id: webhooks.endpoints_of(db.session(), c) for c in found}
    page = render_template("manage/api_clients.html", clients=found, values=values, errors=errors, hooks=hooks,
                           hook_errors=hook_errors or {}, role_labels=ROLE_LABELS)
    return page, 422 if errors or hook_errors else 200


@bp.post("/manage/api-clients/<int:client_pk>/rotate")
@role_required("org-admin")
def api_client_rotate(client_pk: int):
    """A new secret; the old one and its tokens stop working at once."""
    client = owned(ApiClient, client_pk)
    if not client.active:
        return redirect(url_for("manage.api_clients"))
    return _secret_page(client, clients.rotate(db.session(), client, current_user()), rotated=True)


@bp.post("/manage/api-clients/<int:client_pk>/revoke")
@role_required("org-admin")
def api_client_revoke(client_pk: int):
    """Take the client's access away at once."""
    client = owned(ApiClient, client_pk)
    if client.active:
        clients.revoke(db.session(), client, current_user())
        flash(_("%(name)s can no longer use the API.", name=client.name))
    return redirect(url_for("manage.api_clients"))


# -- webhooks (issue 11 item 4) ----------------------------------------------------------------

@bp.post("/manage/api-clients/<int:client_pk>/webhooks")
@role_required("org-admin")
def api_client_webhook_add(client_pk: int):
    """Register a webhook endpoint for a client; its signing secret is shown this once."""
    client = owned(ApiClient, client_pk)
    url = text(request.form, "url", 500).strip()
    try:
        endpoint = webhooks.register(db.session(), client, url, []) if client.active else None
    except ValueError as exc:
        return _list_page({"name": "", "roles": ["meeting-planner"]}, {}, {client.id: str(exc)})
    if endpoint is None:
        return redirect(url_for("manage.api_clients"))
    audit.record(db.session(), current_user(), "webhook.create", clients.label(client), url,
                 organisation_id=client.organisation_id)
    db.session().commit()
    page = render_template("manage/webhook_secret.html", client=client, endpoint=endpoint)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/manage/api-clients/<int:client_pk>/webhooks/<int:endpoint_id>/delete")
@role_required("org-admin")
def api_client_webhook_delete(client_pk: int, endpoint_id: int):
    """Stop a webhook endpoint (pending events to it are dropped)."""
    client = owned(ApiClient, client_pk)
    endpoint = db.session().get(WebhookEndpoint, endpoint_id)
    if endpoint is not None and endpoint.client_pk == client.id and endpoint.deleted_at is None:
        webhooks.remove(db.session(), endpoint)
        audit.record(db.session(), current_user(), "webhook.delete", clients.label(client), endpoint.url,
                     organisation_id=client.organisation_id)
        db.session().commit()
        flash(_("Events are no longer sent to %(url)s.", url=endpoint.url))
    return redirect(url_for("manage.api_clients"))
