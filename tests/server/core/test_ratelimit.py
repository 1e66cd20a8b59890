from __future__ import annotations

from server.core.ratelimit import TokenBucket


def test_burst_then_refill_at_the_rate() -> None:
    bucket = TokenBucket.full(rate_per_minute=60, burst=10, now=0.0)
    assert all(bucket.allow(0.0) for _ in range(10))
    assert not bucket.allow(0.0)
    assert abs(bucket.retry_after() - 1.0) < 1e-9
    assert not bucket.allow(0.5)
    assert bucket.allow(1.0)
    assert not bucket.allow(1.0)


def test_never_exceeds_burst_after_idle_time() -> None:
    bucket = TokenBucket.full(rate_per_minute=100, burst=10, now=0.0)
    allowed = sum(bucket.allow(3600.0) for _ in range(50))
    assert allowed == 10


def test_a_minute_of_flooding_lets_through_burst_plus_rate() -> None:
    bucket = TokenBucket.full(rate_per_minute=100, burst=10, now=0.0)
    allowed = sum(bucket.allow(t / 100) for t in range(6000))  # 100 attempts a second
    assert 108 <= allowed <= 110


def test_clock_going_backwards_gives_nothing_extra() -> None:
    bucket = TokenBucket.full(rate_per_minute=60, burst=1, now=10.0)
    assert bucket.allow(10.0)
    assert not bucket.allow(5.0)
