"""Troubleshooting: the citizens' pre-call check (/check) with its support code, and the support timeline."""
from flask import Blueprint

bp = Blueprint("support", __name__)

from mvc.support import views  # noqa: E402,F401 - registers the routes
