"""Staff login with local accounts (argon2)."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlmodel import select

from mvc import db, logs
from mvc.extensions import limiter
from mvc.i18n import safe_next
from mvc.models import User

bp = Blueprint("auth", __name__)
log = logs.get("mvc.auth")
hasher = PasswordHasher()
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = hasher.hash("not-a-password")


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


def current_user() -> User | None:
    """The signed-in staff member, if any."""
    if "user" not in g:
        uid = session.get("uid")
        g.user = db.session().get(User, uid) if isinstance(uid, int) else None
        if g.user is not None and not g.user.active:
            g.user = None
    return g.user


def login_user(user: User) -> None:
    """Start a staff session (a fresh session guards against fixation)."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    if lang:
        session["lang"] = lang
    g.user = user


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"])
def login():
    """Sign in with e-mail and password."""
    error = None
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()[:254]
        user = db.session().exec(select(User).where(User.email == email)).first()
        if verify_password(user, request.form.get("password", "")[:200]):
            login_user(user)
            log.info("login", user=user.id)
            return redirect(safe_next(request.form.get("next")))
        log.warning("login_failed", client=request.remote_addr)
        error = _("The e-mail or password is wrong.")
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, next=request.values.get("next", "")), status


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
