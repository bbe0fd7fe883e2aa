"""PostgreSQL and Redis for the tests.

PostgreSQL: the machine's own when it answers (each test makes its own database), else a
private server. Redis: always a private server per test process, as its databases are not
private (pub/sub crosses them, and any other run may empty them). A private server is started
from Debian's binaries on a spare port in a temporary folder, and stopped at the end of the session.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections there."""
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_ports(count: int) -> range:
    """`count` consecutive UDP ports on 127.0.0.1 that nothing holds right now.

    Below Linux's ephemeral range (32768-60999), so no other program is handed one of
    them by chance between this check and the worker's binds.
    """
    for base in range(20000 + os.getpid() % 97 * 100, 32700, count):
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return range(base, base + count)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free UDP port range")


def _wait(port: int, seconds: float = 20) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


class Postgres:
    """A PostgreSQL server URL (existing or private)."""

    def __init__(self) -> None:
        self.dir: str | None = None
        self.bin: str | None = None
        url = os.environ.get("MVC_TEST_POSTGRES_URL")
        if url:
            self.url = url
        elif port_open(5432):
            self.url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        else:
            self.url = self._start()

    def _start(self) -> str:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL is not running and not installed: run `make test`")
        self.bin = os.path.dirname(found[-1])
        self.dir = tempfile.mkdtemp(prefix="mvc-pg-")
        port = free_port()
        run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if run_as:
            shutil.chown(self.dir, "postgres")
        subprocess.run([*run_as, f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*run_as, f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w",
                        "-o", f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self._run_as = run_as
        _wait(port)
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def fresh_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        base = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if self.dir and self.bin:
            subprocess.run([*self._run_as, f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, check=False)
            shutil.rmtree(self.dir, ignore_errors=True)


def _own_redis_db(url: str) -> str:
    """A shared server's test database, one lower for each further pytest-xdist worker
    (gw1 uses 14 where gw0 uses 15; below 0 it wraps to Redis's 16th), as tests empty it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db or 0) - int(worker.removeprefix('gw'))) % 16}"


class Redis:
    """A Redis server URL: our own, or MVC_TEST_REDIS_URL's server when that is set.

    Not the machine's own on 6379: a meeting test there lost its live state when another
    run on the machine emptied the same database mid-meeting (every run's first worker
    takes database 15), and heard other runs' meetings with the same room ids.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.dir: str | None = None
        url = os.environ.get("MVC_TEST_REDIS_URL")
        self.url = _own_redis_db(url) if url else self._start()

    def _start(self) -> str:
        exe = shutil.which("redis-server")
        if not exe:
            raise RuntimeError("Redis is not running and not installed: run `make test`")
        self.dir = tempfile.mkdtemp(prefix="mvc-redis-")
        port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )
        _wait(port)
        assert self.proc.poll() is None, f"redis-server could not listen on port {port}"
        return f"redis://127.0.0.1:{port}/0"

    def fresh(self) -> str:
        """Empty the test database and return its URL: apps under test all use the same key
        prefix, so a meeting id another test (or an earlier run) used must find nothing there."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.flushdb()
        finally:
            client.close()
        return self.url

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            shutil.rmtree(self.dir or "", ignore_errors=True)


class Gunicorn:
    """The app under gunicorn as `make run` starts it (TLS=1 in env: HTTPS), in its own
    process group on a fixed port, started, stopped and killed at will."""

    def __init__(self, env: dict, port: int, log_path, verify: str | bool = True) -> None:
        self.env, self.port, self.log_path, self.verify = env, port, log_path, verify
        scheme = "https" if env.get("TLS") == "1" else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
                 "--threads", "20", "wsgi:app"],
                cwd=Path(__file__).resolve().parents[1], env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 60
        while True:
            assert self.proc.poll() is None, f"gunicorn exited: {self.log_path.read_text()[-2000:]}"
            try:
                if requests.get(f"{self.url}/healthz", timeout=10, verify=self.verify).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening, or the worker still boots
                pass
            assert time.time() < deadline, "gunicorn did not answer /healthz"
            time.sleep(0.1)

    def kill(self) -> None:
        """Kill master and worker at once, as a crash or `kill -9` would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), as a deployment's rolling restart does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
