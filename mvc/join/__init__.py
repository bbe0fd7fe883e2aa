"""The citizen's way in: the join page, PIN and invitation checks."""
from flask import Blueprint

bp = Blueprint("join", __name__)

from mvc.join import views  # noqa: E402,F401 - registers routes
