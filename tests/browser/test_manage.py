"""Management in a real browser: a theme change reaches the guest's pages, and the pages pass axe-core."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from mvc.models import Room, Theme
from tests import staff
from tests.browser.conftest import wait_js
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[2] / ".cache" / "node_modules" / "axe-core" / "axe.min.js"


def browser_login(page, base_url: str, email: str = "admin@demo.example") -> None:
    page.goto(f"{base_url}/lang/en?next=/login")
    page.fill("#email", email)
    page.fill("#password", staff.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/rooms")


def axe_violations(page) -> list:
    """axe-core's WCAG 2.1 A/AA violations on the page (evaluated directly: the CSP forbids injected scripts)."""
    page.evaluate(AXE.read_text())
    return page.evaluate("""axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})
        .then(r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))})))""")


def test_theme_colours_and_logo_reach_the_guests_join_and_waiting_pages(live_server, phone, db, tmp_path):
    staff.admin(db)
    theme = db.get(Theme, db.exec(select(Room).where(Room.alias == "demo")).one().theme_id)
    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 40), (122, 31, 92)).save(logo)

    admin = phone(1280, 900)
    browser_login(admin, live_server.url)
    admin.goto(f"{live_server.url}/manage/themes/{theme.id}")
    # The contrast check answers while typing, without a reload.
    admin.fill("#f-text_color", "#dddddd")
    admin.wait_for_selector("#contrast li.fail >> text=Text on background")
    admin.fill("#f-text_color", "#222222")
    admin.fill("#f-background_color", "#fff4e0")
    admin.fill("#f-primary_color", "#7a1f5c")
    admin.wait_for_selector("#contrast:not(:has(li.fail))")
    wait_js(admin, "getComputedStyle(document.querySelector('.preview-button')).backgroundColor === 'rgb(122, 31, 92)'")
    admin.set_input_files("#f-logo", str(logo))
    admin.click("button:has-text('Save theme')")
    admin.wait_for_selector("text=The theme Demo Kommune is saved.")
    assert admin.evaluate("performance.getEntriesByType('navigation').length") == 1

    guest = phone()
    guest.goto(f"{live_server.url}/m/demo")
    wait_js(guest, "getComputedStyle(document.body).backgroundColor === 'rgb(255, 244, 224)'")
    assert guest.evaluate("getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor") == "rgb(122, 31, 92)"
    wait_js(guest, "document.querySelector('header img.logo').naturalWidth === 120")
    guest.fill("#name", "Karen Jensen")
    guest.click("button[type=submit]")
    guest.wait_for_selector("#stage[data-view=waiting]")
    assert guest.evaluate("getComputedStyle(document.getElementById('stage')).backgroundColor") == "rgb(255, 244, 224)"
    assert guest.evaluate("getComputedStyle(document.getElementById('stage')).color") == "rgb(34, 34, 34)"
    wait_js(guest, "document.querySelector('.calm-logo').naturalWidth === 120")


MANAGE_PAGES = ["/rooms", "/manage/rooms", "/manage/rooms/new", "/manage/rooms/{room}", "/manage/themes",
                "/manage/themes/{theme}", "/manage/users", "/manage/users/new", "/manage/audit", "/manage/api-clients",
                "/manage/statistics", "/manage/organisation", "/devices", "/support", "/support/meetings/{meeting}",
                "/support/code/{code}"]


def audit_and_timeline(db, admin) -> dict:
    """An audit entry (its wide table must scroll by keyboard) and a meeting timeline with a support code."""
    from mvc.manage import audit
    from mvc.models import MeetingRecord, ParticipantRecord, SupportCheck, SupportEvent

    room = db.exec(select(Room).where(Room.alias == "demo")).one()
    audit.record(db, admin, "room_changed", room.name, "name: 'Demo' → 'Demo-rummet med et meget langt navn'; "
                 "guest_pin changed; layout: 'tiles' → 'host_large'")
    record = MeetingRecord(meeting_id=4242, organisation_id=room.organisation_id, room_id=room.id, peak_participants=2)
    db.add(record)
    db.add(SupportCheck(code="KX7P2M", result='{"camera": "denied", "network": "ok", "rtt_ms": 12.5}'))
    db.commit()
    db.add(ParticipantRecord(meeting_record_id=record.id, meeting_id=4242, pid="p-guest", role="guest", via="link",
                             browser="safari", device="mobile", connects=2, samples=4, bad_samples=1))
    for kind, detail in (("join", "guest via link, safari on mobile"), ("support_code", "KX7P2M"),
                         ("media_state", "failed"), ("client_error", "TypeError: x is undefined")):
        db.add(SupportEvent(meeting_id=4242, pid="p-guest", kind=kind, detail=detail))
    db.commit()
    return {"room": room.id, "theme": room.theme_id, "meeting": 4242, "code": "KX7P2M"}


def test_management_pages_pass_axe_and_fit_320_pixels(live_server, phone, db):
    admin = staff.admin(db)
    admin.roles = "host,org-admin,support"
    db.add(admin)
    db.commit()
    ids = audit_and_timeline(db, admin)
    page = phone(320, 700)
    page.goto(f"{live_server.url}/lang/en?next=/login")
    assert axe_violations(page) == []
    browser_login(page, live_server.url)
    for path in MANAGE_PAGES:
        page.goto(live_server.url + path.format(**ids))
        assert axe_violations(page) == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, path
    assert page.locator("#main table").count() >= 2  # the timeline was there to be checked
    wide = phone(390, 700)
    browser_login(wide, live_server.url)
    wide.goto(f"{live_server.url}/manage/audit")
    assert wide.locator("text=room_changed").count() == 1
    assert axe_violations(wide) == []


def test_api_client_pages_pass_axe_and_fit_320_pixels(live_server, phone, db):
    staff.admin(db)
    page = phone(320, 700)
    browser_login(page, live_server.url)
    page.goto(f"{live_server.url}/manage/api-clients")
    page.fill("#f-name", "Nexus hjemmepleje")
    page.check("input[value=meeting-user]")
    page.click("button:has-text('Create client')")
    page.wait_for_selector("#client-secret")
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.click("text=I have saved it")
    page.wait_for_selector("li.card >> text=Nexus hjemmepleje")
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    # webhooks: add one (its signing secret shown once), then it is listed
    page.fill("li.card input[name=url]", "https://nexus-hjemmepleje.example.dk/hooks/mvc-events")
    page.click("li.card button:has-text('Add webhook')")
    page.wait_for_selector("#webhook-secret")
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.click("text=I have saved it")
    page.wait_for_selector("li.card >> text=https://nexus-hjemmepleje.example.dk/hooks/mvc-events")
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    for button in page.locator("li.card button").all():
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("li.card button:has-text('Revoke')")
    page.wait_for_selector("text=Nexus hjemmepleje can no longer use the API.")


def test_form_errors_are_announced_and_pass_axe(live_server, phone, db):
    staff.admin(db)
    page = phone(1024, 800)
    browser_login(page, live_server.url)
    page.goto(f"{live_server.url}/manage/rooms/new")
    page.fill("#f-name", "Ny")
    page.fill("#f-alias", "demo")
    page.click("button:has-text('Save room')")
    page.wait_for_selector("#error-summary")
    assert "The address demo is already in use" in page.inner_text("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.get_attribute("#f-alias", "aria-describedby") == "f-alias-hint f-alias-error"
    assert axe_violations(page) == []
