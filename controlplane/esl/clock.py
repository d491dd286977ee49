"""Time for call control, injectable and scalable so a one-hour call is testable in seconds.

With scale 10, one real second is ten call seconds: durations the controller waits are divided
by the scale, timestamps it takes are multiplied by it. Every controller of an installation (and
the FreeSWITCH stand-in in tests) must use the same scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    scale: float = 1.0

    def now(self) -> float:
        """Call-time seconds (epoch seconds when scale is 1)."""
        return time.time() * self.scale

    def real_seconds(self, call_seconds: float) -> float:
        return max(0.0, call_seconds / self.scale)
