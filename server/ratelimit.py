"""Token buckets with an injected clock: pure arithmetic, no timers, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate_per_second` tokens flow in, up to `burst`; each allowed event takes one."""

    rate_per_second: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate_per_minute: float, burst: float, now: float) -> TokenBucket:
        return cls(rate_per_minute / 60.0, burst, burst, now)

    def allow(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next event would be allowed."""
        return max(0.0, (1.0 - self.tokens) / self.rate_per_second)
