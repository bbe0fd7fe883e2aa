"""The queue in real Chromium: citizens see their place, a doctor takes the next into a video call."""
from __future__ import annotations


import pytest
from sqlmodel import Session

from mvc.models import QueueUnit, Unit, UnitMember

from tests import staff
from tests.browser.conftest import wait_js
from tests.browser.test_accessibility import axe_violations
from tests.queues import SATURDAY_10, WEDNESDAY_10, make_queue
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here

pytestmark = pytest.mark.browser
REMOTE_VIDEO = "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video')).some(v => v.videoWidth > 0)"


def login(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#email", email)
    page.fill("#password", staff.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/rooms")


def queue_up(page, base_url: str, name: str, intake: str = "") -> None:
    """Join the queue through the join page, as a citizen does."""
    page.goto(f"{base_url}/q/videotid")
    page.fill("#name", name)
    if intake:
        page.fill("#intake", intake)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/q/videotid/wait")


def test_the_doctor_takes_the_first_of_two_citizens_into_a_video_call(media_server, phone):
    app = media_server.app
    app.config.update(QUEUE_NOW=WEDNESDAY_10, QUEUE_POLL_SECONDS=1)
    with Session(app.extensions["mvc.engine"], expire_on_commit=False) as s:
        doctor = staff.make_user(s, "doctor@demo.example")
        queue = make_queue(s, staff=[doctor])
    url = media_server.url
    desk, karen, ole = phone(1280, 800), phone(), phone()
    login(desk, url, "doctor@demo.example")
    queue_up(karen, url, "Karen Jensen")
    queue_up(ole, url, "Ole Hansen")
    karen.wait_for_selector("text=Du er nummer 1 i køen")
    ole.wait_for_selector("text=Du er nummer 2 i køen")

    watch = desk.context.new_page()  # the doctor's queue view stays open in a second tab
    watch.goto(f"{url}/queues/{queue.id}")
    watch.wait_for_selector("#queue-live >> text=Ole Hansen")
    desk.goto(f"{url}/queues/{queue.id}")
    desk.click("#take-next")
    desk.wait_for_url("**/m/v-*/live")
    karen.wait_for_url("**/m/v-*/live", timeout=15_000)  # moved into the call without typing anything
    assert karen.url == desk.url
    for page in (desk, karen):
        wait_js(page, REMOTE_VIDEO, 20)  # video both ways
    ole.wait_for_selector("text=Du er nummer 1 i køen")

    ole.click("text=Forlad køen")
    ole.wait_for_selector("text=Du har forladt køen")
    wait_js(watch, "!document.getElementById('queue-live').textContent.includes('Ole Hansen')", 10)
    assert "Karen Jensen" in watch.text_content("#queue-live")  # now under the doctor's running calls


def test_queue_and_staff_pages_pass_axe_at_320_pixels(live_server, phone, db):
    app = live_server.app
    app.config.update(QUEUE_NOW=WEDNESDAY_10, QUEUE_POLL_SECONDS=1)
    doctor = staff.make_user(db, "doctor@demo.example", "host,org-admin")
    queue = make_queue(db, staff=[doctor], guest_pin="4711")
    unit = Unit(organisation_id=queue.organisation_id, name="Lægerne")
    db.add(unit)
    db.commit()
    db.add_all([UnitMember(unit_id=unit.id, user_id=doctor.id), QueueUnit(queue_id=queue.id, unit_id=unit.id)])
    db.commit()
    url = live_server.url
    citizen = phone(320, 700)
    citizen.goto(f"{url}/lang/en?next=/q/videotid")
    assert axe_violations(citizen) == []
    citizen.fill("#name", "Karen Jensen")
    citizen.fill("#pin", "4711")
    citizen.fill("#intake", "Knæet")
    citizen.check("input[name=assisted]")
    citizen.click("form.stack button[type=submit]")
    citizen.wait_for_url("**/wait")
    citizen.wait_for_selector("text=You are number 1 in the queue")
    assert axe_violations(citizen) == []
    assert citizen.evaluate("document.documentElement.scrollWidth") <= 320

    desk = phone(320, 700)
    login(desk, url, "doctor@demo.example")
    for path in (f"/queues/{queue.id}", "/queues", "/manage/queues", f"/manage/queues/{queue.id}",
                 "/manage/queues/new", "/manage/units", "/manage/units/new", f"/manage/units/{unit.id}"):
        desk.goto(url + path)
        assert axe_violations(desk) == [], path
        assert desk.evaluate("document.documentElement.scrollWidth") <= 320, path
    desk.goto(f"{url}/queues/{queue.id}")
    desk.click("#queue-live summary")  # the pick-with-a-reason form
    assert axe_violations(desk) == []

    # A message from the staff, and the queue paused: the waiting citizen, the staff page, a newcomer.
    desk.fill("#q-message", "Vi er 10 minutter forsinket")
    desk.click("form[action$='/message'] button")
    citizen.wait_for_selector("#queue-status .notice >> text=Vi er 10 minutter forsinket")
    assert axe_violations(citizen) == []
    desk.click("form[action$='/pause'] button")
    desk.wait_for_selector("form[action$='/pause']:not(:has(input[name=paused]))")
    assert axe_violations(desk) == []
    newcomer = phone(320, 700)
    newcomer.goto(f"{url}/lang/en?next=/q/videotid")
    newcomer.wait_for_selector("text=The queue is paused")
    assert axe_violations(newcomer) == []

    # Their turn: the page would move into the call after a tone; an empty answer keeps it on the turn view.
    citizen.route("**/q/videotid/go", lambda route: route.fulfill(status=204))
    csrf = desk.locator("input[name=csrf_token]").first.input_value()
    assert desk.request.post(f"{url}/queues/{queue.id}/take", form={"csrf_token": csrf}, max_redirects=0).status == 302
    citizen.wait_for_selector("#queue-status[data-turn] >> text=It is your turn now")
    assert axe_violations(citizen) == []
    citizen.click("text=Leave the queue")
    citizen.wait_for_selector("text=You have left the queue")
    assert axe_violations(citizen) == []

    app.config["QUEUE_NOW"] = SATURDAY_10
    closed = phone(320, 700)
    closed.goto(f"{url}/lang/en?next=/q/videotid")
    closed.wait_for_selector("text=The video consultation is closed now.")
    assert axe_violations(closed) == []
