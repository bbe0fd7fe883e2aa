"""Who may touch what: objects belong to one organisation, and only its staff may reach them."""
from __future__ import annotations

from flask import abort

from mvc import db
from mvc.auth import current_user


def owned(model, object_id: int):
    """The object if it belongs to the signed-in user's organisation; 404 if missing, 403 if not theirs."""
    obj = db.session().get(model, object_id)
    if obj is None:
        abort(404)
    if obj.organisation_id is None or obj.organisation_id != current_user().organisation_id:
        abort(403)
    return obj
