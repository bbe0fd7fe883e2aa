"""Outbox page for organisation admins and the Twilio status callback."""
from __future__ import annotations

import re

from flask import abort, current_app, render_template, request
from sqlmodel import select
from twilio.request_validator import RequestValidator

from mvc import db, logs
from mvc.auth import current_user, require_staff
from mvc.extensions import csrf
from mvc.models import SmsMessage
from mvc.sms import bp, service
from mvc.sms.phones import pretty

log = logs.get("mvc.sms")
LINK = re.compile(r"https?://\S+")


def _link_in(body: str) -> str:
    match = LINK.search(body)
    return match.group(0) if match else ""


@bp.get("/sms/outbox")
@require_staff("org-admin")
def outbox():
    """The organisation's latest texts: what was sent or kept, and how far it got."""
    rows = db.session().exec(select(SmsMessage).where(SmsMessage.organisation_id == current_user().organisation_id)
                             .order_by(SmsMessage.id.desc()).limit(200)).all()
    return render_template("sms/outbox.html", messages=rows, pretty=pretty, label=service.status_label,
                           problem=service.problem_text, link_in=_link_in, backend=current_app.config["SMS_BACKEND"])


@bp.post("/sms/status/<int:message_id>")
@csrf.exempt
def status(message_id: int):
    """Twilio's delivery report: refused unless signed with our auth token; repeats change nothing."""
    url = service.public_url(request.full_path.rstrip("?"))
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
    if not current_app.config["TWILIO_AUTH_TOKEN"] or not validator.validate(
            url, request.form.to_dict(), request.headers.get("X-Twilio-Signature", "")):
        log.warning("sms_status_refused", message=message_id, client=request.remote_addr)
        abort(403)
    msg = db.session().get(SmsMessage, message_id)
    if msg is None or msg.provider_sid != request.form.get("MessageSid"):
        abort(404)
    code = request.form.get("ErrorCode", "")
    service.apply_report(db.session(), msg, request.form.get("MessageStatus", ""), int(code) if code.isdigit() else None)
    return "", 204
