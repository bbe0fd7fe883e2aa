"""Reminders sent exactly once (restarts, rival schedulers, crashes), opt-out, forwarding and SMS limits."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import select

from mvc.booking.reminders import STALE_CLAIM, ReminderScheduler
from mvc.booking.service import invited_people
from mvc.models import Invitation, Meeting, Reminder, SmsMessage
from mvc.models.base import utcnow
from tests.conftest import csrf_from
from tests.functional.test_booking import app, book, host, link_path, make_app, rows  # noqa: F401 - fixtures
from tests.sms_helpers import login, make_staff, post_form, session_for


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def reminders_sent(app) -> list[SmsMessage]:
    return rows(app, SmsMessage, SmsMessage.purpose == "reminder")


def booked_in_two_hours(host, app, people=(("Karen", "20123456", ""),), **extra) -> Meeting:
    assert book(host, utcnow() + timedelta(hours=2), list(people), **extra).status_code == 302
    return rows(app, Meeting)[-1]


# -- reminders ------------------------------------------------------------------------------------

def test_reminder_goes_out_once_at_the_configured_offset(app, host):
    meeting = booked_in_two_hours(host, app)
    [row] = rows(app, Reminder)
    assert row.due_at == meeting.starts_at - timedelta(minutes=60)
    clock = Clock()
    scheduler = ReminderScheduler(app, clock=clock)
    assert scheduler.run_once() == 0 and reminders_sent(app) == []
    clock.now = row.due_at + timedelta(seconds=1)
    assert scheduler.run_once() == 1
    [text] = reminders_sent(app)
    assert text.to == "+4520123456" and "Påmindelse fra Demo Kommune" in text.body and "Wound" not in text.body
    assert link_path(text.body).startswith(f"/m/{meeting.alias}?t=")
    assert scheduler.run_once() == 0
    assert ReminderScheduler(app, clock=clock, name="other").run_once() == 0
    assert len(reminders_sent(app)) == 1 and rows(app, Reminder)[0].outcome == "sent"


def test_reminder_survives_a_restart_and_is_sent_once(app, make_app, host):
    booked_in_two_hours(host, app)
    due = rows(app, Reminder)[0].due_at
    clock = Clock()
    clock.now = due + timedelta(minutes=1)
    restarted = make_app()  # a new process on the same database
    assert ReminderScheduler(restarted, clock=clock).run_once() == 1
    assert ReminderScheduler(app, clock=clock).run_once() == 0
    assert len(reminders_sent(app)) == 1


def crash_after_claim(app, host, send_first: bool):
    """A scheduler claims the due reminder (and maybe sends it), then dies before marking it."""
    booked_in_two_hours(host, app)
    [row] = rows(app, Reminder)
    clock = Clock()
    clock.now = row.due_at
    crashed = ReminderScheduler(app, clock=clock, name="crashed")
    with app.app_context(), session_for(app) as db:
        assert crashed.claim(db, row.id, clock.now)
        if send_first:
            reminder = db.get(Reminder, row.id)
            crashed._text(db, reminder, db.get(Invitation, reminder.invitation_id),
                          db.get(Meeting, reminder.meeting_id))
    return clock, crashed


def test_crash_between_claim_and_send_is_recovered_once_the_claim_is_stale(app, host):
    clock, crashed = crash_after_claim(app, host, send_first=False)
    rival = ReminderScheduler(app, clock=clock, name="rival")
    assert rival.run_once() == 0  # a fresh claim is respected
    clock.now += STALE_CLAIM + timedelta(seconds=1)
    assert rival.run_once() == 1
    assert rival.run_once() == 0 and crashed.run_once() == 0
    assert len(reminders_sent(app)) == 1 and rows(app, Reminder)[0].claimed_by == "rival"


def test_crash_after_send_before_marking_does_not_send_again(app, host):
    clock, _crashed = crash_after_claim(app, host, send_first=True)
    clock.now += STALE_CLAIM + timedelta(seconds=1)
    assert ReminderScheduler(app, clock=clock, name="next").run_once() == 1
    assert len(reminders_sent(app)) == 1 and rows(app, Reminder)[0].outcome == "sent"


def test_two_schedulers_racing_send_each_reminder_once(app, host):
    people = [(f"P{i}", f"2012345{i}", "") for i in range(5)]
    booked_in_two_hours(host, app, people)
    clock = Clock()
    clock.now = rows(app, Reminder)[0].due_at
    import threading

    schedulers = [ReminderScheduler(app, clock=clock, name=f"s{i}") for i in range(3)]
    threads = [threading.Thread(target=s.run_once) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(m.to for m in reminders_sent(app)) == [f"+452012345{i}" for i in range(5)]


def invitee_page(app, invitation_id: int):
    link = next(link_path(m.body) for m in rows(app, SmsMessage) if m.invitation_id == invitation_id)
    alias, token = link.split("/m/")[1].split("?t=")
    guest = app.test_client()
    guest.get("/lang/en")
    return guest, f"/m/{alias}/invitation?t={token}", token


def test_invitee_can_opt_out_and_host_can_switch_reminders_off(app, host):
    booked_in_two_hours(host, app, [("Karen", "20123456", ""), ("Ole", "31234567", "")])
    karen = rows(app, Invitation)[0]
    guest, page_url, token = invitee_page(app, karen.id)
    html = guest.get(page_url).get_data(as_text=True)
    assert "I do not want a reminder" in html
    resp = guest.post(page_url.split("?")[0], data={"csrf_token": csrf_from(html), "t": token,
                                                    "action": "reminders-off"})
    assert resp.status_code == 302
    assert "You will not get a reminder" in guest.get(resp.headers["Location"]).get_data(as_text=True)
    # The host's meeting without reminders:
    booked_in_two_hours(host, app, [("Eva", "40123456", "")], reminders="")
    clock = Clock()
    clock.now = utcnow() + timedelta(hours=1, minutes=1)
    ReminderScheduler(app, clock=clock).run_once()
    assert [m.to for m in reminders_sent(app)] == ["+4531234567"]
    assert {r.outcome for r in rows(app, Reminder)} == {"sent", "skipped"}


def test_moving_a_booking_moves_its_reminder_and_cancelling_drops_it(app, host):
    meeting = booked_in_two_hours(host, app)
    later = meeting.starts_at + timedelta(days=1)
    from tests.functional.test_booking import local_form

    page = host.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    host.post(f"/bookings/{meeting.id}", data={"csrf_token": csrf_from(page), **local_form(later),
                                               "reminders": "on"})
    assert rows(app, Reminder)[0].due_at == later - timedelta(minutes=60)
    page = host.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    host.post(f"/bookings/{meeting.id}/cancel", data={"csrf_token": csrf_from(page)})
    clock = Clock()
    clock.now = later
    ReminderScheduler(app, clock=clock).run_once()
    assert reminders_sent(app) == [] and rows(app, Reminder)[0].outcome == "skipped"


def test_the_app_runs_the_scheduler_thread_and_stops_it(make_app):
    app = make_app(REMINDER_THREAD=True, REMINDER_INTERVAL=0.05)
    scheduler = app.extensions["mvc.reminders"]
    assert scheduler._thread.is_alive()
    time.sleep(0.2)
    scheduler.stop()
    assert not scheduler._thread.is_alive()


# -- forwarding -----------------------------------------------------------------------------------

def forward(guest, page_url, token, name, phone):
    html = guest.get(page_url).get_data(as_text=True)
    return guest.post(page_url.split("?")[0], data={"csrf_token": csrf_from(html), "t": token, "action": "forward",
                                                    "name": name, "phone": phone})


def test_invitee_forwards_to_three_people_who_get_their_own_links(app, host):
    booked_in_two_hours(host, app, allow_forward="on")
    karen = rows(app, Invitation)[0]
    guest, page_url, token = invitee_page(app, karen.id)
    assert "Invite someone else" in guest.get(page_url).get_data(as_text=True)
    bad = forward(guest, page_url, token, "Ole", "123")
    assert bad.status_code == 422 and "too short" in bad.get_data(as_text=True)
    for i, who in enumerate(["Ole (son)", "Tolk Ali", "Dr. Hansen"]):
        assert forward(guest, page_url, token, who, f"3123456{i}").status_code == 302
    fourth = forward(guest, page_url, token, "One more", "31234569")
    assert fourth.status_code == 422 and "cannot forward this invitation to more people" in fourth.get_data(as_text=True)
    forwarded = rows(app, Invitation, Invitation.forwarded_from_id == karen.id)
    assert [inv.name for inv in forwarded] == ["Ole (son)", "Tolk Ali", "Dr. Hansen"]
    texts = rows(app, SmsMessage, SmsMessage.purpose == "forward")
    assert [m.to for m in texts] == ["+4531234560", "+4531234561", "+4531234562"]
    assert len({link_path(m.body) for m in texts}) == 3
    with app.app_context():
        assert [p.name for p in invited_people(karen.meeting_id)] == ["Karen", "Ole (son)", "Tolk Ali", "Dr. Hansen"]
    # A forwarded person gets a reminder too, but cannot forward further.
    assert len(rows(app, Reminder)) == 4
    son, son_page, _token = invitee_page(app, forwarded[0].id)
    assert "Invite someone else" not in son.get(son_page).get_data(as_text=True)
    html = host.get(f"/bookings/{karen.meeting_id}").get_data(as_text=True)
    assert "Ole (son)" in html and "Forwarded" in html


def test_forwarding_is_off_unless_the_host_allows_it(app, host):
    booked_in_two_hours(host, app)
    karen = rows(app, Invitation)[0]
    guest, page_url, token = invitee_page(app, karen.id)
    assert "Invite someone else" not in guest.get(page_url).get_data(as_text=True)
    assert forward(guest, page_url, token, "Ole", "31234560").status_code == 422
    assert len(rows(app, Invitation)) == 1


def test_forged_invitation_page_is_refused(app, host):
    booked_in_two_hours(host, app, allow_forward="on")
    meeting = rows(app, Meeting)[0]
    assert app.test_client().get(f"/m/{meeting.alias}/invitation?t=forged").status_code == 400
    assert app.test_client().get(f"/m/{meeting.alias}/invitation").status_code == 404


# -- limits --------------------------------------------------------------------------------------

def limited_host(make_app, **limits):
    app = make_app(**limits)
    make_staff(app)
    client = app.test_client()
    login(client)
    return app, client


def test_per_number_limit(make_app):
    app, client = limited_host(make_app, SMS_NUMBER_PER_HOUR=2)
    for _ in range(2):
        assert post_form(client, "/sms-video", {"phone": "20123456"}).status_code == 302
    resp = post_form(client, "/sms-video", {"phone": "20123456"})
    assert resp.status_code == 429
    assert "+45 20 12 34 56 has received the most text messages allowed in one hour" in resp.get_data(as_text=True)
    assert len(rows(app, SmsMessage)) == 2 and len(rows(app, Meeting)) == 2
    assert post_form(client, "/sms-video", {"phone": "31234567"}).status_code == 302


def test_per_user_limit(make_app):
    app, client = limited_host(make_app, SMS_USER_PER_HOUR=2)
    resp = post_form(client, "/sms-video", {"phone": ["20123456", "31234567", "40123456"]})
    assert resp.status_code == 429 and "You have sent the most text messages allowed in one hour (2)" in resp.get_data(as_text=True)
    assert rows(app, SmsMessage) == [] and rows(app, Meeting) == []
    make_staff(app, email="colleague@demo.example")
    other = app.test_client()
    login(other, "colleague@demo.example")
    assert post_form(other, "/sms-video", {"phone": ["20123456", "31234567"]}).status_code == 302


def test_per_organisation_limit(make_app):
    app, client = limited_host(make_app, SMS_ORG_PER_HOUR=2)
    assert post_form(client, "/sms-video", {"phone": ["20123456", "31234567"]}).status_code == 302
    make_staff(app, email="colleague@demo.example")
    other = app.test_client()
    login(other, "colleague@demo.example")
    resp = post_form(other, "/sms-video", {"phone": "40123456"})
    assert resp.status_code == 429 and "Your organisation has sent the most text messages allowed in one hour" in resp.get_data(as_text=True)


def test_daily_cap(make_app):
    app, client = limited_host(make_app, SMS_DAILY_CAP=3)
    assert post_form(client, "/sms-video", {"phone": ["20123456", "31234567"]}).status_code == 302
    resp = post_form(client, "/bookings/new", {"date": (utcnow() + timedelta(days=2)).date().isoformat(),
                                               "start": "10:00", "end": "10:30", "phone": ["40123456", "41123456"]})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 429 and "reached its daily limit of 3 text messages" in html
    assert 'id="limit-error"' in html and len(rows(app, SmsMessage)) == 2


def test_forwarding_counts_against_the_limits(make_app):
    app, client = limited_host(make_app, SMS_NUMBER_PER_HOUR=1)
    booked_in_two_hours(client, app, allow_forward="on")
    karen = rows(app, Invitation)[0]
    guest, page_url, token = invitee_page(app, karen.id)
    assert forward(guest, page_url, token, "Ole", "31234567").status_code == 302
    again = forward(guest, page_url, token, "Ole again", "31234567")
    assert again.status_code == 422 and "has received the most text messages" in again.get_data(as_text=True)


def test_command_line_sends_due_reminders_once(app, host, monkeypatch, capsys):
    from mvc.__main__ import main

    booked_in_two_hours(host, app)
    with session_for(app) as db:
        row = db.exec(select(Reminder)).one()
        row.due_at = utcnow() - timedelta(minutes=1)
        db.add(row)
        db.commit()
    for name in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_URL", "LOG_LEVEL"):
        monkeypatch.setenv(f"MVC_{name}", str(app.config[name]))
    assert main(["reminders", "--once"]) == 0 and "reminders handled: 1" in capsys.readouterr().out
    assert main(["reminders", "--once"]) == 0 and "reminders handled: 0" in capsys.readouterr().out
    assert len(reminders_sent(app)) == 1
