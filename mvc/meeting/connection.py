"""One participant's websocket: live fragments out, actions and signalling in.

A reader thread only reads, checks size and rate, and queues. The handler thread (which
holds the request context, so templates and the session work) does everything else:
bus events, incoming messages, rendering and sending. One thread sends, so no locks.
"""
from __future__ import annotations

import contextlib
import json
import queue
import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import gettext as _
from simple_websocket import ConnectionClosed

from mvc import db, logs, rooms
from mvc.live import state as rules
from mvc.live.state import chat_allowed
from mvc.meeting import inbound, live_ops
from mvc.meeting.actions import handle_action
from mvc.rooms import Target
from mvc.sockets import PAGE_GONE, page_may_vanish
from mvc.stats import record as stats

log = logs.get("mvc.ws")
MAX_MESSAGE = inbound.MAX_CHARS
QUEUE_LIMIT = 500
RATE_PER_SECOND = 20  # sustained messages a page may send
RATE_BURST = 60
SIGNAL_TYPES = {"offer", "answer", "candidate", "keyframe"}
WAITING_VIEWS = {"waiting", "knocking"}  # views whose media is connected but forwarded nothing
INVITED_TTL = 15  # seconds; someone who joins leaves the list at once, new invitations show within this
LIVE_PARTS = ("meta", "people", "controls", "speak_prompt", "hands", "host", "chat_form", "breakout")  # diffed on every change


def origin_allowed(request) -> bool:
    """The websocket may only be opened by our own pages (no cross-site hijacking)."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    public = current_app.config["PUBLIC_URL"]
    allowed = {request.host}
    if public:
        allowed.add(urlsplit(public).netloc)
    return urlsplit(origin).netloc in allowed


class PageGone(Exception):
    """The page went away while the server was sending to it."""


class TokenBucket:
    """Rate limit for incoming messages."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Connection:
    """Serves one participant's websocket until it closes."""

    def __init__(self, ws, target: Target, me: dict) -> None:
        self.ws = ws
        self.target = target
        self.meeting_id = target.meeting.id
        self.pid = me["pid"]
        self.me = me
        self.socket_id = secrets.token_hex(8)  # tells this socket from the page's next one
        self.inbox: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self.sent: dict[str, str] = {}  # fragment id -> last HTML sent, to skip unchanged ones
        self.view: str | None = None
        self.media_on: str | None = None  # "waiting" (connected, nothing forwarded), "meeting" or None
        self.closed = threading.Event()
        self.theme = None
        self._invited_cache: tuple[float, list] | None = None

    # -- plumbing --------------------------------------------------------------------
    def _post(self, item: dict) -> None:
        try:
            self.inbox.put_nowait(item)
        except queue.Full:
            # A page that cannot keep up is closed; it reconnects and gets a fresh snapshot.
            self.closed.set()

    def _reader(self) -> None:
        bucket = TokenBucket(RATE_PER_SECOND, RATE_BURST)
        try:
            while not self.closed.is_set():
                data = self.ws.receive()
                if data is None:
                    continue
                if len(data) > MAX_MESSAGE:
                    self._post({"kind": "refuse", "why": "size"})
                    continue
                if not bucket.take():
                    log.warning("ws_flood", meeting=self.meeting_id, pid=self.pid)
                    self._post({"kind": "flood"})
                    return
                self._post({"kind": "in", "data": data})
        except ConnectionClosed:
            pass
        finally:
            self._post({"kind": "closed"})

    def send(self, payload: str) -> None:
        """Send text to the page (handler thread only); a vanished page ends the loop quietly."""
        try:
            self.ws.send(payload)
        except PAGE_GONE as exc:
            self.closed.set()
            raise PageGone from exc

    def send_json(self, obj: dict) -> None:
        self.send(json.dumps(obj))

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> None:
        """Serve until the page goes away, then record the disconnect."""
        hub = current_app.extensions["mvc.hub"]
        unsubscribe = live_ops.store().subscribe(self.meeting_id, self._post)
        hub.register(self.meeting_id, self.pid, self._post)
        reader = threading.Thread(target=self._reader, name=f"ws-read-{self.pid}", daemon=True)
        connected = False
        try:
            state = live_ops.store().get(self.meeting_id)
            if state is None or self.pid not in state.participants or not rules.holds_seat(
                state.participants[self.pid]
            ):
                # The live state was lost, we were never placed or our seat lapsed: place us again.
                live_ops.arrive(self.target.meeting, self.me, live_ops.room_cap(self.target.alias))
            state = live_ops.set_connected(self.meeting_id, self.pid, True, self.socket_id)
            connected = True
            log.info("ws_open", meeting=self.meeting_id, pid=self.pid)
            self.refresh(state, full=True)
            db.release()
            reader.start()
            self._loop()
        except rules.RoomFull:
            with contextlib.suppress(PageGone):  # the page may have gone while we looked for a seat
                self.status(live_ops.room_full_text())
        except (ConnectionClosed, PageGone):
            log.info("ws_gone", meeting=self.meeting_id, pid=self.pid)
        finally:
            self.closed.set()
            unsubscribe()
            hub.unregister(self.pid, self._post)
            if self.media_on:
                live_ops.to_media(self.meeting_id, {"type": "leave", "pid": self.pid})
            state = live_ops.store().get(self.meeting_id)
            if connected and state is not None and self.pid in state.participants:
                live_ops.set_connected(self.meeting_id, self.pid, False, self.socket_id)
            log.info("ws_close", meeting=self.meeting_id, pid=self.pid)
            try:
                self.ws.close()
            except Exception:  # already closed by the peer; nothing left to do
                pass

    def _loop(self) -> None:
        while not self.closed.is_set():
            try:
                item = self.inbox.get(timeout=30)
            except queue.Empty:
                continue
            batch = [item]
            while not self.inbox.empty():  # coalesce bursts: render the state once
                batch.append(self.inbox.get_nowait())
            dirty = False
            for it in batch:
                kind = it.get("kind")
                if kind == "closed":
                    return
                if kind == "flood":
                    self.status(_("Too many messages were sent too quickly. Reconnecting…"))
                    with page_may_vanish():
                        self.ws.close(1008, "flood")
                    return
                if kind == "state":
                    dirty = True
                elif kind == "in":
                    dirty |= self.incoming(it["data"])
                elif kind == "media":
                    self.send_json(it["msg"])
                elif kind == "chat":
                    self.chat_line(it["line"])
                elif kind == "notice":
                    self.send(render_template("meeting/_notice.html", text=it["text"], sender=it.get("from", "")))
                elif kind == "refuse":
                    self.status(_("That message was too large and was ignored."))
                elif kind == "page":
                    self.send(it["html"])
            if dirty:
                self.refresh(live_ops.store().get(self.meeting_id))
            db.release()  # nothing pooled is held while the socket waits
            if self.view in {"ended", "removed"}:
                return

    # -- rendering ---------------------------------------------------------------------
    def refresh(self, state, full: bool = False) -> None:
        """Send what changed for this participant since the last send."""
        person = state.participants.get(self.pid) if state else None
        view = live_ops.view_for(state, person)
        if self.theme is None:
            self.theme = rooms.theme_for(db.session(), self.target.theme_id)
        ctx = live_ops.page_context(self.target, state, person, view, self.theme)
        ctx["invited_people"] = lambda: self._invited(state, full)
        fresh_stage = full or view != self.view
        if fresh_stage:
            self.send(render_template("meeting/_stage.html", **ctx))
            self.sent.clear()
            self.view = view
        for name in LIVE_PARTS if view == "meeting" else ():
            html = render_template(f"meeting/_{name}.html", **ctx)
            if self.sent.get(name) != html:
                if not fresh_stage:  # a fresh stage already holds every part
                    self.send(html)
                self.sent[name] = html
        self._media_for(view, state)

    def _invited(self, state, full: bool) -> list:
        """Invitees not here yet, from the database at most every INVITED_TTL seconds per page."""
        now = time.monotonic()
        if full or self._invited_cache is None or now - self._invited_cache[0] > INVITED_TTL:
            self._invited_cache = (now, live_ops.invited_not_here(state))
        joined = {p.invitation_id for p in state.participants.values() if p.invitation_id}
        return [inv for inv in self._invited_cache[1] if inv.id not in joined]

    def chat_line(self, line: dict) -> None:
        """Append one chat line if this participant may see it."""
        state = live_ops.store().get(self.meeting_id)
        me = state.participants.get(self.pid) if state else None
        if me is None or me.status != "present" or not chat_allowed(state, me):
            return
        if line.get("group") != me.group and not me.is_host:
            return
        self.send(render_template("meeting/_chat_line.html", line=line, me=me, oob=True))

    def _media_for(self, view: str, state) -> None:
        """Media follows the view. In the waiting room the page connects to the media worker
        (ICE and DTLS) but nothing is forwarded to it or from it; being let in then costs
        only the worker's offer of the others' tracks. Leaving the meeting or the waiting
        room ends the connection."""
        want = "meeting" if view == "meeting" else "waiting" if view in WAITING_VIEWS else None
        if want == self.media_on:
            return
        if self.media_on == "waiting" and want == "meeting":
            self.media_on = want
            stats.record_admitted(self.meeting_id, self.pid)  # statistics
            live_ops.sync_policy(self.meeting_id, state)  # before admit: blocks apply from the start
            live_ops.to_media(self.meeting_id, {"type": "admit", "pid": self.pid})
            self.send_json({"type": "media", "action": "admit"})
            return
        if self.media_on:
            self.media_on = None
            live_ops.to_media(self.meeting_id, {"type": "leave", "pid": self.pid})
            self.send_json({"type": "media", "action": "stop"})
        if want is None:
            return
        self.media_on = want
        live_ops.to_media(self.meeting_id, {"type": "join", "pid": self.pid, "waiting": want == "waiting"})
        if want == "meeting":
            stats.record_admitted(self.meeting_id, self.pid)  # statistics
            live_ops.sync_policy(self.meeting_id, state)
        self.send_json({"type": "media", "action": "start", "pid": self.pid, "waiting": want == "waiting",
                        "iceServers": live_ops.ice_servers(self.pid)})

    def status(self, text: str) -> None:
        """A polite announcement in the page's live region."""
        self.send(render_template("meeting/_status.html", text=text))

    # -- incoming ----------------------------------------------------------------------
    def incoming(self, data) -> bool:
        """Handle one message from the page; True when the state may have changed."""
        try:
            msg = inbound.parse(data)
        except inbound.BadMessage as exc:
            log.warning("ws_bad_message", meeting=self.meeting_id, pid=self.pid, why=str(exc))
            self.status(_("The page sent something the server did not understand."))
            return False
        if msg.get("type") in SIGNAL_TYPES:
            return self.signal(msg)
        if msg.get("type") in stats.PAGE_TYPES:  # statistics: quality reports, client errors, media states
            return stats.from_page(self, msg)
        stats.record_action(self, msg)  # statistics: the support timeline
        return handle_action(self, msg)

    def signal(self, msg: dict) -> bool:
        """Forward WebRTC signalling to the media worker, for people in the meeting or its
        waiting room (whose connection the worker forwards nothing to or from)."""
        if not self.media_on:
            self.send_json({"type": "error", "message": "not in the meeting"})
            return False
        out = {"type": msg["type"], "pid": self.pid}
        if msg["type"] == "offer":  # a fresh connection from the waiting room stays there
            out["waiting"] = self.media_on == "waiting"
        if msg["type"] in {"offer", "answer"}:
            if not isinstance(msg.get("sdp"), str):
                self.send_json({"type": "error", "message": "sdp must be a string"})
                return False
            out["sdp"] = msg["sdp"]
        elif msg["type"] == "candidate":
            if not isinstance(msg.get("candidate"), (dict, type(None))):
                self.send_json({"type": "error", "message": "bad candidate"})
                return False
            out["candidate"] = msg.get("candidate")
        live_ops.to_media(self.meeting_id, out)
        return False
