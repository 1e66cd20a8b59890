"""Cross-validation by writer over the train and threshold writers: compare training choices
on writers the model never saw, without touching the test writers.

    python -m moderation.crossval                          # the shipped settings, 5 folds
    python -m moderation.crossval --c-urgent 32 --mil-rounds 3 --jobs 2
    python -m moderation.crossval --json

Every writer of the train and threshold parts except the team (always in training, as in
`python -m moderation.train`) is held out once: the writers are dealt into FOLDS folds, and
for each fold

- the held-out writers are only scored;
- the next fold's writers play the threshold writers: the overlay's weights and thresholds
  are chosen on them (moderation.train.search_overlay, the same budget of MAX_FALSE_ALARMS
  and MIN_URGENT_PRECISION), and so is C when the settings leave it open;
- the heads are fitted on every other writer, the team included.

So each fold repeats what `python -m moderation.train` does, one level down: weights from
some writers, thresholds from others, figures on writers neither saw. The figures are
pooled over all held-out messages (urgent recall, urgent-or-concern recall, the false-alarm
rate on `none`, urgent precision, the worst urgent kind), and given fold by fold too: the
spread between folds is the noise any comparison must beat.

The test writers (split.json, part "test") are never loaded: `messages` refuses them before
any file is opened.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from moderation.corpus import TEAM, Message, load_writers, writers_of
from moderation.train import (
    SHIPPED,
    Cues,
    Settings,
    Units,
    decide,
    figures,
    fit_heads,
    search_overlay,
    unit_data,
)

FOLDS = 5  # 15 writers: three held out a fold, three more set its thresholds, like train
# Kinds of urgent message with fewer held-out messages than this are left out of the worst
# kind: a recall over three messages moves by a third with one message.
MIN_KIND_MESSAGES = 10


class TestWritersRefused(ValueError):
    """Cross-validation was asked to read a test writer."""


def cv_writers() -> list[str]:
    """The writers cross-validation reads: the train and threshold parts."""
    parts = writers_of()
    return sorted({*parts["train"], *parts["threshold"]})


def messages(writers: Sequence[str] | None = None) -> list[Message]:
    """The messages of `writers` (default: cv_writers()); a test writer is refused before
    any file is opened."""
    chosen = list(cv_writers() if writers is None else writers)
    refused = sorted(set(chosen) & set(writers_of()["test"]))
    if refused:
        raise TestWritersRefused(f"test writers are never cross-validated: {refused}")
    return load_writers(chosen)


def folds(writers: Sequence[str], count: int = FOLDS) -> list[list[str]]:
    """The held-out writers of each fold, dealt in turn from the sorted writers (the team
    is never held out: it is always in training)."""
    held = sorted(w for w in writers if w != TEAM)
    return [held[i::count] for i in range(count)]


@dataclass(slots=True)
class Data:
    """Everything the folds read, worked out once: units and the rules' cues."""

    units: Units
    cues: Cues

    @classmethod
    def of(cls, corpus: list[Message], settings: Settings) -> Data:
        data = unit_data(corpus, settings.bits, settings.char_ngrams)
        return cls(units=data, cues=Cues.of(data.messages))


@dataclass(slots=True)
class FoldResult:
    held: list[str]
    threshold: list[str]
    c: dict[str, float]
    predicted: list[int]
    labels: list[str]
    kinds: list[str]
    threshold_figures: dict[str, float]


def run_fold(data: Data, settings: Settings, held: list[str], threshold: list[str]) -> FoldResult:
    import numpy as np

    writer = [m.writer for m in data.units.messages]
    fit_index = [i for i, w in enumerate(writer) if w not in held and w not in threshold]
    threshold_index = [i for i, w in enumerate(writer) if w in threshold]
    held_index = [i for i, w in enumerate(writer) if w in held]
    threshold_units = data.units.subset(threshold_index)
    heads = fit_heads(data.units.subset(fit_index), settings, threshold_units, log=_quiet)

    def logits(chosen: list[int]) -> tuple[Any, Any]:
        part = data.units.subset(chosen)
        return (
            part.best(heads.weights("urgent"), heads.bias["urgent"]),
            part.best(heads.weights("risk"), heads.bias["risk"]),
        )

    t_labels = [data.units.messages[i].label for i in threshold_index]
    overlay, on_threshold = search_overlay(
        *logits(threshold_index), data.cues.subset(np.array(threshold_index)), t_labels
    )
    predicted = decide(overlay, *logits(held_index), data.cues.subset(np.array(held_index)))
    held_messages = [data.units.messages[i] for i in held_index]
    return FoldResult(
        held=held,
        threshold=threshold,
        c=heads.c,
        predicted=[int(p) for p in predicted],
        labels=[m.label for m in held_messages],
        kinds=[m.kind for m in held_messages],
        threshold_figures=on_threshold,
    )


def _quiet(*_: object) -> None:
    pass


def worst_urgent_kind(
    predicted: Sequence[int], labels: Sequence[str], kinds: Sequence[str]
) -> tuple[str, float]:
    """The urgent kind (of at least MIN_KIND_MESSAGES messages) with the lowest recall."""
    counts: dict[str, list[int]] = {}
    for p, label, kind in zip(predicted, labels, kinds, strict=True):
        if label == "urgent":
            found = counts.setdefault(kind, [0, 0])
            found[0] += p == 2
            found[1] += 1
    rated = [(hits / n, kind) for kind, (hits, n) in counts.items() if n >= MIN_KIND_MESSAGES]
    if not rated:
        return "", 1.0
    recall, kind = min(rated)
    return kind, recall


@dataclass(slots=True)
class Report:
    settings: Settings
    results: list[FoldResult]
    seconds: float

    def pooled(self) -> dict[str, float]:
        import numpy as np

        predicted = np.array([p for r in self.results for p in r.predicted])
        labels = [label for r in self.results for label in r.labels]
        kinds = [k for r in self.results for k in r.kinds]
        found = figures(predicted, labels)
        _, found["worst_urgent_kind_recall"] = worst_urgent_kind(list(predicted), labels, kinds)
        return found

    def per_fold(self) -> list[dict[str, float]]:
        import numpy as np

        return [figures(np.array(r.predicted), r.labels) for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        labels = [label for r in self.results for label in r.labels]
        kinds = [k for r in self.results for k in r.kinds]
        predicted = [p for r in self.results for p in r.predicted]
        return {
            "settings": self.settings.label(),
            "pooled": self.pooled(),
            "worst_urgent_kind": worst_urgent_kind(predicted, labels, kinds)[0],
            "folds": [
                {
                    "held": r.held,
                    "threshold": r.threshold,
                    "c": r.c,
                    "figures": f,
                    "threshold_figures": r.threshold_figures,
                }
                for r, f in zip(self.results, self.per_fold(), strict=True)
            ],
            "seconds": round(self.seconds, 1),
        }

    def render(self) -> str:
        names = ("urgent_recall", "urgent_or_concern_recall", "false_alarm_rate")
        lines = [f"settings: {self.settings.label()}"]
        pooled = self.pooled()
        lines.append(
            "pooled over held-out writers: " + ", ".join(f"{k} {v:.3f}" for k, v in pooled.items())
        )
        for result, found in zip(self.results, self.per_fold(), strict=True):
            lines.append(
                f"  held {','.join(result.held):<14} thresholds {','.join(result.threshold):<14}"
                + " ".join(f"{found[k]:.3f}" for k in (*names, "urgent_precision"))
                + f"  C={result.c}"
            )
        lines.append(f"{self.seconds:.0f} s")
        return "\n".join(lines)


_DATA: Data | None = None  # shared with forked fold workers (read only)


def _fold_job(job: tuple[Settings, list[str], list[str]]) -> FoldResult:
    assert _DATA is not None
    return run_fold(_DATA, *job)


def crossval(
    settings: Settings = SHIPPED,
    data: Data | None = None,
    count: int = FOLDS,
    jobs: int = 1,
) -> Report:
    """Every fold of the settings (module docstring). `data` may be shared between
    settings with the same features (bits, char n-grams)."""
    global _DATA
    started = time.monotonic()
    if data is None:
        data = Data.of(messages(), settings)
    writers = sorted({m.writer for m in data.units.messages})
    refused = set(writers) & set(writers_of()["test"])
    if refused:  # data built elsewhere must not hold a test writer either
        raise TestWritersRefused(f"test writers are never cross-validated: {sorted(refused)}")
    held = [f for f in folds(writers, count) if f]
    work = [(settings, fold, held[(i + 1) % len(held)]) for i, fold in enumerate(held)]
    if jobs > 1:
        import multiprocessing

        _DATA = data
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = pool.map(_fold_job, work)
        finally:
            _DATA = None
    else:
        results = [run_fold(data, *job) for job in work]
    return Report(settings, results, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moderation.crossval", description=__doc__)
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--jobs", type=int, default=1, help="folds run at once (fork)")
    parser.add_argument("--c-urgent", type=float)
    parser.add_argument("--c-risk", type=float)
    parser.add_argument("--class-weight", choices=("balanced", "none"))
    parser.add_argument("--mil-rounds", type=int)
    parser.add_argument("--urgent-concern-weight", type=float)
    parser.add_argument("--mil-start", choices=("first", "all", "short"))
    parser.add_argument("--nb", choices=("on", "off"), help="naive-Bayes feature scaling")
    parser.add_argument("--char-ngrams", help="comma-separated, e.g. 2,3,4,5")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    changes: dict[str, Any] = {}
    if args.c_urgent is not None:
        changes["c_urgent"] = args.c_urgent
    if args.c_risk is not None:
        changes["c_risk"] = args.c_risk
    if args.class_weight is not None:
        changes["class_weight"] = None if args.class_weight == "none" else args.class_weight
    if args.mil_rounds is not None:
        changes["mil_rounds"] = args.mil_rounds
    if args.urgent_concern_weight is not None:
        changes["urgent_concern_weight"] = args.urgent_concern_weight
    if args.mil_start is not None:
        changes["mil_start"] = args.mil_start
    if args.nb is not None:
        changes["nb"] = args.nb == "on"
    if args.char_ngrams:
        changes["char_ngrams"] = tuple(int(n) for n in args.char_ngrams.split(","))
    report = crossval(replace(SHIPPED, **changes), count=args.folds, jobs=args.jobs)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
