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

    def level(self, now: float) -> float:
        """Tokens there would be at `now`, without taking any."""
        return min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate_per_second)

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


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_minute` events on average, `burst` of them back to back."""

    per_minute: float
    burst: int

    @property
    def interval_ms(self) -> int:
        return max(1, round(60_000 / self.per_minute))

    @property
    def tolerance_ms(self) -> int:
        return self.interval_ms * (self.burst - 1)


def gcra(tat_ms: int, now_ms: int, rate: Rate) -> tuple[bool, int, int]:
    """The generic cell rate algorithm: one number (the theoretical arrival time) per
    limited thing, so it fits one key of a shared store and one line of a Lua script
    (server/store/redis.py mirrors this). Returns (allowed, the new arrival time, ms to
    wait when refused); a refusal leaves the arrival time as it was."""
    start = max(tat_ms, now_ms)
    if start - now_ms > rate.tolerance_ms:
        return False, tat_ms, start - now_ms - rate.tolerance_ms
    return True, start + rate.interval_ms, 0
