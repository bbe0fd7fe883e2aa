"""Themes: colours under the WCAG contrast rule, images checked by content, texts, and the live check."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlmodel import select

from mvc.manage.images import ImageRefused, check_image
from mvc.models import AuditEntry, Organisation, Room, Theme
from tests import staff
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here


@pytest.fixture
def admin_client(client, db):
    staff.admin(db)
    staff.login(client, "admin@demo.example")
    return client


@pytest.fixture
def demo_theme(db):
    room = db.exec(select(Room).where(Room.alias == "demo")).one()
    return db.get(Theme, room.theme_id)


def png(width=40, height=20, color=(200, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def theme_form(client, path, files=None, **changes):
    data = {"csrf_token": staff.token(client, path), "name": "Sundhed", "primary_color": "#004b87",
            "background_color": "#ffffff", "text_color": "#1a1a1a", "welcome_da": "Velkommen til sundhedsplejen",
            "welcome_en": "Welcome to the health visitors", "waiting_da": "Sundhedsplejersken kommer snart.",
            "waiting_en": "The health visitor is coming soon.", "sms_sender": "Sundhed"}
    data.update(changes)
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename)
    return data


def test_admin_creates_theme_and_citizens_see_it(admin_client, db, demo_theme):
    path = "/manage/themes/new"
    resp = admin_client.post(path, data=theme_form(admin_client, path, files={"logo": (png(), "logo.png")}),
                             content_type="multipart/form-data")
    assert resp.status_code == 302
    theme = db.exec(select(Theme).where(Theme.name == "Sundhed")).one()
    assert theme.organisation_id == demo_theme.organisation_id and theme.logo_mime == "image/png"
    assert theme.sms_sender == "Sundhed" and theme.waiting_en == "The health visitor is coming soon."
    room = db.exec(select(Room).where(Room.alias == "demo")).one()
    room.theme_id = theme.id
    db.add(room)
    db.commit()
    admin_client.get("/lang/en")
    page = admin_client.get("/m/demo").get_data(as_text=True)
    assert f"/theme/{theme.id}.css?v={theme.version}" in page and "Welcome to the health visitors" in page
    assert f"/theme/{theme.id}/logo?v={theme.version}" in page
    css = admin_client.get(f"/theme/{theme.id}.css").get_data(as_text=True)
    assert "--primary: #004b87" in css and "--bg: #ffffff" in css
    logo = admin_client.get(f"/theme/{theme.id}/logo")
    assert logo.mimetype == "image/png" and logo.data == png()
    assert db.exec(select(AuditEntry.action)).all() == ["theme.create"]


def test_admin_edits_theme_colours_texts_and_removes_logo(admin_client, db, demo_theme):
    demo_theme.logo, demo_theme.logo_mime = png(), "image/png"
    db.add(demo_theme)
    db.commit()
    path = f"/manage/themes/{demo_theme.id}"
    resp = admin_client.post(path, data=theme_form(admin_client, path, name="Demo", primary_color="#7A1F5C",
                                                   remove_logo="on"), content_type="multipart/form-data")
    assert resp.status_code == 302
    db.refresh(demo_theme)
    assert demo_theme.primary_color == "#7a1f5c" and demo_theme.logo is None
    detail = db.exec(select(AuditEntry)).one().detail
    assert "primary_color: '#00548c' → '#7a1f5c'" in detail and "logo removed" in detail


@pytest.mark.parametrize("colours,failing", [
    ({"text_color": "#bbbbbb"}, "Text on background"),
    ({"primary_color": "#ffdd00"}, "Links (primary colour) on background"),
    ({"background_color": "#1a1a1a"}, "Text on background"),
])
def test_illegible_colour_pairs_are_refused_and_nothing_changes(admin_client, db, demo_theme, colours, failing):
    path = f"/manage/themes/{demo_theme.id}"
    before = (demo_theme.primary_color, demo_theme.background_color, demo_theme.text_color)
    resp = admin_client.post(path, data=theme_form(admin_client, path, **colours), content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "These colours are hard to read. Each contrast must be at least 4.5:1." in html
    assert f'<li class="fail">{failing}' in html
    assert 'aria-describedby="f-contrast-error"' in html
    db.refresh(demo_theme)
    assert (demo_theme.primary_color, demo_theme.background_color, demo_theme.text_color) == before
    assert db.exec(select(AuditEntry)).all() == []


def test_live_contrast_check_as_you_type(admin_client):
    token = staff.token(admin_client, "/manage/themes/new")
    good = admin_client.post("/manage/themes/contrast", data={"csrf_token": token, "primary_color": "#1f5f8b",
                                                             "background_color": "#ffffff", "text_color": "#1a1a1a"},
                             headers={"HX-Request": "true"})
    html = good.get_data(as_text=True)
    assert good.status_code == 200 and html.lstrip().startswith('<div id="contrast"') and "fail" not in html
    assert "Text on background: 17.4:1" in html and "preview.css?primary=%231f5f8b" in html
    bad = admin_client.post("/manage/themes/contrast", data={"csrf_token": token, "primary_color": "#1f5f8b",
                                                            "background_color": "#ffffff", "text_color": "#cccccc"})
    assert "Text on background: 1.6:1" in bad.get_data(as_text=True) and "too low" in bad.get_data(as_text=True)
    partial = admin_client.post("/manage/themes/contrast", data={"csrf_token": token, "primary_color": "#1f5",
                                                                "background_color": "#ffffff", "text_color": "#000000"})
    assert "Write each colour as # and six hex digits" in partial.get_data(as_text=True)
    assert admin_client.post("/manage/themes/contrast", data={"primary_color": "#000000"}).status_code == 400


def test_preview_stylesheet_carries_the_typed_colours(admin_client):
    css = admin_client.get("/manage/themes/preview.css?primary=%23004b87&background=%23ffffff&text=%23111111")
    text = css.get_data(as_text=True)
    assert css.mimetype == "text/css" and "--p-primary: #004b87" in text and "--p-on-primary: #ffffff" in text
    injected = admin_client.get("/manage/themes/preview.css?primary=red;}body{x:1&background=%23fff&text=%23000")
    assert "red" not in injected.get_data(as_text=True)


@pytest.mark.parametrize("content,filename,message", [
    (b"this is just text, not a picture", "logo.png", "The file is not a PNG, JPEG or SVG image"),
    (png()[:60], "logo.png", "The file is not a PNG, JPEG or SVG image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg", "contains scripts"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><rect onload="alert(1)"/></svg>', "logo.svg", "contains scripts"),
])
def test_fake_or_unsafe_images_are_refused(admin_client, db, demo_theme, content, filename, message):
    path = f"/manage/themes/{demo_theme.id}"
    resp = admin_client.post(path, data=theme_form(admin_client, path, files={"logo": (content, filename)}),
                             content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in html
    assert 'id="f-logo-error"' in html and 'aria-describedby="f-logo-error"' in html
    db.refresh(demo_theme)
    assert demo_theme.logo is None and demo_theme.name == "Demo Kommune"


def test_oversized_upload_is_refused_with_413_and_nothing_changes(admin_client, db, demo_theme):
    path = f"/manage/themes/{demo_theme.id}"
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024 + 10)
    admin_client.get("/lang/en")
    resp = admin_client.post(path, data=theme_form(admin_client, path, files={"logo": (big, "big.png")}),
                             content_type="multipart/form-data")
    assert resp.status_code == 413 and "Files may be at most 2 MB" in resp.get_data(as_text=True)
    db.refresh(demo_theme)
    assert demo_theme.logo is None


def test_svg_logo_is_sanitised_and_stored(admin_client, db, demo_theme):
    svg = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
           b'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" viewBox="0 0 10 10" inkscape:version="1">'
           b'<metadata><x/></metadata><rect width="10" height="10" fill="#f00" data-x="1"/></svg>')
    path = f"/manage/themes/{demo_theme.id}"
    resp = admin_client.post(path, data=theme_form(admin_client, path, files={"logo": (svg, "logo.svg")}),
                             content_type="multipart/form-data")
    assert resp.status_code == 302
    db.refresh(demo_theme)
    assert demo_theme.logo_mime == "image/svg+xml"
    assert b"inkscape" not in demo_theme.logo and b"metadata" not in demo_theme.logo and b"data-x" not in demo_theme.logo
    assert b'<rect width="10" height="10" fill="#f00"' in demo_theme.logo


@pytest.mark.parametrize("svg", [
    b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div/></foreignObject></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="http://evil.example/x.svg#a"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/t.png"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://evil.example/x)"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://evil.example/a.css);</style></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><rect/></a></svg>',
    b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
])
def test_svg_sanitiser_refuses_active_and_external_content(svg):
    with pytest.raises(ImageRefused) as exc:
        check_image(svg)
    assert str(exc.value) == "svg_unsafe"


def test_svg_sanitiser_keeps_internal_references():
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><defs>'
           b'<linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>'
           b'<rect fill="url(#g)" width="5" height="5"/><use xlink:href="#g"/></svg>')
    data, mime = check_image(svg)
    assert mime == "image/svg+xml" and b'fill="url(#g)"' in data and b'xlink:href="#g"' in data


def test_sms_sender_and_texts_are_checked(admin_client, db, demo_theme):
    path = f"/manage/themes/{demo_theme.id}"
    for sender in ("Too long sender", "Aarhus Kom", "12345678"):
        resp = admin_client.post(path, data=theme_form(admin_client, path, sms_sender=sender),
                                 content_type="multipart/form-data")
        assert resp.status_code == 422 and "at most 11 letters and digits" in resp.get_data(as_text=True)
    resp = admin_client.post(path, data=theme_form(admin_client, path, waiting_da="x" * 501),
                             content_type="multipart/form-data")
    assert resp.status_code == 422 and "at most 500 characters" in resp.get_data(as_text=True)
    db.refresh(demo_theme)
    assert demo_theme.sms_sender == "DemoKommune"


def test_theme_page_has_a_preview_of_join_page_and_waiting_room(admin_client, demo_theme):
    html = admin_client.get(f"/manage/themes/{demo_theme.id}").get_data(as_text=True)
    assert 'class="theme-preview"' in html and 'aria-label="Join page"' in html and 'aria-label="Waiting room"' in html
    assert "The meeting has not started yet. You will be let in when the staff member is ready." in html


def test_new_theme_can_become_the_organisations_default(admin_client, db, demo_theme):
    path = "/manage/themes/new"
    resp = admin_client.post(path, data=theme_form(admin_client, path, make_default="on"),
                             content_type="multipart/form-data")
    assert resp.status_code == 302
    theme = db.exec(select(Theme).where(Theme.name == "Sundhed")).one()
    org = db.get(Organisation, demo_theme.organisation_id)
    db.refresh(org)
    assert org.default_theme_id == theme.id
    assert "Sundhed</a> (default)" in admin_client.get("/manage/themes").get_data(as_text=True)
