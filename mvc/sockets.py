"""What every websocket route shares: a page that vanishes mid-send ends its socket quietly."""
from __future__ import annotations

import contextlib

from simple_websocket import ConnectionClosed

# How a vanished page shows itself: a close we saw, or the kernel's BrokenPipeError,
# ConnectionResetError or a socket already torn down (OSError) when we write to it.
PAGE_GONE = (ConnectionClosed, OSError)


def page_may_vanish():
    """Context manager: a page gone mid-send ends the block quietly (no traceback, no 500)."""
    return contextlib.suppress(*PAGE_GONE)
