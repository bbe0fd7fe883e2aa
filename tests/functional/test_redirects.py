"""Every `next` redirect stays on the site: language switch, login form and OpenID Connect."""
from __future__ import annotations

from urllib.parse import unquote, urlencode

from tests import staff
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here

# `next` exactly as an attacker writes it in a link's query string.
HOSTILE = [
    "/%09/example.com",  # tab: browsers drop it and read //example.com
    "/%0d/example.com",  # CR: a 500 before
    "/%0a/example.com",  # LF
    "/%0d%0aSet-Cookie:%20x=1",  # header injection
    "/%00/example.com",
    "%09//example.com",
    "//example.com",
    "//example.com/m/demo",
    "///example.com",
    "/%2f/example.com",
    "%2f%2fexample.com",
    "/%252f%252fexample.com",  # encoded twice
    "/%2509/example.com",
    "/%5cexample.com",  # /\example.com
    "/%5c%5cexample.com",
    "%5c%5cexample.com",
    "/%5c/example.com",
    "http://example.com/",
    "https://example.com/m/demo",
    "HTTPS:%2f%2fexample.com",
    "javascript:alert(1)",
    "java%0ascript:alert(1)",
    "%20//example.com",
    "example.com",
    "",
    "/" + "a" * 3000,
]
# Local paths (values before URL-encoding) that must come back unchanged, query included.
LOCAL = [
    "/m/demo",
    "/m/demo?t=eyJpIjoxfQ.Zx-1_2",
    "/manage/rooms?page=2&sort=name",
    "/rooms?q=a%2Fb",
    "/m/demo/",
]


def test_language_switch_never_leaves_the_site(client):
    for raw in HOSTILE:
        resp = client.get("/lang/en?next=" + raw)
        assert (resp.status_code, resp.headers.get("Location")) == (302, "/"), raw


def test_language_switch_returns_to_a_local_path(client):
    for path in LOCAL:
        resp = client.get("/lang/en?" + urlencode({"next": path}))
        assert (resp.status_code, resp.headers.get("Location")) == (302, path)


def _login_next(client, next_value: str, remote: str):
    """Sign in through the form with a `next` field; the response."""
    data = {"csrf_token": staff.token(client, "/login"), "email": "admin@demo.example", "password": staff.PASSWORD,
            "next": next_value}
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": remote})


def test_login_form_never_leaves_the_site(client, db):
    staff.admin(db)
    for i, raw in enumerate(HOSTILE):
        resp = _login_next(client, unquote(raw), remote=f"10.3.0.{i}")
        assert (resp.status_code, resp.headers.get("Location")) == (302, "/rooms"), raw


def test_login_form_returns_to_a_local_path(client, db):
    staff.admin(db)
    for i, path in enumerate(LOCAL):
        resp = _login_next(client, path, remote=f"10.3.1.{i}")
        assert (resp.status_code, resp.headers.get("Location")) == (302, path)
