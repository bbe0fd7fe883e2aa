"""Active speaker from RTP audio levels (ssrc-audio-level), with hysteresis."""

from __future__ import annotations

SILENCE = 127  # the extension's level is -dBov: 0 is loudest, 127 silence


class SpeakerDetector:
    """Picks the loudest recent publisher; a challenger must stay louder to take over."""

    def __init__(self, threshold: float = 40.0, margin: float = 6.0,
                 hold: float = 0.6, stale: float = 1.0) -> None:
        self.threshold = threshold  # loudness (127 - level) a speaker must reach
        self.margin = margin  # dB a challenger must beat the current speaker by
        self.hold = hold  # seconds a challenger must stay on top
        self.stale = stale  # seconds without packets after which a level is forgotten
        self.current: str | None = None
        self._loudness: dict[str, float] = {}
        self._seen: dict[str, float] = {}
        self._challenger: str | None = None
        self._since = 0.0

    def feed(self, pid: str, level: int, now: float) -> None:
        """Record one packet's audio level for pid."""
        loud = float(SILENCE - min(max(level, 0), SILENCE))
        prev = self._loudness.get(pid, loud)
        self._loudness[pid] = 0.8 * prev + 0.2 * loud
        self._seen[pid] = now

    def observe(self, pid: str, loudness: float, seen: float) -> None:
        """Take pid's average loudness as feed() would have left it (kept elsewhere as the
        packets passed: media.forward.UpTrack.loudness) and when its last level came."""
        self._loudness[pid] = loudness
        self._seen[pid] = seen

    def forget(self, pid: str) -> None:
        """Drop a publisher that left."""
        self._loudness.pop(pid, None)
        self._seen.pop(pid, None)
        if self.current == pid:
            self.current = None

    def tick(self, now: float) -> str | None:
        """Return the new active speaker if it changed, else None."""
        live = {p: v for p, v in self._loudness.items()
                if now - self._seen[p] <= self.stale and v >= self.threshold}
        if not live:
            self._challenger = None
            return None
        loudest = max(live, key=live.__getitem__)
        if loudest == self.current:
            self._challenger = None
            return None
        if self.current in live and live[self.current] + self.margin > live[loudest]:
            self._challenger = None
            return None
        if self._challenger != loudest:
            self._challenger, self._since = loudest, now
            return None
        if now - self._since < self.hold:
            return None
        self.current, self._challenger = loudest, None
        return loudest
