"""Instant SMS meetings (SMS Video), booked meetings (VDX Booking) and the invitee's own page."""
from flask import Blueprint

bp = Blueprint("booking", __name__)

from mvc.booking import views  # noqa: E402,F401 - registers routes
