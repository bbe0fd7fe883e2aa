"""The citizen's way in: the join page, PIN and invitation checks."""
from flask import Blueprint

from mvc import participants

bp = Blueprint("join", __name__)
bp.after_request(participants.keep_device)  # a long-lived device id, so removals stick

from mvc.join import views  # noqa: E402,F401 - registers routes
