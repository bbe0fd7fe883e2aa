"""Staff login: local accounts (argon2) and, when configured, OpenID Connect (authlib, PKCE)."""
from __future__ import annotations

import time
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlmodel import select

from mvc import db, logs, security
from mvc.extensions import limiter
from mvc.security import safe_next
from mvc.models import User

bp = Blueprint("auth", __name__)
log = logs.get("mvc.auth")
hasher = PasswordHasher()
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = hasher.hash("not-a-password")


def init_app(app: Flask) -> None:
    """Register the OpenID Connect client when an issuer is configured.

    Each app gets its own OAuth registry: a shared one would keep the first app's
    provider metadata and keys for every later app (tests run several providers).
    """
    oauth = OAuth(app)
    if app.config.get("OIDC_ISSUER"):
        oauth.register(
            "oidc",
            client_id=app.config["OIDC_CLIENT_ID"],
            client_secret=app.config["OIDC_CLIENT_SECRET"],
            server_metadata_url=app.config["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
        )
    app.extensions["mvc.oauth"] = oauth


def oidc_client():
    """The OpenID Connect client, or None when OIDC login is not configured."""
    oauth = current_app.extensions["mvc.oauth"]
    return oauth.create_client("oidc") if current_app.config.get("OIDC_ISSUER") else None


def hash_password(password: str) -> str:
    """An argon2 hash of the password."""
    return hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """True when password matches the user's hash (constant work either way)."""
    try:
        return hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password) and bool(
            user and user.password_hash and user.active
        )
    except (VerifyMismatchError, InvalidHashError):
        return False


def _session_fresh() -> bool:
    # An absolute limit: a session kept alive by activity still ends SESSION_HOURS after login.
    started = session.get("auth_at")
    return isinstance(started, int) and time.time() - started < current_app.config["SESSION_HOURS"] * 3600


def current_user() -> User | None:
    """The signed-in staff member, if any (inactive accounts and expired sessions count as none)."""
    if "user" not in g:
        uid = session.get("uid")
        g.user = db.session().get(User, uid) if isinstance(uid, int) and _session_fresh() else None
        if g.user is not None and not g.user.active:
            g.user = None
    return g.user


def login_user(user: User) -> None:
    """Start a staff session (a fresh session guards against fixation)."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["auth_at"] = int(time.time())
    if lang:
        session["lang"] = lang
    g.user = user


def role_required(role: str):
    """Views for signed-in staff with the role: others go to login (401) or get 403."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _after_login(user: User, target: str | None):
    """Redirect a freshly signed-in staff member and remember this browser for the account."""
    response = redirect(safe_next(target, url_for("manage.my_rooms")))
    security.remember_device(response, user.id)
    return response


def _account_limit() -> security.Limit:
    """Wrong passwords one account takes from browsers it has not signed in from."""
    cfg = current_app.config
    return security.Limit("login-account", cfg["LOGIN_ACCOUNT_TRIES"], cfg["LOGIN_WINDOW_SECONDS"])


def _password_login(email: str, password: str) -> tuple[User | None, str | None, int]:
    """(user, error, status) for a password login; guessing slows the account but not its own browsers."""
    user = db.session().exec(select(User).where(User.email == email)).first()
    known = security.known_device(user.id if user else None)
    wait = 0 if known else _account_limit().wait(email)
    if wait:
        log.warning("login_slowed", client=security.client_id(), wait=wait)
        return None, _("Many wrong passwords have been tried for this account. %(retry)s "
                       "A computer or phone you have signed in from before can sign in now.",
                       retry=security.retry_text(wait)), 429
    if verify_password(user, password):
        return user, None, 200
    if not known:
        _account_limit().spend(email)
    log.warning("login_failed", client=security.client_id())
    return None, _("The e-mail or password is wrong."), 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    """Sign in with e-mail and password."""
    error, status = None, 200
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()[:254]
        user, error, status = _password_login(email, request.form.get("password", "")[:200])
        if user is not None:
            login_user(user)
            log.info("login", user=user.id, method="password")
            return _after_login(user, request.form.get("next"))
    return render_template("auth/login.html", error=error, next=request.values.get("next", ""),
                           oidc=oidc_client() is not None), status


@bp.get("/login/oidc")
@limiter.limit("20/minute")
def oidc_start():
    """Send the staff member to the organisation's identity provider."""
    client = oidc_client()
    if client is None:
        abort(404)
    session["oidc_next"] = safe_next(request.args.get("next"), "")
    return client.authorize_redirect(url_for("auth.oidc_callback", _external=True))


@bp.get("/login/oidc/callback")
@limiter.limit("20/minute")
def oidc_callback():
    """Finish an OpenID Connect login: a known, active account signs in; anyone else is refused."""
    client = oidc_client()
    if client is None:
        abort(404)
    try:
        claims = client.authorize_access_token()["userinfo"]
    except (OAuthError, KeyError, ValueError) as exc:
        log.warning("oidc_failed", reason=str(exc)[:200])
        return _login_refused(_("The login did not succeed. Please try again."))
    user = user_for_claims(claims)
    if user is None:
        log.warning("oidc_unknown", subject=str(claims.get("sub"))[:80])
        return _login_refused(_("There is no active staff account for you here. Ask your organisation's administrator."))
    target = session.pop("oidc_next", "")
    login_user(user)
    log.info("login", user=user.id, method="oidc")
    return _after_login(user, target)


def _login_refused(message: str):
    return render_template("auth/login.html", error=message, next="", oidc=True), 403


def user_for_claims(claims: dict) -> User | None:
    """The active account an ID token names: by subject, else by a verified e-mail not yet linked."""
    s = db.session()
    sub = str(claims.get("sub") or "")[:200]
    user = s.exec(select(User).where(User.oidc_subject == sub)).first() if sub else None
    email = str(claims.get("email") or "").strip().lower()
    if user is None and sub and email and claims.get("email_verified") is True:
        user = s.exec(select(User).where(User.email == email, User.oidc_subject == None)).first()  # noqa: E711
        if user is not None:
            user.oidc_subject = sub  # link once; later logins match on the subject
            s.add(user)
            s.commit()
    return user if user is not None and user.active else None


@bp.post("/logout")
def logout():
    """End the staff session."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("join.index"))


def require_staff(role: str = "host"):
    """Decorator: the view needs signed-in staff with the role (login page otherwise, 403 without it)."""
    from functools import wraps

    from flask import abort

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not user.has_role(role) or user.organisation_id is None:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate
