"""Staff login: local accounts, rate limits, session expiry, logout, and OpenID Connect with PKCE."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from sqlmodel import select

from mvc.models import User
from mvc import security
from tests import staff
from tests.conftest import base_config, build_app
from tests.oidc_provider import Provider
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here


def test_login_goes_to_my_rooms_and_wrong_password_is_refused(client, db):
    staff.admin(db)
    wrong = staff.login(client, "admin@demo.example", "wrong password")
    assert wrong.status_code == 401 and "The e-mail or password is wrong." in wrong.get_data(as_text=True)
    assert client.get("/rooms").status_code == 302
    ok = staff.login(client, "ADMIN@demo.example ")
    assert ok.status_code == 302 and ok.headers["Location"] == "/rooms"
    assert client.get("/rooms").status_code == 200


def test_login_returns_to_a_local_next_page_only(client, db):
    staff.admin(db)
    page = client.get("/login?next=/manage/themes").get_data(as_text=True)
    data = {"csrf_token": staff.csrf_from(page), "email": "admin@demo.example", "password": staff.PASSWORD}
    assert client.post("/login", data={**data, "next": "/manage/themes"}).headers["Location"] == "/manage/themes"
    client.post("/logout", data={"csrf_token": staff.token(client, "/rooms")})
    data["csrf_token"] = staff.token(client, "/login")
    assert client.post("/login", data={**data, "next": "//evil.example/"}).headers["Location"] == "/rooms"


def test_login_attempts_are_rate_limited_per_client(client, db):
    staff.admin(db)
    statuses = [staff.login(client, "admin@demo.example", "guess", remote="10.9.9.9").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # Even the right password waits out the limit, and the page says for how long.
    refused = staff.login(client, "admin@demo.example", remote="10.9.9.9")
    assert refused.status_code == 429
    assert re.search(r"There have been too many attempts\. Try again in (1 minute|\d+ seconds?)\.",
                     refused.get_data(as_text=True))
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def _guess_from_elsewhere(app, times: int, email: str = "admin@demo.example") -> list[int]:
    """Wrong passwords for the account from other browsers at other addresses; their statuses."""
    return [staff.login(app.test_client(), email, "guess", remote=f"10.8.0.{i}").status_code for i in range(times)]


def test_password_guessing_slows_the_account_and_says_when_to_retry(app, client, db):
    staff.admin(db)
    statuses = _guess_from_elsewhere(app, 20)
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    # A browser that never signed in to the account waits, even with the right password...
    refused = staff.login(client, "admin@demo.example", remote="10.7.0.1")
    assert refused.status_code == 429
    assert "Try again in 15 minutes." in refused.get_data(as_text=True)
    assert client.get("/rooms").status_code == 302


def test_owner_signs_in_from_their_usual_browser_after_twenty_wrong_passwords(app, client, db):
    staff.admin(db)
    assert staff.login(client, "admin@demo.example", remote="10.7.0.1").status_code == 302
    client.post("/logout", data={"csrf_token": staff.token(client, "/rooms")})
    _guess_from_elsewhere(app, 20)
    resp = staff.login(client, "admin@demo.example", remote="10.7.0.1")
    assert resp.status_code == 302 and resp.headers["Location"] == "/rooms"
    assert client.get("/rooms").status_code == 200


def test_a_forged_known_device_cookie_does_not_lift_the_account_limit(app, client, db):
    staff.admin(db)
    _guess_from_elsewhere(app, 10)
    client.set_cookie(security.DEVICE_COOKIE, "WzFd.forged.signature")
    assert staff.login(client, "admin@demo.example", remote="10.7.0.2").status_code == 429


def test_logout_ends_the_session(client, db):
    staff.admin(db)
    staff.login(client, "admin@demo.example")
    resp = client.post("/logout", data={"csrf_token": staff.token(client, "/rooms")})
    assert resp.status_code == 302
    assert client.get("/rooms").status_code == 302
    assert client.get("/manage/rooms").headers["Location"].startswith("/login")


def test_session_expires_after_the_configured_hours_even_when_active(client, db, app):
    staff.admin(db)
    staff.login(client, "admin@demo.example")
    assert client.get("/rooms").status_code == 200
    with client.session_transaction() as session:
        session["auth_at"] -= app.config["SESSION_HOURS"] * 3600 + 1
    assert client.get("/rooms").status_code == 302


def test_login_page_offers_no_oidc_when_not_configured(client):
    client.get("/lang/en")
    assert "organisation's login" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/oidc").status_code == 404


# OpenID Connect against a real local provider ------------------------------------------


@pytest.fixture
def provider():
    idp = Provider()
    yield idp
    idp.stop()


@pytest.fixture
def oidc_app(tmp_path, provider):
    app = build_app(base_config(tmp_path, OIDC_ISSUER=provider.url, OIDC_CLIENT_ID="mvc", OIDC_CLIENT_SECRET="s3cret"))
    yield app
    app.extensions["mvc.media"].stop()
    app.extensions["mvc.live"].close()


@pytest.fixture
def oidc_client(oidc_app):
    return oidc_app.test_client()


@pytest.fixture
def oidc_db(oidc_app):
    from sqlmodel import Session

    with Session(oidc_app.extensions["mvc.engine"], expire_on_commit=False) as session:
        yield session


def oidc_login(client, provider, next_path=""):
    """Walk the browser's part: our app → provider → back to our callback. Returns the callback's response."""
    start = client.get("/login/oidc" + (f"?next={next_path}" if next_path else ""))
    assert start.status_code == 302 and start.headers["Location"].startswith(provider.url + "/authorize")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/login/oidc/callback"
    return client.get(f"{back.path}?{back.query}")


def test_oidc_login_links_a_known_account_by_verified_email_with_pkce(oidc_client, oidc_db, provider):
    provider.user = {"sub": "idp-123", "email": "Admin@Demo.example", "email_verified": True, "name": "Demo Admin"}
    oidc_client.get("/lang/en")
    assert "Log in with your organisation's login" in oidc_client.get("/login").get_data(as_text=True)
    resp = oidc_login(oidc_client, provider, next_path="/manage/themes")
    assert resp.status_code == 302 and resp.headers["Location"] == "/manage/themes"
    assert oidc_client.get("/manage/rooms").status_code == 200
    seen = provider.requests[-1]
    assert seen["code_challenge_method"] == "S256" and len(seen["code_challenge"]) >= 43 and seen["nonce"]
    assert "openid" in seen["scope"].split()
    admin = oidc_db.exec(select(User).where(User.email == "admin@demo.example")).one()
    assert admin.oidc_subject == "idp-123"


def test_oidc_later_logins_match_the_subject(oidc_client, oidc_db, provider):
    staff.make_user(oidc_db, "nina@demo.example", roles="host", password="")
    nina = oidc_db.exec(select(User).where(User.email == "nina@demo.example")).one()
    nina.oidc_subject = "idp-nina"
    oidc_db.add(nina)
    oidc_db.commit()
    provider.user = {"sub": "idp-nina", "email": "nina.new@demo.example", "email_verified": False}
    resp = oidc_login(oidc_client, provider)
    assert resp.status_code == 302 and resp.headers["Location"] == "/rooms"
    assert oidc_client.get("/rooms").status_code == 200


@pytest.mark.parametrize("claims", [
    {"sub": "idp-stranger", "email": "stranger@elsewhere.example", "email_verified": True},
    {"sub": "idp-unverified", "email": "admin@demo.example", "email_verified": False},
])
def test_oidc_refuses_unknown_or_unverified_people(oidc_client, oidc_db, provider, claims):
    provider.user = claims
    oidc_client.get("/lang/en")
    resp = oidc_login(oidc_client, provider)
    assert resp.status_code == 403 and "There is no active staff account for you here" in resp.get_data(as_text=True)
    assert oidc_client.get("/rooms").status_code == 302
    assert oidc_db.exec(select(User).where(User.oidc_subject == claims["sub"])).first() is None


def test_oidc_refuses_deactivated_account(oidc_client, oidc_db, provider):
    admin = oidc_db.exec(select(User).where(User.email == "admin@demo.example")).one()
    admin.oidc_subject, admin.active = "idp-123", False
    oidc_db.add(admin)
    oidc_db.commit()
    provider.user = {"sub": "idp-123"}
    assert oidc_login(oidc_client, provider).status_code == 403
    assert oidc_client.get("/rooms").status_code == 302


def test_oidc_login_works_while_the_password_is_being_guessed(oidc_app, oidc_client, oidc_db, provider):
    staff.admin(oidc_db)
    assert set(_guess_from_elsewhere(oidc_app, 20)[10:]) == {429}
    provider.user = {"sub": "idp-123", "email": "admin@demo.example", "email_verified": True}
    resp = oidc_login(oidc_client, provider)
    assert resp.status_code == 302 and resp.headers["Location"] == "/rooms"
    assert oidc_client.get("/rooms").status_code == 200


@pytest.mark.parametrize("hostile", ["/%09/example.com", "//example.com", "/%5cexample.com", "https://example.com/"])
def test_oidc_return_never_leaves_the_site(oidc_client, oidc_db, provider, hostile):
    provider.user = {"sub": "idp-123", "email": "admin@demo.example", "email_verified": True}
    resp = oidc_login(oidc_client, provider, next_path=hostile)
    assert resp.status_code == 302 and resp.headers["Location"] == "/rooms"


def test_oidc_refuses_a_forged_state(oidc_client, provider):
    provider.user = {"sub": "idp-123", "email": "admin@demo.example", "email_verified": True}
    oidc_client.get("/lang/en")
    start = oidc_client.get("/login/oidc")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(at_provider.headers["Location"])
    forged = back.query.replace("state=", "state=x")
    resp = oidc_client.get(f"{back.path}?{forged}")
    assert resp.status_code == 403 and "The login did not succeed" in resp.get_data(as_text=True)
    assert oidc_client.get("/rooms").status_code == 302


def test_many_staff_behind_one_address_all_sign_in(app, db):
    for i in range(12):
        staff.make_user(db, f"host{i}@demo.example")
    statuses = [staff.login(app.test_client(), f"host{i}@demo.example", remote="10.7.7.7").status_code for i in range(12)]
    assert statuses == [302] * 12
