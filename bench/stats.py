"""Pure helpers: percentiles over nanosecond samples, and merging per-worker counters."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

PERCENTILES = (50, 90, 99, 99.9)


def percentile(sorted_values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of an ascending sequence (p in 0..100)."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize_ns(samples: Iterable[int]) -> dict[str, Any]:
    """count, mean, p50/p90/p99/p99.9 and max, in milliseconds."""
    values = sorted(samples)
    if not values:
        return {"count": 0}
    out: dict[str, Any] = {
        "count": len(values),
        "mean_ms": round(sum(values) / len(values) / 1e6, 3),
    }
    for p in PERCENTILES:
        out[f"p{p:g}_ms".replace(".", "_")] = round(percentile(values, p) / 1e6, 3)
    out["min_ms"] = round(values[0] / 1e6, 3)
    out["max_ms"] = round(values[-1] / 1e6, 3)
    return out


def samples_from(blobs: Iterable[bytes]) -> array[int]:
    merged: array[int] = array("q")
    for blob in blobs:
        merged.frombytes(blob)
    return merged


def add_counts(total: dict[str, int], part: dict[str, int]) -> dict[str, int]:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value
    return total
