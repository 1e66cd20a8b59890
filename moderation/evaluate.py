"""Evaluate `scan` on the labelled development set (moderation/devset/).

    python -m moderation.evaluate                  # both parts, one after the other
    python -m moderation.evaluate --part heldout   # one part
    python -m moderation.evaluate --json           # figures as JSON (what the CI floor reads)

Figures per part: urgent recall, urgent-or-concern recall (positives are messages labelled
urgent or concern, found when scanned as either), the false-alarm rate on `none` (share of
`none` messages scanned as urgent or concern), urgent precision, the 3x3 confusion matrix
and the misses.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from moderation.detector import scan
from moderation.lexicon import Lexicon

LABELS = ("urgent", "concern", "none")
PARTS = ("dev", "heldout")


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    label: str
    category: str
    role: str = "participant"


@dataclass(slots=True)
class Report:
    part: str
    # confusion[expected][got]
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {e: dict.fromkeys(LABELS, 0) for e in LABELS}
    )
    misses: list[tuple[Example, str]] = field(default_factory=list)

    def add(self, example: Example, got: str) -> None:
        self.confusion[example.label][got] += 1
        if got != example.label:
            self.misses.append((example, got))

    def _row(self, expected: str) -> int:
        return sum(self.confusion[expected].values())

    def figures(self) -> dict[str, float | int]:
        c = self.confusion
        positives = self._row("urgent") + self._row("concern")
        found = sum(c[e][g] for e in ("urgent", "concern") for g in ("urgent", "concern"))
        flagged_none = c["none"]["urgent"] + c["none"]["concern"]
        called_urgent = sum(c[e]["urgent"] for e in LABELS)
        return {
            "messages": sum(self._row(e) for e in LABELS),
            "urgent_recall": _ratio(c["urgent"]["urgent"], self._row("urgent")),
            "urgent_or_concern_recall": _ratio(found, positives),
            "false_alarm_rate": _ratio(flagged_none, self._row("none"), empty=0.0),
            "urgent_precision": _ratio(c["urgent"]["urgent"], called_urgent),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "figures": self.figures(),
            "confusion": self.confusion,
            "misses": [
                {"id": ex.id, "expected": ex.label, "got": got, "text": ex.text}
                for ex, got in self.misses
            ],
        }

    def render(self) -> str:
        figures = self.figures()
        lines = [f"== {self.part}: {figures['messages']} messages"]
        for name in ("urgent_recall", "urgent_or_concern_recall", "false_alarm_rate"):
            lines.append(f"  {name:<26} {figures[name]:.3f}")
        lines.append(f"  {'urgent_precision':<26} {figures['urgent_precision']:.3f}")
        lines.append("")
        lines.append("  expected \\ got   " + "".join(f"{g:>9}" for g in LABELS))
        for expected in LABELS:
            row = "".join(f"{self.confusion[expected][g]:>9}" for g in LABELS)
            lines.append(f"  {expected:<16} {row}")
        lines.append("")
        lines.append(f"  misses ({len(self.misses)}):")
        for example, got in sorted(self.misses, key=lambda m: (m[0].label, m[0].id)):
            lines.append(f"    {example.id:<26} {example.label:>7} -> {got:<7} {example.text!r}")
        return "\n".join(lines)


def _ratio(numerator: int, denominator: int, empty: float = 1.0) -> float:
    return numerator / denominator if denominator else empty


def load_part(part: str) -> list[Example]:
    """The examples of one part ("dev" or "heldout")."""
    path = resources.files("moderation").joinpath("devset", f"{part}.jsonl")
    examples = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            examples.append(
                Example(
                    id=data["id"],
                    text=data["text"],
                    label=data["label"],
                    category=data["category"],
                    role=data.get("role", "participant"),
                )
            )
    return examples


def evaluate(
    part: str, examples: Iterable[Example] | None = None, lexicon: Lexicon | None = None
) -> Report:
    report = Report(part)
    for example in load_part(part) if examples is None else examples:
        report.add(example, scan(example.text, role=example.role, lexicon=lexicon).label)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moderation.evaluate", description=__doc__)
    parser.add_argument("--part", choices=(*PARTS, "all"), default="all")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    parts = PARTS if args.part == "all" else (args.part,)
    reports = [evaluate(part) for part in parts]
    if args.json:
        print(json.dumps({r.part: r.to_dict() for r in reports}, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(r.render() for r in reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
