"""Active speaker detection does not flap."""

import pytest

from media.speaker import SpeakerDetector

pytestmark = pytest.mark.timeout(10)


def run(det, levels, start, seconds, step=0.02):
    changes, t = [], start
    while t < start + seconds:
        for pid, level in levels.items():
            det.feed(pid, level, t)
        if round(t / step) % 10 == 0:
            new = det.tick(t)
            if new:
                changes.append(new)
        t += step
    return changes, t


def test_loud_speaker_is_chosen_after_hold_and_stays():
    det = SpeakerDetector()
    changes, t = run(det, {"a": 20, "b": 100}, 0.0, 2.0)
    assert changes == ["a"]


def test_small_differences_do_not_flap():
    det = SpeakerDetector()
    run(det, {"a": 20, "b": 100}, 0.0, 2.0)
    changes, _ = run(det, {"a": 22, "b": 19}, 2.0, 3.0)
    assert changes == []


def test_clear_new_speaker_takes_over():
    det = SpeakerDetector()
    _, t = run(det, {"a": 20, "b": 100}, 0.0, 2.0)
    changes, _ = run(det, {"a": 110, "b": 15}, t, 3.0)
    assert changes == ["b"]


def test_silence_elects_nobody():
    det = SpeakerDetector()
    changes, _ = run(det, {"a": 127, "b": 120}, 0.0, 2.0)
    assert changes == [] and det.current is None
