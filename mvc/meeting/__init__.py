"""The meeting: the live page, its websocket, and what travels over it."""
from flask import Blueprint

bp = Blueprint("meeting", __name__)

from mvc.meeting import views  # noqa: E402,F401 - registers routes
