"""MVC: a lightweight, server-rendered video meeting client."""
from __future__ import annotations

from pathlib import Path

from flask import Flask


ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app; tests pass their own config on top of the environment's."""
    from config import settings
    from mvc import db, extensions, i18n, live, logs, security, timers
    from mvc.media_client import init_media

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_relative_config=False,
    )
    app.config.update(settings.load())
    app.config.update(
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "mvc" / "translations"),
        BABEL_DEFAULT_LOCALE="da",
        WTF_CSRF_TIME_LIMIT=None,
        SOCK_SERVER_OPTIONS={"ping_interval": 25, "max_message_size": 64 * 1024},
        RATELIMIT_STORAGE_URI=None,
        RATELIMIT_STRATEGY="moving-window",  # a refusal can then say exactly when to try again
        # Explicit: flask-limiter otherwise inherits "disabled" from an earlier app in the process.
        RATELIMIT_ENABLED=True,
        COMPRESS_ALGORITHM=["gzip"],
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        COMPRESS_MIMETYPES=["text/html", "text/css", "application/javascript", "text/javascript",
                            "application/json", "image/svg+xml", "text/calendar"],
    )
    if config:
        app.config.update(config)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"

    logs.configure(app.config["LOG_LEVEL"])
    security.init_app(app)
    db.init_app(app)
    extensions.sock.init_app(app)
    extensions.compress.init_app(app)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    live.init_app(app)
    app.extensions["mvc.timers"] = timers.Scheduler()  # meeting timers; stop() it with the app
    init_media(app)
    from mvc.sms import service as sms_service

    sms_service.init_app(app, app.config.get("SMS_SENDER"))
    from mvc.mail import service as mail_service

    mail_service.init_app(app, app.config.get("MAIL_SENDER"))
    from mvc.booking import reminders

    reminders.init_app(app)
    from mvc.api import webhook_sender

    webhook_sender.init_app(app)  # webhooks

    from mvc.stats import retention

    retention.init_app(app)

    from mvc import api, auth, booking, health, join, manage, meeting, sms, stats, support, theming, waitqueue

    auth.init_app(app)

    app.register_blueprint(i18n.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(theming.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(join.bp)
    app.register_blueprint(meeting.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(sms.bp)
    app.register_blueprint(booking.bp)
    from mvc import devices

    devices.init_app(app)
    api.init_app(app)
    app.register_blueprint(waitqueue.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(support.bp)
    _template_helpers(app)
    return app


def _template_helpers(app: Flask) -> None:
    from zoneinfo import ZoneInfo

    from flask import render_template, request
    from flask_babel import get_locale
    from flask_babel import gettext as _
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    from mvc.api import views as api_views
    from mvc.auth import current_user
    from mvc.models.room import LAYOUT_LABELS
    from mvc.security import breached_wait, retry_text

    local = ZoneInfo("Europe/Copenhagen")

    @app.context_processor
    def _globals() -> dict:
        return {"locale": str(get_locale()), "current_user": current_user(), "layout_labels": LAYOUT_LABELS}

    @app.template_filter("localtime")
    def _localtime(value, fmt: str = "%d-%m-%Y %H:%M") -> str:
        return value.astimezone(local).strftime(fmt) if value else ""

    def page(exc: HTTPException, title: str, message: str):
        if api_views.owns(request.path):  # the API answers its errors as JSON, the site with a page
            return api_views.http_error(exc)
        return render_template("error.html", title=title, message=message, theme=None), exc.code

    @app.errorhandler(403)
    def _forbidden(e):
        return page(e, _("Not allowed"), _("You do not have access to this page. Ask your organisation's administrator if you need it."))

    @app.errorhandler(404)
    def _not_found(e):
        return page(e, _("Page not found"), _("The page you asked for does not exist."))

    @app.errorhandler(405)
    def _method(e):
        return page(e, _("That did not work"), _("The page cannot be used that way."))

    @app.errorhandler(413)
    def _too_large(e):
        return page(e, _("Too large"), _("What you sent is too large. Files may be at most 2 MB."))

    @app.errorhandler(429)
    def _too_many(e):
        return page(e, _("Please wait a moment"), _("There have been too many attempts. %(retry)s",
                                                     retry=retry_text(breached_wait())))

    @app.errorhandler(CSRFError)
    def _csrf(e):
        return page(e, _("Please try again"), _("The page had been open too long or was sent twice. Go back, reload the page and try again."))

    @app.errorhandler(HTTPException)
    def _other(e):
        return api_views.http_error(e) if api_views.owns(request.path) else e

    @app.errorhandler(500)
    def _server_error(e):
        return page(e, _("Something went wrong"), _("An error occurred on our side. Please try again in a moment."))
