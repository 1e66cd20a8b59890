"""Where a server process spends its time under a fixed load: py-spy, sampled from outside.

    .venv/bin/python -m bench.profile                          # Peerline, `pairs`, 1 process
    .venv/bin/python -m bench.profile --kind broadcaster --scenario groups --rate 2

Starts the stack (bench/stack.py), runs the scenario's load at `--rate` messages a second
per socket, and during the measured window samples the server process with
`py-spy record --format raw` (collapsed stacks; py-spy comes with the `bench` extra). Prints
the top functions by own time (samples where the function itself was running) and by total
time (samples where it was anywhere on the stack), and keeps the collapsed stacks for
flame-graph tools. Sampling from outside adds no code to the server; py-spy's own cost lands
on another core.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.compare import SCENARIOS, Options, spec_for
from bench.load import Observer, run_load
from bench.stack import Stack

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLE_RATE_HZ = 250  # py-spy's default is 100; more samples, same overhead on the target


def top_functions(collapsed: str, n: int = 10) -> dict[str, list[tuple[str, float]]]:
    """Own and total shares (% of samples) from py-spy's collapsed `frame;frame;leaf count`."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        # The first frame is the process/thread name; idle samples have no Python frames.
        frames = [f for f in frames if "(" in f]
        samples += count
        if not frames:
            continue
        own[_name(frames[-1])] += count
        for name in {_name(f) for f in frames}:
            total[name] += count
    if not samples:
        return {"own": [], "total": []}

    # The chain from `<module>` down to the event loop is on every stack that reached the
    # loop: it says nothing about where time goes.
    root = max(total.values(), default=0)
    for name in [k for k, v in total.items() if v == root]:
        del total[name]

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / samples, 1)) for k, v in c.most_common(n)]

    return {"own": share(own), "total": share(total), "samples": [("all", float(samples))]}


def _name(frame: str) -> str:
    """`send (websockets/legacy/protocol.py:123)` -> `send (websockets/legacy/protocol.py)`."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{func} ({path})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("--kind", default="peerline")
    p.add_argument("--scenario", default="pairs", choices=[n for n in SCENARIOS if "ramp" not in n])
    p.add_argument("--rate", type=float, help="messages a second per socket (default: scenario's)")
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    scenario = SCENARIOS[args.scenario]
    rate = args.rate or scenario.rate
    o = Options([args.kind], args.duration, 3.0, args.duration, 1.25, 1, 2, None)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / f"profile-{args.kind}-{args.scenario}-rate{rate:g}.collapsed"
    result: dict[str, Any] = {}
    with Stack(args.kind, 1, [f"{scenario.name}-{k:04d}" for k in range(scenario.rooms)]) as st:
        spec = spec_for(scenario, args.kind, st.ws_urls, rate, args.duration, o)
        pid = st.servers[0].pid

        class Window(Observer):
            def window_opened(self) -> None:
                result["spy"] = subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--duration",
                        str(int(args.duration)),
                        "--rate",
                        str(SAMPLE_RATE_HZ),
                        "--format",
                        "raw",
                        "--output",
                        str(raw),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )

        load = run_load(spec, Window())
        spy_proc = result["spy"]
        _, err = spy_proc.communicate(timeout=args.duration + 30)
        if spy_proc.returncode != 0:
            print(err.decode(errors="replace"), file=sys.stderr)
            return 1
    top = top_functions(raw.read_text(), args.top)
    print(
        f"{args.kind} {args.scenario} at {rate:g} msg/s per socket: delivered "
        f"{load['delivered_per_s']}/s, lost {load['lost']}, p99 {load['latency'].get('p99_ms')} ms"
    )
    for kind in ("own", "total"):
        print(f"\nTop functions by {kind} time (% of samples):")
        for name, pct in top[kind]:
            print(f"  {pct:5.1f}  {name}")
    print(f"\ncollapsed stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
