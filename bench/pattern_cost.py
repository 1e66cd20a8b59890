"""The slowest lexicon pattern a moderator can add, and what it costs a message.

Tries hostile patterns through the same two checks as `POST /api/review/lexicon` (the
lexicon's parser with its gap limit, then `check_cost`'s 20 ms budget); for each one
accepted, times a full scan (`moderation.scan`, rules and model) of hostile 2,000-character
messages with that entry in the lexicon, and reports the slowest. Issue 11 point 7: a
pattern with 12 chained gaps once backtracked for over 30 s inside `say`.

    python -m bench.pattern_cost [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from moderation import Entry, Lexicon, LexiconError, scan
from moderation.patterns import PatternError, check_cost, compile_pattern

HOSTILE = [
    "a ... b ... c ... d ... e ... f ... g ... h ... i ... j ... k ... l",  # 12 gaps
    "a ... a ... a",
    "(a|aa|aaa|aaaa) ... (a|aa|aaa|aaaa) ... (a|aa|aaa|aaaa)",
    "[a] [a] [a] [a] [a] [a] [a] [a] [a] [a] [a] [a] a",
    "(a*|b*|c*|d*|e*) ... (a*|b*|c*|d*|e*) ... (a*|b*|c*|d*|e*)",
    "kill* ... my* ... self*",
    "(want|wanna|need|going|gonna) [to] [just] [really] ... (die|dying|end*) ... (tonight|now)",
    "(i|im|i am) ... (so|really|just) ... (done|over|finished)",
    "## ... ## ... ##",
    "^ (a|b|c|d|e|f|g|h|i|j) ... (a|b|c|d|e|f|g|h|i|j) ... (a|b|c|d|e|f|g|h|i|j) $",
]


def texts_for(pattern: str) -> list[str]:
    words = [w for w in pattern.replace("(", " ").replace(")", " ").replace("|", " ").split()
             if w.isalnum()] or ["a"]  # fmt: skip
    own = (" ".join(words) + " ") * 400
    letters = " ".join("a" * 1_000)  # split letters: the squashed form's worst case
    digits = " ".join(["12"] * 700)
    return [own[:2_000], letters[:2_000], digits[:2_000], ("a " * 1_000)[:2_000]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    base = Lexicon.default()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")  # fmt: skip
    baseline = [scan(t) for t in texts_for("a")]  # warm the model and caches
    del baseline
    worst = (0.0, "")
    for n, pattern in enumerate(HOSTILE):
        entry = {"id": f"bench.{n}", "pattern": pattern, "category": "suicide",
                 "severity": "concern"}  # fmt: skip
        try:
            lexicon = base.with_changes(added=[Entry.from_dict(entry)])
            budget_used = check_cost(compile_pattern(pattern))
        except (LexiconError, PatternError, ValueError) as exc:
            print(f"refused  {pattern!r}: {str(exc)[:90]}")
            continue
        times = []
        for text in texts_for(pattern):
            for _ in range(args.repeat):
                started = time.perf_counter()
                scan(text, "participant", lexicon)
                times.append(time.perf_counter() - started)
        p99 = statistics.quantiles(times, n=100)[98] * 1000
        print(f"accepted {pattern!r}: check {budget_used * 1000:.2f} ms, "
              f"scan of 2,000 chars p99 {p99:.2f} ms, max {max(times) * 1000:.2f} ms")  # fmt: skip
        worst = max(worst, (max(times) * 1000, pattern))
    print(f"slowest accepted pattern: {worst[1]!r}, {worst[0]:.2f} ms for one 2,000-char scan")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
