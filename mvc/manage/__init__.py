"""Management (org admins): fixed rooms, themes, staff, units, API clients and the audit log; hosts' own room list."""
from flask import Blueprint

bp = Blueprint("manage", __name__)

from mvc.manage import views, theme_views, user_views, api_client_views, unit_views  # noqa: E402,F401 - registers the routes
