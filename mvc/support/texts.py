"""What each outcome of the pre-call check means and what to do, for the citizen's page and for support."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

CHECKS = {
    "browser": _l("Browser"),
    "camera": _l("Camera"),
    "microphone": _l("Microphone"),
    "speaker": _l("Speaker"),
    "network": _l("Connection to the video service"),
}

MESSAGES = {
    "browser": {
        "ok": _l("Your browser can hold video meetings."),
        "unsupported": _l("Your browser cannot hold video meetings. Use a recent Chrome, Edge, Firefox or Safari, or update your browser."),
    },
    "camera": {
        "ok": _l("Your camera works. You should see yourself in the picture."),
        "denied": _l("You did not allow the camera. Press the camera symbol in the address bar or open your browser's settings, choose Allow, and run the check again."),
        "missing": _l("We could not find a camera. Connect one, or take part with your microphone only."),
        "busy": _l("Another program is using the camera. Close programs such as Teams or Zoom and run the check again."),
        "error": _l("The camera could not be started. Restart your browser and run the check again."),
    },
    "microphone": {
        "ok": _l("Your microphone works: we could hear sound."),
        "silent": _l("We heard no sound from your microphone. Say something, check that the microphone is not muted on your device, and run the check again."),
        "denied": _l("You did not allow the microphone. Press the symbol in the address bar or open your browser's settings, choose Allow, and run the check again."),
        "missing": _l("We could not find a microphone. Connect a headset or a microphone and run the check again."),
        "error": _l("The microphone could not be started. Restart your browser and run the check again."),
    },
    "speaker": {
        "ok": _l("Your speaker works."),
        "not_heard": _l("You did not hear the sound. Turn up the volume, check that the sound is not muted, or connect a headset, and try again."),
        "untested": _l("The speaker was not tested."),
    },
    "network": {
        "ok": _l("Your connection to the video service works."),
        "relay": _l("Your connection works through the video service's relay server, because your network blocks direct connections. Calls may be a little slower."),
        "failed": _l("We could not connect to the video service. Your network may block video calls: try another network, for example your mobile data instead of Wi-Fi, or ask your IT department to allow video calls."),
        "unavailable": _l("The connection test is not available right now. You can still try to join your meeting."),
    },
}

SLOW = _l("The connection is slow or loses data, so the picture may freeze. Move closer to your Wi-Fi router or close other programs that use the internet.")


def message(check: str, outcome: str | None) -> str:
    """The plain-language text for one check's outcome ('' when unknown)."""
    return str(MESSAGES.get(check, {}).get(outcome or "", ""))

EVENT_KINDS = {
    "join": _l("Passed the join page"), "admitted": _l("Let into the meeting"), "connected": _l("Page connected"),
    "disconnected": _l("Page disconnected"), "reconnect": _l("Page reconnected"), "left": _l("Left"),
    "ended": _l("Meeting ended"), "action": _l("Action"), "media_state": _l("Media connection"),
    "quality_dip": _l("Poor quality"), "client_error": _l("Error in the page"), "support_code": _l("Support code"),
    "media_error": _l("A media step failed in the page"),
    "worker_drops": _l("Media worker: many packets dropped"),
    "worker_moved": _l("Media worker stopped: media moved to another one"),
}
