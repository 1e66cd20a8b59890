"""Evaluate `scan` (model + rules) on the corpus, by writer: the test writers by default.

    python -m moderation.evaluate                    # test writers: each, all, kinds, latency
    python -m moderation.evaluate --part threshold   # another part (train, threshold, test)
    python -m moderation.evaluate --writer w03       # one writer
    python -m moderation.evaluate --misses           # list what was missed or over-called
    python -m moderation.evaluate --json             # figures as JSON (what the CI floor reads)

Figures: urgent recall; urgent-or-concern recall (a message labelled urgent or concern that
is scanned as either counts as found); the false-alarm rate on `none` (the share of `none`
messages scanned as urgent or concern); urgent precision; the 3x3 confusion matrix; per kind
of message, how many were flagged at all and how many got their own label; and the time
`scan` takes per message (p50, p99, max, messages a second on this one core).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from moderation.corpus import LABELS, PARTS, Message, load_parts
from moderation.detector import scan
from moderation.lexicon import Lexicon
from moderation.model import Model

LONG_KIND = "(long, 80+ words)"  # long messages of any kind, counted again together


@dataclass(slots=True)
class Report:
    name: str
    # confusion[expected][got]
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {e: dict.fromkeys(LABELS, 0) for e in LABELS}
    )
    kinds: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # [flagged, right, n]
    misses: list[tuple[Message, str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, message: Message, got: str, seconds: float) -> None:
        self.confusion[message.label][got] += 1
        keys = [(message.label, message.kind)]
        if message.long and message.label != "none":
            keys.append((message.label, LONG_KIND))
        for key in keys:
            counts = self.kinds.setdefault(key, [0, 0, 0])
            counts[0] += got != "none"
            counts[1] += got == message.label
            counts[2] += 1
        if got != message.label:
            self.misses.append((message, got))
        self.seconds.append(seconds)

    def _row(self, expected: str) -> int:
        return sum(self.confusion[expected].values())

    def figures(self) -> dict[str, float]:
        c = self.confusion
        positives = self._row("urgent") + self._row("concern")
        found = sum(c[e][g] for e in ("urgent", "concern") for g in ("urgent", "concern"))
        flagged_none = c["none"]["urgent"] + c["none"]["concern"]
        called_urgent = sum(c[e]["urgent"] for e in LABELS)
        urgent_kinds = [
            v[1] / v[2]
            for (label, k), v in self.kinds.items()
            if label == "urgent" and v[2] and k != LONG_KIND
        ]
        return {
            "messages": float(sum(self._row(e) for e in LABELS)),
            "urgent_recall": _ratio(c["urgent"]["urgent"], self._row("urgent")),
            "urgent_or_concern_recall": _ratio(found, positives),
            "false_alarm_rate": _ratio(flagged_none, self._row("none"), empty=0.0),
            "urgent_precision": _ratio(c["urgent"]["urgent"], called_urgent),
            "worst_urgent_kind_recall": min(urgent_kinds, default=1.0),
        }

    def latency(self) -> dict[str, float]:
        ordered = sorted(self.seconds)
        if not ordered:
            return {}
        return {
            "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "max_ms": ordered[-1] * 1000,
            "messages_per_second": len(ordered) / sum(ordered),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figures": self.figures(),
            "confusion": self.confusion,
            "kinds": {f"{label}/{kind}": v for (label, kind), v in sorted(self.kinds.items())},
            "latency": self.latency(),
        }

    def render(self, misses: bool = False) -> str:
        f = self.figures()
        lines = [f"== {self.name}: {int(f['messages'])} messages"]
        for name in (
            "urgent_recall",
            "urgent_or_concern_recall",
            "false_alarm_rate",
            "urgent_precision",
            "worst_urgent_kind_recall",
        ):
            lines.append(f"  {name:<26} {f[name]:.3f}")
        lines.append("  expected \\ got   " + "".join(f"{g:>9}" for g in LABELS))
        for expected in LABELS:
            row = "".join(f"{self.confusion[expected][g]:>9}" for g in LABELS)
            lines.append(f"  {expected:<16} {row}")
        lines.append("  kind                                flagged   own label    of")
        for (label, kind), (flagged, right, n) in sorted(self.kinds.items()):
            lines.append(f"  {label + '/' + kind:<36} {flagged:>7} {right:>11} {n:>5}")
        lat = self.latency()
        if lat:
            lines.append(
                f"  scan: p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms, "
                f"max {lat['max_ms']:.3f} ms, {lat['messages_per_second']:.0f} messages/s"
            )
        if misses:
            lines.append(f"  misses ({len(self.misses)}):")
            for message, got in sorted(self.misses, key=lambda m: (m[0].label, m[0].id)):
                lines.append(
                    f"    {message.id:<12} {message.label:>7} -> {got:<7} {message.text!r}"
                )
        return "\n".join(lines)


def _ratio(numerator: int, denominator: int, empty: float = 1.0) -> float:
    return numerator / denominator if denominator else empty


def evaluate(
    name: str,
    messages: Iterable[Message],
    lexicon: Lexicon | None = None,
    model: Model | None = None,
) -> Report:
    report = Report(name)
    clock = time.perf_counter
    for message in messages:
        started = clock()
        label = scan(message.text, message.detector_role, lexicon, model).label
        report.add(message, label, clock() - started)
    return report


def reports(part: str = "test", writer: str | None = None) -> list[Report]:
    """One report per writer of the part, then one for all of them together."""
    # Only the part's own files are opened: a look at the threshold writers reads no test one.
    messages = [m for m in load_parts((part,))[part] if writer is None or m.writer == writer]
    writers = sorted({m.writer for m in messages})
    scan("warm up the model, the lexicon and the word cache")
    out = [evaluate(w, [m for m in messages if m.writer == w]) for w in writers]
    if len(writers) > 1:
        out.append(evaluate(f"{part} writers together", messages))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moderation.evaluate", description=__doc__)
    parser.add_argument("--part", choices=PARTS, default="test")
    parser.add_argument("--writer")
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    found = reports(args.part, args.writer)
    if args.json:
        print(json.dumps([r.to_dict() for r in found], indent=2, ensure_ascii=False))
    else:
        print(f"model {Model.default().version}, lexicon {Lexicon.default().version}\n")
        print("\n\n".join(r.render(args.misses) for r in found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
