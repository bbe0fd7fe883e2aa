"""The booking API for case systems: OAuth2 client credentials and VDX-shaped meetings (JSON, no CSRF)."""
from flask import Blueprint, Flask

bp = Blueprint("api", __name__)


def init_app(app: Flask) -> None:
    """Bind the OAuth2 server and protector, register the API and exempt it (and only it) from CSRF."""
    from mvc.api import devices, oauth, views  # noqa: F401 - views and devices register the routes
    from mvc.extensions import csrf

    oauth.init_app(app)
    csrf.exempt(bp)
    app.register_blueprint(bp)
