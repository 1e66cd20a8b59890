"""Process counters in Prometheus text format: counts only, no content, ids or names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    sockets: int = 0
    messages_stored: int = 0
    deliveries: int = 0
    undecryptable: int = 0
    slow_closes: int = 0
    store_unavailable: int = 0
    sessions_created: int = 0
    erasures: int = 0
    purge_runs: int = 0
    flagged: int = 0
    alerts_raised: int = 0
    alerts_held: int = 0
    purge_last_success_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    def render(self, store_ready: bool) -> str:
        lines = [
            "# TYPE peerline_sockets gauge",
            f"peerline_sockets {self.sockets}",
            "# TYPE peerline_store_ready gauge",
            f"peerline_store_ready {int(store_ready)}",
        ]
        for name in (
            "messages_stored",
            "deliveries",
            "undecryptable",
            "slow_closes",
            "store_unavailable",
            "sessions_created",
            "erasures",
            "purge_runs",
            "flagged",
            "alerts_raised",
            "alerts_held",
        ):
            lines += [
                f"# TYPE peerline_{name}_total counter",
                f"peerline_{name}_total {getattr(self, name)}",
            ]
        lines += [
            "# TYPE peerline_purge_last_success_timestamp_seconds gauge",
            f"peerline_purge_last_success_timestamp_seconds {self.purge_last_success_seconds}",
            "# TYPE peerline_frame_errors_total counter",
        ]
        lines += [
            f'peerline_frame_errors_total{{code="{code}"}} {count}'
            for code, count in sorted(self.errors.items())
        ]
        return "\n".join(lines) + "\n"
