"""The pace of job starts (jobs.starter): spread a little faster than jobs finish, so that slots
freeing together do not start, reach the SMTP server and finish together again, in waves."""

from __future__ import annotations


class Pacer:
    """Spaces starts `job time / max_jobs / HEADROOM` apart (a GCRA with a small burst), the
    job time being a moving average. Idle, it never delays; a slot that frees while jobs are
    queued is filled within one interval."""

    HEADROOM = 1.5  # starts may outrun finishes by this much, so pacing never caps throughput
    BURST = 4
    SMOOTHING = 0.1

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._job_seconds = 0.0
        self._next = 0.0

    def finished(self, seconds: float) -> None:
        self._job_seconds += (seconds - self._job_seconds) * self.SMOOTHING

    def pause(self, now: float) -> float:
        """Seconds until the next start may be made."""
        return max(0.0, self._next - now - self.BURST * self._interval())

    def allowed(self, now: float, wanted: int) -> int:
        """How many of `wanted` starts may be made now (at least one right after a pause)."""
        interval = self._interval()
        if interval == 0:
            return wanted
        ahead = max(self._next, now) - now
        return max(0, min(wanted, int((self.BURST * interval - ahead) / interval) + 1))

    def started(self, count: int, now: float) -> None:
        self._next = max(self._next, now) + count * self._interval()

    def _interval(self) -> float:
        return self._job_seconds / self._slots / self.HEADROOM
