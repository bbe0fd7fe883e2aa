"""What the device endpoints accept and answer (beside the booking API's models)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from mvc.api.schemas import Strict, Text

Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]
CallStatus = Literal["scheduled", "ringing", "answered", "declined", "no_answer", "busy", "offline", "cancelled"]


class DeviceIn(Strict):
    """Register a device: a name and an optional note (never health data)."""

    name: Name
    note: Text(200) | None = None
    autoAnswer: bool | None = None


class DeviceFields(Strict):
    """Rename a device, change its note or auto-answer (the fields given)."""

    name: Name | None = None
    note: Text(200) | None = None
    autoAnswer: bool | None = None


class CallIn(Strict):
    """Call a device: into a booked meeting (its uuid) or, without one, into a fresh meeting."""

    meetingUuid: Text(36) | None = None


class CallOut(Strict):
    """One call of a device and how it went."""

    id: int
    deviceId: int
    status: CallStatus
    time: str | None
    joinUrl: str


class DeviceOut(Strict):
    """A device: set up or waiting for its code, online, its last call; the code only when just issued."""

    id: int
    name: str
    note: str
    autoAnswer: bool
    state: Literal["bound", "waiting", "unbound"]
    online: bool
    lastSeen: str | None
    lastCall: CallOut | None
    provisioningCode: str | None = None
    codeExpires: str | None = None
