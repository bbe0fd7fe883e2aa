"""Statistics: recording, retention, the admins' statistics page and its CSV export."""
from flask import Blueprint

bp = Blueprint("stats", __name__)
