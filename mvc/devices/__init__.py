"""Registered devices: the device's own pages (/device) and their management (/manage/devices)."""
from flask import Blueprint

bp = Blueprint("devices", __name__)

from mvc.devices import manage_views, views  # noqa: E402,F401 - registers the routes


def init_app(app) -> None:
    """Register the blueprint and start the scheduler that calls devices invited to bookings."""
    from mvc.devices import scheduler

    app.register_blueprint(bp)
    scheduler.init_app(app)
