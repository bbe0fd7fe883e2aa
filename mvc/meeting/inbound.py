"""Parsing what a page sends over its websocket, with bounds on size and nesting."""
from __future__ import annotations

import json
import re

MAX_DEPTH = 8  # the deepest real message (an ICE candidate inside a signalling message) has 2
MAX_CHARS = 64 * 1024
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class BadMessage(ValueError):
    """A message the server will not parse."""


def nesting(text: str, limit: int) -> int:
    """How deeply the JSON text nests arrays and objects, counting no further than limit + 1."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(_STRINGS.sub("", text)):  # brackets inside strings do not nest
        depth += 1 if bracket.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def parse(data) -> dict:
    """A page's message as a dict; BadMessage when it is not text, too large, too deep or not an object."""
    if not isinstance(data, str) or len(data) > MAX_CHARS:
        raise BadMessage("not text or too large")
    if nesting(data, MAX_DEPTH) > MAX_DEPTH:
        raise BadMessage("nested too deeply")
    try:
        msg = json.loads(data)
    except ValueError as exc:
        raise BadMessage("not JSON") from exc
    if not isinstance(msg, dict):
        raise BadMessage("not an object")
    return msg
