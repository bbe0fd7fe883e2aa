"""A host starts an SMS meeting for two numbers; each texted link brings a phone guest into the meeting."""
from __future__ import annotations

import pytest
from sqlmodel import select

from mvc.models import Meeting, SmsMessage
from mvc.security import make_invite_token
from tests.browser.test_accessibility import axe_violations
from tests.conftest import booked_meeting
from tests.sms_helpers import PASSWORD, make_staff, session_for

pytestmark = pytest.mark.browser


def staff_page(app, live_server, page, roles: str = "host"):
    """Sign a new staff member in on the page and open the SMS meeting form."""
    make_staff(app, roles=roles)
    page.goto(f"{live_server.url}/login?next=/sms-video")
    page.fill("#email", "nurse@demo.example")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/sms-video")
    return page


def test_host_starts_sms_meeting_and_both_texted_guests_join(app, live_server, phone):
    host = staff_page(app, live_server, phone(1280, 800), roles="host,org-admin")
    assert axe_violations(host) == []
    host.fill("#name-0", "Karen Jensen")
    host.fill("#phone-0", "20 12 34 56")
    host.fill("#name-1", "Ole Jensen")
    host.fill("#phone-1", "+45 31 23 45 67")
    host.click("button.primary.big")
    host.wait_for_url("**/m/v-*")
    assert "vært" in host.inner_text("main")  # "…will join as the host", in Danish
    host.fill("#name", "Nina Sygeplejerske")
    host.click("button.primary.big")
    host.wait_for_selector("#stage[data-view=meeting]")

    with session_for(app) as db:
        meeting = db.exec(select(Meeting).where(Meeting.kind == "instant")).one()
        texts = db.exec(select(SmsMessage).order_by(SmsMessage.id)).all()
    assert [t.to for t in texts] == ["+4520123456", "+4531234567"]
    assert {t.status for t in texts} == {"outbox"}
    links = [t.body[t.body.index("http"):] for t in texts]
    assert all(link.startswith(f"{live_server.url}/m/{meeting.alias}?t=") for link in links)

    for link, name in zip(links, ["Karen Jensen", "Ole Jensen"]):
        guest = phone()
        guest.goto(link)
        assert guest.input_value("#name") == name
        assert guest.locator("#pin").count() == 0
        assert guest.evaluate("document.documentElement.scrollWidth") <= 390
        guest.click("button.primary.big")
        guest.wait_for_url(f"**/m/{meeting.alias}/live")
        guest.wait_for_selector("#stage[data-view=meeting]")
        host.wait_for_selector(f"#people >> text={name}")

    # axe-core finds nothing on the staff's pages for this meeting and a booked one, the invitee's
    # own page (reminder and forwarding forms), a spoilt link, and the page for one more person
    # once every seat is taken.
    with session_for(app) as db:
        booked, invitation = booked_meeting(db, meeting.organisation_id, "b-axe")
        booked.allow_forward = True
        db.add(booked)
        db.commit()
    with app.app_context():
        token = make_invite_token(invitation.id, booked.id)
    desk = phone(1280, 800, storage_state=host.context.storage_state())
    for path in ("/bookings", "/bookings/new", f"/bookings/{meeting.id}", f"/bookings/{booked.id}", "/sms/outbox"):
        desk.goto(live_server.url + path)
        assert desk.locator("h1").count() == 1 and axe_violations(desk) == [], path
    invitee = phone()
    invitee.goto(f"{live_server.url}/m/b-axe/invitation?t={token}")
    assert invitee.locator("form").count() == 2 and axe_violations(invitee) == []
    invitee.goto(f"{live_server.url}/m/{meeting.alias}?t=spoilt")
    assert invitee.inner_text("h1") == "Linket virker ikke" and axe_violations(invitee) == []
    app.config["ROOM_CAPS"] = f"{meeting.alias}=3"  # the host and both guests are in
    invitee.goto(f"{live_server.url}/m/{meeting.alias}")
    assert invitee.inner_text("h1") == "Mødet er fuldt" and axe_violations(invitee) == []


def test_sms_meeting_form_fits_320_pixels(app, live_server, phone):
    page = staff_page(app, live_server, phone(320, 640))
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.click("button.primary.big")  # nothing typed: the error is tied to the field
    assert page.get_attribute("#phone-0", "aria-describedby") == "phone-0-error"
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
