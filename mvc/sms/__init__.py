"""SMS: the sender backends, the outbox page for admins and Twilio's delivery reports."""
from flask import Blueprint

bp = Blueprint("sms", __name__)

from mvc.sms import views  # noqa: E402,F401 - registers routes
