"""Meeting capacity benchmark: many open meeting websockets on one web process, no media.

    python -m mvc.loadbench --rooms 35            # one room of 35 people
    python -m mvc.loadbench --rooms 33x9,150      # nine 33-person rooms and a 150-person room

Starts the app as `make run` does (gunicorn with config/gunicorn.conf.py, one gthread
process, a fresh SQLite database in a temporary folder, no media workers), makes the rooms
(two hosts in each, the rest guests; a room above the default cap gets its own cap through
MVC_ROOM_CAPS), and lets everyone join through the real join form and open the meeting
websocket, a few at a time. With every socket open it times /healthz and a join page,
then raises a hand in every room at once (three times) and in the first room alone (three
times) and times until every page concerned has shown it. Prints one JSON line: p50/p95 of
the join page while people arrive, of the whole join (form to meeting view), of /healthz
and a join page with every socket open, the raised-hand times, and the web process's
threads and memory.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOSTS_PER_ROOM = 2


def bench_app():
    """The app gunicorn serves here: joins from one address must not hit the per-client limit."""
    from mvc import create_app

    return create_app({"RATELIMIT_ENABLED": False})


def parse_rooms(spec: str) -> list[int]:
    """'33x9,150' -> [33]*9 + [150]."""
    sizes: list[int] = []
    for part in spec.split(","):
        size, _x, times = part.strip().partition("x")
        sizes += [int(size)] * int(times or 1)
    return sizes


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in milliseconds, rounded."""
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))], 1)


def summary(values: list[float]) -> dict:
    """p50 and p95 of durations in seconds, in milliseconds."""
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95), "n": len(values)}


def prepare(tmp: Path, sizes: list[int]) -> tuple[dict, list[tuple[str, str]]]:
    """A migrated, seeded database with one room per size; returns the server's environment and (alias, pin)."""
    from sqlmodel import Session, create_engine, select

    from mvc import db
    from mvc.models import Organisation, Room
    from mvc.seed import seed_demo

    url = f"sqlite:///{tmp / 'loadbench.db'}"
    db.upgrade(url)
    rooms = []
    with Session(create_engine(url)) as s:
        seed_demo(s)
        org = s.exec(select(Organisation)).first()
        for i, _size in enumerate(sizes):
            room = Room(organisation_id=org.id, alias=f"load-{i + 1}", name=f"Load {i + 1}", host_pin=f"{100000 + i}")
            s.add(room)
            rooms.append((room.alias, room.host_pin))
        s.commit()
    caps = ",".join(f"{alias}={size}" for (alias, _pin), size in zip(rooms, sizes) if size > 35)
    env = {**os.environ, "MVC_DATABASE_URL": url, "MVC_MEDIA_WORKERS": "0", "MVC_REMINDER_THREAD": "0",
           "MVC_LOG_LEVEL": "WARNING", "MVC_SECRET_KEY": "loadbench", "MVC_ROOM_CAPS": caps,
           "MVC_SEED_DEMO": "0", "MVC_PUBLIC_URL": ""}
    return env, rooms


def start_server(env: dict, tmp: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn as `make run` starts it, on a free port; waits until /healthz answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "mvc.loadbench:bench_app()"],
        cwd=ROOT, env={**env, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, base
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((tmp / "gunicorn.log").read_text()[-2000:])
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def worker_stats(master: int) -> dict:
    """Threads and resident memory of gunicorn's worker process (Linux /proc)."""
    try:
        child = int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])
        status = Path(f"/proc/{child}/status").read_text()
    except (OSError, IndexError, ValueError):
        return {}
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"threads": int(fields["Threads"]), "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024)}


class Person:
    """One participant: joins through the form, then keeps the meeting websocket open."""

    def __init__(self, base: str, alias: str, name: str, pin: str = "") -> None:
        self.base, self.alias, self.name, self.pin = base, alias, name, pin
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.pid = ""
        self.page_s = self.join_s = 0.0
        self.needle: str | None = None
        self.seen_at: float | None = None
        self._stage = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def join(self) -> None:
        """Join page, form, meeting page, websocket until the meeting view arrives."""
        t0 = time.perf_counter()
        async with self.http.get(f"{self.base}/m/{self.alias}") as resp:
            html = await resp.text()
        self.page_s = time.perf_counter() - t0
        token = CSRF.search(html)
        if token is None:
            raise RuntimeError(f"no join form for {self.name}: HTTP {resp.status}")
        form = {"csrf_token": token.group(1), "name": self.name, "pin": self.pin, "media": "listen"}
        async with self.http.post(f"{self.base}/m/{self.alias}", data=form, allow_redirects=False) as resp:
            if resp.status != 302:
                raise RuntimeError(f"join refused for {self.name}: HTTP {resp.status}")
        async with self.http.get(f"{self.base}/m/{self.alias}/live") as resp:
            await resp.read()
        self.ws = await self.http.ws_connect(self.base.replace("http", "ws", 1) + f"/ws/m/{self.alias}",
                                             origin=self.base, max_msg_size=0)
        self.task = asyncio.ensure_future(self._read(self.ws))
        await asyncio.wait_for(self._stage.wait(), 120)
        self.join_s = time.perf_counter() - t0

    async def _read(self, ws) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            text = message.data
            if 'data-view="meeting"' in text:
                self._stage.set()
            if text.startswith("{"):
                msg = json.loads(text)
                if msg.get("action") == "start":
                    self.pid = msg["pid"]
            elif self.needle and self.seen_at is None and self.needle in text:
                self.seen_at = time.perf_counter()

    async def close(self) -> None:
        """Close the websocket and the HTTP session."""
        if self.task is not None:
            self.task.cancel()
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


async def timed_gets(url: str, count: int) -> list[float]:
    """Sequential GETs of url; their durations in seconds (each must answer 200)."""
    out = []
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            t0 = time.perf_counter()
            async with http.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}")
            out.append(time.perf_counter() - t0)
    return out


async def raise_hands(rooms: dict[str, list["Person"]], round_no: int) -> dict:
    """One guest per room raises a hand at once; time until every page shows it."""
    raisers = {alias: people[HOSTS_PER_ROOM + round_no] for alias, people in rooms.items()}
    everyone = [p for people in rooms.values() for p in people]
    for alias, people in rooms.items():
        for p in people:
            p.needle, p.seen_at = f'id="person-{raisers[alias].pid}" class="person hand-up"', None
    t0 = time.perf_counter()
    await asyncio.gather(*(send_hand(r) for r in raisers.values()))
    deadline = t0 + 120
    while any(p.seen_at is None for p in everyone) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    seen = [p.seen_at - t0 for p in everyone if p.seen_at is not None]
    by_size: dict[str, float] = {}  # the slowest page in rooms of each size
    for people in rooms.values():
        times = [p.seen_at - t0 for p in people if p.seen_at is not None]
        key = str(len(people))
        by_size[key] = max(by_size.get(key, 0.0), round(1000 * max(times), 1) if times else float("inf"))
    return {"pages": len(everyone), "reached": len(seen), "all_ms": round(1000 * max(seen), 1),
            "p50_ms": percentile(seen, 50), "all_ms_by_room_size": by_size}


async def send_hand(person: "Person") -> None:
    """Raise this person's hand over their websocket."""
    await person.ws.send_str(json.dumps({"action": "hand", "on": True}))


async def run(base: str, rooms: list[tuple[str, str]], sizes: list[int], concurrency: int, master: int) -> dict:
    """Fill the rooms, take the measurements with every socket open, and close everything."""
    people: dict[str, list[Person]] = {}
    for (alias, pin), size in zip(rooms, sizes):
        people[alias] = [Person(base, alias, f"Vært {alias} {h}", pin) for h in range(HOSTS_PER_ROOM)]
        people[alias] += [Person(base, alias, f"Borger {alias} {g}") for g in range(size - HOSTS_PER_ROOM)]
    # Hosts first, then guests from all rooms interleaved, as people drift in.
    order = [p for ps in people.values() for p in ps[:HOSTS_PER_ROOM]]
    longest = max(sizes)
    order += [ps[i] for i in range(HOSTS_PER_ROOM, longest) for ps in people.values() if i < len(ps)]
    gate = asyncio.Semaphore(concurrency)

    async def admit(p: Person) -> None:
        async with gate:
            await p.join()

    await timed_gets(f"{base}/m/demo", 3)  # warm up: templates compiled, first connections made
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(admit(p) for p in order))
        arrivals_s = time.perf_counter() - t0
        await asyncio.sleep(2)  # let the last state pushes settle
        stats = worker_stats(master)
        health = await timed_gets(f"{base}/healthz", 20)
        join_page = await timed_gets(f"{base}/m/demo", 20)
        hands = [await raise_hands(people, r) for r in range(3)]
        first = next(iter(people))
        one_room = [await raise_hands({first: people[first]}, r) for r in range(3, 6)]
        return {
            "sockets": len(order), "rooms": sizes,
            "arrivals_s": round(arrivals_s, 1),
            "join_page_while_arriving": summary([p.page_s for p in order]),
            "join_to_meeting_view": summary([p.join_s for p in order]),
            "healthz_all_open": summary(health),
            "join_page_all_open": summary(join_page),
            "raised_hand_to_every_page": hands,
            "raised_hand_in_one_room": [{k: h[k] for k in ("pages", "all_ms")} for h in one_room],
            "web_process": stats,
        }
    finally:
        await asyncio.gather(*(p.close() for p in order))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m mvc.loadbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", default="35", help="room sizes, e.g. 35 or 33x9,150 (two hosts each)")
    parser.add_argument("--concurrency", type=int, default=10, help="people joining at the same moment")
    args = parser.parse_args(argv)
    sizes = parse_rooms(args.rooms)
    with tempfile.TemporaryDirectory(prefix="mvc-loadbench-") as tmp:
        env, rooms = prepare(Path(tmp), sizes)
        proc, base = start_server(env, Path(tmp))
        try:
            result = asyncio.run(run(base, rooms, sizes, args.concurrency, proc.pid))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
