"""Fixtures for media tests: a real worker process on loopback and in-process bots."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from media.aiortc_hooks import use_loopback_only

ROOT = Path(__file__).resolve().parents[2]


def start_worker() -> tuple[subprocess.Popen[str], tuple[str, int]]:
    """Spawn `python -m media.worker` on a free loopback port; return it and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "media.worker", "--port", "0", "--ice-loopback-only"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    host, port = proc.stdout.readline().split()[1].rsplit(":", 1)
    return proc, (host, int(port))


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> None:
    """In-process bots gather only 127.0.0.1, like the worker."""
    use_loopback_only()


@pytest.fixture
def worker() -> Iterator[tuple[str, int]]:
    """The address of a fresh worker process, stopped after the test."""
    proc, address = start_worker()
    yield address
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()

