"""Content expiry: what the purge job trims, computed from the clock and the setting."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from server.core.metrics import Metrics
from server.store import Store, StoreUnavailable, format_id

log = logging.getLogger(__name__)


def cutoff_id(now: float, retention_seconds: float) -> str:
    """The smallest stream id that is still inside the retention period."""
    return format_id((max(0, int((now - retention_seconds) * 1000)), 0))


async def purge(
    store: Store,
    rooms: Iterable[str],
    retention_seconds: float,
    clock: Callable[[], float],
    metrics: Metrics,
) -> int:
    """Trim every room to the retention period; returns how many messages went."""
    minimum = cutoff_id(clock(), retention_seconds)
    trimmed = 0
    try:
        for room in rooms:
            trimmed += await store.trim(room, minimum)
        # Reports quote a message id and a sealed reason: content, so the same clock applies.
        trimmed += await store.trim_reports(minimum)
    except StoreUnavailable:
        log.warning("purge skipped: store unavailable")
        return trimmed
    metrics.purge_runs += 1
    metrics.purge_last_success_seconds = clock()
    if trimmed:
        log.info("purge removed %d expired messages", trimmed)
    return trimmed
