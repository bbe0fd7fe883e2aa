"""Fixtures for media tests: a real worker process on loopback and in-process bots."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from media import aiortc_hooks as hooks
from media.aiortc_hooks import use_loopback_only
from media.ice import IceFilter
from media.messages import MAX_LINE
from media.peer import rtc_configuration
from media.worker import Worker
from tests.services import free_udp_ports  # noqa: F401 - media tests import it from here

ROOT = Path(__file__).resolve().parents[2]
SECRET = "media-test-secret"  # MVC_MEDIA_SECRET for workers and bots started by these tests


def start_worker(*args: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    """Spawn `python -m media.worker` on a free loopback port; return it and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "media.worker", "--port", "0", "--ice-loopback-only", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "MVC_MEDIA_SECRET": SECRET})
    assert proc.stdout is not None
    host, port = proc.stdout.readline().split()[1].rsplit(":", 1)
    return proc, (host, int(port))


def stop_worker(proc: subprocess.Popen[str]) -> None:
    """Terminate a worker started by start_worker."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `check` until it holds (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.05)


async def quiet(count: Callable[[], int], still: float = 0.5, timeout: float = 10.0) -> None:
    """Poll until `count()` has stopped changing for `still` seconds (in-flight media drained)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() - since < still:
        if time.monotonic() > deadline:
            raise AssertionError(f"still receiving after {timeout} s")
        await asyncio.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """In-process bots gather only 127.0.0.1, like the worker, and know the test secret."""
    use_loopback_only()
    saved = os.environ.get("MVC_MEDIA_SECRET")
    os.environ["MVC_MEDIA_SECRET"] = SECRET
    yield
    if saved is None:
        os.environ.pop("MVC_MEDIA_SECRET", None)
    else:
        os.environ["MVC_MEDIA_SECRET"] = saved


@pytest.fixture
def worker() -> Iterator[tuple[str, int]]:
    """The address of a fresh worker process, stopped after the test."""
    proc, address = start_worker()
    yield address
    stop_worker(proc)


@contextlib.asynccontextmanager
async def worker_in_process(grace: float = 30.0, ice: IceFilter | None = None
                            ) -> AsyncIterator[tuple[Worker, tuple[str, int]]]:
    """A Worker serving on loopback inside the test's event loop (so tests can inspect it)."""
    hooks.harden_rtp_parsing()
    worker = Worker(rtc_configuration([]), SECRET, ice or IceFilter(loopback_only=True), grace)
    server = await asyncio.start_server(worker.serve, "127.0.0.1", 0, limit=MAX_LINE)
    address = server.sockets[0].getsockname()[:2]
    try:
        yield worker, address
    finally:
        server.close()
        await worker.close()
        await server.wait_closed()
