"""WSGI entry point for gunicorn."""
from config import settings
from mvc import create_app

# Exit code 4 is gunicorn's "app failed to load": its arbiter stops instead of booting the worker again.
with settings.refusing_to_start(exit_code=4):
    app = create_app()
