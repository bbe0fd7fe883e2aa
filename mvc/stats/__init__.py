"""Statistics: recording, retention, the admins' statistics page and its CSV export."""
from flask import Blueprint

bp = Blueprint("stats", __name__)

from mvc.stats import metrics, views  # noqa: E402,F401 - registers the routes
