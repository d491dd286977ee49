"""One simulated clock for every stand-in duration, so tests can run faster than real time.

With ``time_scale=10`` a simulated second takes 0.1 s of wall time, but every reported time
(epochs, stamps, billsec) is in simulated seconds.
"""

from __future__ import annotations

import threading
import time


class StandInClock:
    def __init__(self, time_scale: float = 1.0, start_epoch: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = time_scale
        self._t0 = time.monotonic()
        self._e0 = time.time() if start_epoch is None else start_epoch

    def now(self) -> float:
        """Simulated epoch seconds (float)."""
        return self._e0 + (time.monotonic() - self._t0) * self.time_scale

    def real(self, sim_seconds: float) -> float:
        return max(0.0, sim_seconds / self.time_scale)

    def sleep(self, sim_seconds: float) -> None:
        time.sleep(self.real(sim_seconds))

    def wait(self, cond: threading.Condition, sim_timeout: float | None) -> None:
        """Condition wait with a simulated timeout (caller holds the condition)."""
        cond.wait(None if sim_timeout is None else self.real(sim_timeout))
