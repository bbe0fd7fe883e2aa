"""Open video consultation hours: citizens queue at /q/<alias>, staff take the next into a private call."""
from flask import Blueprint

bp = Blueprint("queue", __name__)

from mvc.waitqueue import citizen_views, manage_views, staff_views  # noqa: E402,F401 - registers the routes
