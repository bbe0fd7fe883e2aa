"""WSGI entry point for gunicorn."""
from mvc import create_app

app = create_app()
