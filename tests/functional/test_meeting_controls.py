"""Every in-meeting control and permission rule, over real websockets."""
from __future__ import annotations

import threading

import pytest
import requests

from tests.conftest import booked_meeting, http_join, wait_until
from tests.wsclient import Page


class Meeting:
    """A host and guests connected to the demo room."""

    def __init__(self, live_server, pin):
        self.server, self.pin, self.pages = live_server, pin, []
        self.store = live_server.app.extensions["mvc.live"]

    def join(self, name, host=False):
        s = http_join(self.server.url, "demo", name, self.pin if host else "")
        s.get(f"{self.server.url}/lang/en")
        page = Page(self.server.url, "demo", s)
        page.session = s
        self.pages.append(page)
        return page

    def state(self):
        states = [self.store.get(m) for m in range(1, 10)]
        return next(s for s in states if s and not s.ended) if any(states) else None

    def person(self, name):
        return next(p for p in self.state().participants.values() if p.name == name)

    def pid(self, name):
        return self.person(name).pid

    def close(self):
        for p in self.pages:
            try:
                p.close()
            except Exception:
                pass


@pytest.fixture
def meeting(live_server, demo_room):
    m = Meeting(live_server, demo_room.host_pin)
    yield m
    m.close()


@pytest.fixture
def three(meeting):
    host = meeting.join("Nurse Nina", host=True)
    host.wait_text('data-view="meeting"')
    karen = meeting.join("Karen Jensen")
    karen.wait_text('data-view="meeting"')
    ole = meeting.join("Ole Hansen")
    ole.wait_text('data-view="meeting"')
    host.wait_for(lambda t: 'id="people"' in t and "Ole Hansen" in t)
    return host, karen, ole


def test_name_list_shows_roles_and_first_names_to_guests(meeting, three):
    host, karen, ole = three
    karen.wait_for(lambda t: 'id="people"' in t and "Ole<" in t.replace("Ole</span>", "Ole<"))
    latest = [t for t in karen.received if 'id="people"' in t][-1]
    assert "Ole Hansen" not in latest and "Nurse Nina" in latest and "Host" in latest
    host_view = [t for t in host.received if 'id="people"' in t][-1]
    assert "Karen Jensen" in host_view and "Actions" in host_view


def test_chat_roundtrip_history_and_first_names(meeting, three):
    host, karen, ole = three
    karen.send({"action": "chat", "text": "  Hello   everyone "})
    ole.wait_for(lambda t: "chat-log" in t and "Hello everyone" in t and "Karen:" in t)
    host.wait_for(lambda t: "chat-log" in t and "Karen Jensen:" in t)
    late = meeting.join("Late Lars")
    late.wait_for(lambda t: 'data-view="meeting"' in t and "Hello everyone" in t)
    assert meeting.store.read_log(meeting.state().meeting_id)[0]["text"] == "Hello everyone"


def test_chat_limits_and_chat_off(meeting, three):
    host, karen, ole = three
    karen.send({"action": "chat", "text": "x" * 501})
    karen.wait_text("at most 500 characters")
    for i in range(6):
        karen.send({"action": "chat", "text": f"line {i}"})
    karen.wait_text("writing very fast")
    host.send({"action": "chat_enabled", "on": "0"})
    karen.wait_for(lambda t: 'id="chat_form"' in t and "Chat is turned off" in t)
    before = len(meeting.store.read_log(meeting.state().meeting_id))
    ole.send({"action": "chat", "text": "sneaky"})
    ole.wait_text("Chat is turned off in this meeting")
    assert len(meeting.store.read_log(meeting.state().meeting_id)) == before
    # A named participant may answer chat as the host even while it is off.
    host.send({"action": "chat_host", "pid": meeting.pid("Ole Hansen"), "on": "1"})
    wait_until(lambda: meeting.person("Ole Hansen").chat_host)
    ole.send({"action": "chat", "text": "answer as host"})
    host.wait_for(lambda t: "answer as host" in t and "(staff)" in t)


def test_hands_in_order_lower_and_lower_all(meeting, three):
    host, karen, ole = three
    ole.send({"action": "hand", "on": "1"})
    wait_until(lambda: meeting.person("Ole Hansen").hand)
    karen.send({"action": "hand", "on": "1"})
    html = host.wait_for(lambda t: 'id="hands"' in t and "Karen Jensen" in t)
    assert html.index("Ole Hansen") < html.index("Karen Jensen")
    host.send({"action": "lower_hand", "pid": meeting.pid("Ole Hansen")})
    wait_until(lambda: meeting.person("Ole Hansen").hand is None)
    host.send({"action": "lower_all"})
    wait_until(lambda: meeting.person("Karen Jensen").hand is None)
    host.send({"action": "hand_enabled", "on": "0"})
    wait_until(lambda: not meeting.state().settings.hand_raise)
    karen.send({"action": "hand", "on": "1"})
    karen.wait_text("Hand raising is turned off")


def test_floor_control_unmutes_and_takes_back(meeting, three):
    host, karen, ole = three
    host.send({"action": "guests_unmute", "on": "0"})
    host.send({"action": "mute_all"})
    wait_until(lambda: not meeting.person("Karen Jensen").mic)
    karen.send({"action": "mic", "on": True})
    karen.wait_text("turned off the microphones")
    assert not meeting.person("Karen Jensen").mic
    karen.send({"action": "hand", "on": "1"})
    wait_until(lambda: meeting.person("Karen Jensen").hand)
    host.send({"action": "give_floor", "pid": meeting.pid("Karen Jensen")})
    wait_until(lambda: meeting.person("Karen Jensen").mic)
    assert meeting.person("Karen Jensen").hand is None and meeting.person("Karen Jensen").floor
    karen.wait_for(lambda t: 'id="controls"' in t and "Microphone on" in t)
    host.send({"action": "take_floor", "pid": meeting.pid("Karen Jensen")})
    wait_until(lambda: not meeting.person("Karen Jensen").mic)


def test_guests_are_refused_every_host_control(meeting, three):
    host, karen, ole = three
    ole_pid = meeting.pid("Ole Hansen")
    before = meeting.state()
    for msg in [
        {"action": "mute", "pid": ole_pid}, {"action": "mute_all"}, {"action": "lock", "on": "1"},
        {"action": "admit_all"}, {"action": "remove", "pid": ole_pid}, {"action": "layout", "value": "host_only"},
        {"action": "guests_camera", "on": "0"}, {"action": "cohost", "pid": ole_pid, "on": "1"},
        {"action": "end"}, {"action": "chat_enabled", "on": "0"}, {"action": "breakout_auto", "count": "2"},
        {"action": "give_floor", "pid": ole_pid},
    ]:
        karen.send(msg)
    karen.wait_for(lambda t: sum("Only the host can do that" in x for x in karen.received) >= 12, timeout=5)
    after = meeting.state()
    assert after.locked == before.locked and after.settings == before.settings and not after.ended
    assert set(after.participants) == set(before.participants)
    assert meeting.person("Ole Hansen").mic and not meeting.person("Ole Hansen").cohost


def test_camera_ban_and_policy_sent_to_media(meeting, three, media):
    host, karen, ole = three
    room = meeting.state().meeting_id
    host.send({"action": "guests_camera", "on": "0"})
    wait_until(lambda: not meeting.person("Karen Jensen").cam)
    karen.send({"action": "cam", "on": True})
    karen.wait_text("turned off the participants")
    # What the media worker was actually told, not a recomputation of it.
    wait_until(lambda: meeting.pid("Karen Jensen") in media.last_policy(room)["video_blocked"])
    blocked = media.last_policy(room)["video_blocked"]
    assert meeting.pid("Ole Hansen") in blocked and meeting.pid("Nurse Nina") not in blocked


def test_lock_knock_admit_and_turn_away(meeting, three):
    host, karen, ole = three
    host.send({"action": "lock", "on": "1"})
    wait_until(lambda: meeting.state().locked)
    newcomer = meeting.join("Peter Knock")
    newcomer.wait_text("The meeting is locked")
    host.wait_for(lambda t: 'id="people"' in t and "Knocking" in t and "Peter Knock" in t)
    host.send({"action": "admit", "pid": meeting.pid("Peter Knock")})
    newcomer.wait_text('data-view="meeting"')
    other = meeting.join("Unwanted Uwe")
    other.wait_text("The meeting is locked")
    wait_until(lambda: any(p.name == "Unwanted Uwe" for p in meeting.state().participants.values()))
    host.send({"action": "deny", "pid": meeting.pid("Unwanted Uwe")})
    other.wait_text('data-view="removed"')
    # Reloading does not get them back in.
    again = Page(meeting.server.url, "demo", other.session)
    again.wait_text('data-view="removed"')


def test_remove_and_host_cannot_be_removed(meeting, three):
    host, karen, ole = three
    host.send({"action": "remove", "pid": meeting.pid("Nurse Nina")})
    host.wait_text("The host cannot be removed")
    host.send({"action": "remove", "pid": meeting.pid("Ole Hansen")})
    ole.wait_text('data-view="removed"')
    assert all(p.name != "Ole Hansen" for p in meeting.state().participants.values())


def test_layout_one_way_and_cohost(meeting, three):
    host, karen, ole = three
    host.send({"action": "layout", "value": "host_only"})
    karen.wait_for(lambda t: 'id="meta"' in t and 'data-layout="host_only"' in t)
    host.send({"action": "layout", "value": "nonsense"})
    host.wait_text("Unknown layout")
    host.send({"action": "one_way", "on": "1"})
    wait_until(lambda: meeting.state().settings.one_way_video)
    host.send({"action": "cohost", "pid": meeting.pid("Karen Jensen"), "on": "1"})
    karen.wait_for(lambda t: 'id="host"' in t and "Host controls" in t)
    # A co-host has host controls but cannot appoint co-hosts.
    karen.send({"action": "cohost", "pid": meeting.pid("Ole Hansen"), "on": "1"})
    karen.wait_text("Only the host can choose a co-host")
    karen.send({"action": "lock", "on": "1"})
    wait_until(lambda: meeting.state().locked)
    host.send({"action": "cohost", "pid": meeting.pid("Karen Jensen"), "on": "0"})
    wait_until(lambda: not meeting.person("Karen Jensen").cohost)


def test_host_arrival_lets_the_whole_waiting_room_in_and_they_are_listed_before(meeting):
    erik = meeting.join("Early Erik")
    erik.wait_text('data-view="waiting"')
    anna = meeting.join("Anna Andersen")
    anna.wait_text('data-view="waiting"')
    assert {p.status for p in meeting.state().participants.values()} == {"waiting"}
    host = meeting.join("Nurse Nina", host=True)
    erik.wait_text('data-view="meeting"')
    anna.wait_text('data-view="meeting"')
    host.wait_for(lambda t: 'id="people"' in t and "Early Erik" in t and "Anna Andersen" in t)


def test_breakout_rooms_split_visit_broadcast_and_return(meeting, three, media):
    host, karen, ole = three
    host.send({"action": "breakout_auto", "count": "2"})
    wait_until(lambda: meeting.person("Karen Jensen").group and meeting.person("Ole Hansen").group)
    assert meeting.person("Karen Jensen").group != meeting.person("Ole Hansen").group
    karen.wait_for(lambda t: 'id="breakout"' in t and "You are in Group" in t)
    room = meeting.state().meeting_id
    wait_until(lambda: len(set(media.last_policy(room)["groups"].values())) == 2)
    # Chat stays inside a group.
    karen.send({"action": "chat", "text": "group secret"})
    host.wait_text("group secret")
    ole.drain(0.5)
    assert not any("group secret" in t for t in ole.received)
    host.send({"action": "breakout_visit", "group": meeting.person("Ole Hansen").group})
    wait_until(lambda: meeting.person("Nurse Nina").group == meeting.person("Ole Hansen").group)
    host.send({"action": "notice", "text": "Two minutes left"})
    karen.wait_text("Two minutes left")
    ole.wait_text("Two minutes left")
    host.send({"action": "breakout_close", "seconds": "1"})
    karen.wait_for(lambda t: "countdown" in t)
    wait_until(lambda: all(p.group is None for p in meeting.state().participants.values()), timeout=4)


def test_end_meeting_for_everyone(meeting, three, db):
    host, karen, ole = three
    host.send({"action": "end"})
    karen.wait_text('data-view="ended"')
    ole.wait_text('data-view="ended"')
    from mvc.models import Meeting as M

    from sqlmodel import select

    def all_ended():
        db.expire_all()
        return all(m.status == "ended" for m in db.exec(select(M)).all())

    wait_until(all_ended)


def test_rejoin_keeps_name_role_and_raised_hand(meeting, three):
    host, karen, ole = three
    karen.send({"action": "hand", "on": "1"})
    wait_until(lambda: meeting.person("Karen Jensen").hand)
    karen.close()
    wait_until(lambda: not meeting.person("Karen Jensen").connected)
    back = Page(meeting.server.url, "demo", karen.session)
    back.wait_for(lambda t: 'id="controls"' in t and "Lower hand" in t)
    assert meeting.person("Karen Jensen").connected
    host.wait_for(lambda t: 'id="hands"' in t and "Karen Jensen" in t)


def test_screen_share_only_when_allowed(meeting, three):
    host, karen, ole = three
    karen.send({"action": "share", "on": True})
    karen.wait_text("Only the host can share a screen")
    host.send({"action": "share", "on": True})
    wait_until(lambda: meeting.person("Nurse Nina").screen)
    karen.wait_for(lambda t: 'id="meta"' in t and f'data-screen="{meeting.pid("Nurse Nina")}"' in t)


def test_breakout_by_hand(meeting, three):
    host, karen, ole = three
    host.send({"action": "breakout_assign", "pid": meeting.pid("Karen Jensen"), "group": "  Kitchen  "})
    wait_until(lambda: meeting.person("Karen Jensen").group == "Kitchen")
    karen.wait_for(lambda t: 'id="breakout"' in t and "You are in Kitchen" in t)
    host.send({"action": "breakout_assign", "pid": meeting.pid("Karen Jensen"), "group": ""})
    wait_until(lambda: meeting.person("Karen Jensen").group is None)
    ole.send({"action": "breakout_assign", "pid": meeting.pid("Ole Hansen"), "group": "Mine"})
    ole.wait_text("Only the host can do that")


# -- consent: only a participant switches their own microphone and camera on -------------------
@pytest.mark.parametrize("kept_muted", [False, True])
def test_the_word_for_someone_without_a_raised_hand_leaves_the_mic_off_and_asks_them(meeting, three, media,
                                                                                       kept_muted):
    host, karen, ole = three
    room = meeting.state().meeting_id
    if kept_muted:
        host.send({"action": "guests_unmute", "on": "0"})
        host.send({"action": "mute_all"})
    else:
        ole.send({"action": "mic", "on": False})  # Ole switched his microphone off himself
    wait_until(lambda: not meeting.person("Ole Hansen").mic)
    host.send({"action": "give_floor", "pid": meeting.pid("Ole Hansen")})
    prompt = ole.wait_for(lambda t: 'id="speak-prompt"' in t and "You may speak now" in t)
    assert meeting.person("Ole Hansen").floor and not meeting.person("Ole Hansen").mic
    assert meeting.pid("Ole Hansen") in media.last_policy(room)["audio_blocked"]
    # The prompt's one button is Ole's own microphone switch; pressing it is what turns it on.
    assert 'data-action="mic"' in prompt and 'aria-pressed="false"' in prompt
    ole.received.clear()
    ole.send({"action": "mic", "on": True})
    wait_until(lambda: meeting.person("Ole Hansen").mic)
    ole.wait_for(lambda t: 'id="speak-prompt" class="speak-prompt" hidden' in t)  # answered: the prompt goes
    wait_until(lambda: meeting.pid("Ole Hansen") not in media.last_policy(room)["audio_blocked"])


def test_the_word_for_a_raised_hand_switches_their_mic_on_without_a_prompt(meeting, three, media):
    host, karen, ole = three
    room = meeting.state().meeting_id
    karen.send({"action": "mic", "on": False})
    karen.send({"action": "hand", "on": "1"})
    wait_until(lambda: meeting.person("Karen Jensen").hand and not meeting.person("Karen Jensen").mic)
    host.send({"action": "give_floor", "pid": meeting.pid("Karen Jensen")})
    wait_until(lambda: meeting.person("Karen Jensen").mic)
    wait_until(lambda: meeting.pid("Karen Jensen") not in media.last_policy(room)["audio_blocked"])
    karen.wait_for(lambda t: 'id="controls"' in t and "Microphone on" in t)
    assert not any("You may speak now" in t for t in karen.received)


def test_no_host_action_switches_a_microphone_or_camera_on(meeting, three, media):
    host, karen, ole = three
    room = meeting.state().meeting_id
    ole_pid = meeting.pid("Ole Hansen")
    ole.send({"action": "mic", "on": False})
    ole.send({"action": "cam", "on": False})
    wait_until(lambda: not meeting.person("Ole Hansen").mic and not meeting.person("Ole Hansen").cam)
    for msg in [
        {"action": "guests_unmute", "on": "0"}, {"action": "guests_unmute", "on": "1"},  # end of keep-muted
        {"action": "guests_camera", "on": "0"}, {"action": "guests_camera", "on": "1"},  # camera ban lifted
        {"action": "give_floor", "pid": ole_pid}, {"action": "take_floor", "pid": ole_pid},
        {"action": "give_floor", "pid": ole_pid},
        {"action": "cohost", "pid": ole_pid, "on": "1"}, {"action": "cohost", "pid": ole_pid, "on": "0"},
        {"action": "breakout_auto", "count": "2"}, {"action": "breakout_close", "seconds": "0"},
        {"action": "lock", "on": "1"}, {"action": "lock", "on": "0"}, {"action": "layout", "value": "host_large"},
    ]:
        host.send(msg)
    wait_until(lambda: meeting.state().settings.layout == "host_large")
    ole_now = meeting.person("Ole Hansen")
    assert not ole_now.mic and not ole_now.cam
    policy = media.last_policy(room)
    assert ole_pid in policy["audio_blocked"] and ole_pid in policy["video_blocked"]


# -- removal sticks for the meeting ------------------------------------------------------------
def test_removed_guest_with_a_fresh_session_knocks_marked_removed_earlier(meeting, three):
    host, karen, ole = three
    host.send({"action": "remove", "pid": meeting.pid("Ole Hansen")})
    ole.wait_text('data-view="removed"')
    # The same browser with a fresh session cookie (the long-lived device cookie stays).
    fresh = requests.Session()
    fresh.cookies.set("mvc_device", ole.session.cookies.get("mvc_device"))
    back = Page(meeting.server.url, "demo", http_join(meeting.server.url, "demo", "Ole H", session=fresh))
    meeting.pages.append(back)
    back.wait_text('data-view="knocking"')
    host.wait_for(lambda t: 'id="people"' in t and "Ole H<" in t and "Removed earlier" in t)
    # "Let everyone in" leaves them knocking; the host lets them in by hand.
    host.send({"action": "admit_all"})
    host.send({"action": "admit", "pid": meeting.pid("Ole H")})
    back.wait_text('data-view="meeting"')


def test_removed_page_knocks_when_opened_again_but_its_socket_does_not(meeting, three):
    host, karen, ole = three
    host.send({"action": "remove", "pid": meeting.pid("Ole Hansen")})
    ole.wait_text('data-view="removed"')
    again = Page(meeting.server.url, "demo", ole.session)  # the removed page reconnecting on its own
    meeting.pages.append(again)
    again.wait_text('data-view="removed"')
    assert all(p.name != "Ole Hansen" for p in meeting.state().participants.values())
    page = ole.session.get(f"{meeting.server.url}/m/demo/live")  # opening the meeting page again
    assert 'data-view="knocking"' in page.text
    assert meeting.person("Ole Hansen").status == "knocking" and meeting.person("Ole Hansen").removed_earlier


def test_removed_invitee_coming_back_by_their_link_knocks(live_server, db, demo_room):
    from mvc.security import make_invite_token

    row, inv = booked_meeting(db, demo_room.organisation_id, "booked-9")
    with live_server.app.test_request_context():
        token = make_invite_token(inv.id, row.id)
    store = live_server.app.extensions["mvc.live"]
    host_session = http_join(live_server.url, "booked-9", "Nurse Nina", "111111")
    host_session.get(f"{live_server.url}/lang/en")
    host = Page(live_server.url, "booked-9", host_session)
    ole = Page(live_server.url, "booked-9", http_join(live_server.url, "booked-9", "Ole Hansen", token=token))
    pages = [host, ole]
    try:
        ole.wait_text('data-view="meeting"')
        ole_pid = next(p.pid for p in store.get(row.id).participants.values() if p.name == "Ole Hansen")
        host.send({"action": "remove", "pid": ole_pid})
        ole.wait_text('data-view="removed"')
        # Another browser, same invitation link: no longer admitted, knocks instead.
        back = Page(live_server.url, "booked-9", http_join(live_server.url, "booked-9", "Ole Hansen", token=token))
        pages.append(back)
        back.wait_text('data-view="knocking"')
        host.wait_for(lambda t: 'id="people"' in t and "Removed earlier" in t and "Ole Hansen" in t)
    finally:
        for p in pages:
            p.close()


# -- bounded work per message ------------------------------------------------------------------
def test_repeated_breakout_close_keeps_one_timer_and_starts_no_threads(meeting, three):
    host, karen, ole = three
    host.send({"action": "breakout_auto", "count": "2"})
    wait_until(lambda: meeting.person("Karen Jensen").group)
    # Three sockets of the host's page, so 150 messages stay within each socket's rate limit.
    sockets = [host] + [Page(meeting.server.url, "demo", host.session) for _ in range(2)]
    meeting.pages.extend(sockets[1:])
    for s in sockets[1:]:
        s.send({"action": "ping"})  # answered once the socket's reader thread runs
        s.wait_text("did not understand")
    threads = threading.active_count()
    version = meeting.state().version
    for i in range(150):
        sockets[i % 3].send({"action": "breakout_close", "seconds": "300"})
    wait_until(lambda: meeting.state().version >= version + 150, timeout=10)
    assert threading.active_count() <= threads + 1  # at most the one scheduler thread
    assert meeting.server.app.extensions["mvc.timers"].pending() == 1
    assert meeting.person("Karen Jensen").group  # the countdown runs; nobody was brought back yet


def test_deeply_nested_json_gets_a_status_line_and_the_socket_stays_usable(meeting, three):
    host, karen, ole = three
    karen.send("[" * 10_000 + "]" * 10_000)
    karen.wait_text("did not understand")
    karen.send('{"action": "hand", "on": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}')
    karen.wait_text("did not understand")
    karen.send({"action": "hand", "on": "1"})
    wait_until(lambda: meeting.person("Karen Jensen").hand)
