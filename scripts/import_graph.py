"""The import graph of a package: levels, circles and the largest modules.

    python scripts/import_graph.py [server]

Reads the source with `ast` (nothing is imported). An import inside `if TYPE_CHECKING:`
counts, as a reader sees it. Level 0 imports nothing of the package; a module's level is one
more than the highest level it imports; modules in a circle share a level.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            result.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return result


def main(argv: list[str]) -> int:
    package = argv[0] if argv else "server"
    found = modules(package)
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    groups = strongly_connected(graph)  # in reverse topological order
    level: dict[str, int] = {}
    for group in groups:
        outside = {w for v in group for w in graph[v]} - set(group)
        value = 1 + max((level[w] for w in outside), default=-1)
        for v in group:
            level[v] = value
    circles = [g for g in groups if len(g) > 1]
    sizes = sorted(
        ((len(p.read_text("utf-8").splitlines()), n) for n, p in found.items()), reverse=True
    )
    top = [n for n, p in found.items() if n.count(".") == 1 and p.name != "__init__.py"]
    print(f"{package}: {len(found)} modules ({len(top)} directly in {package}/), "
          f"{max(level.values()) + 1} import levels")  # fmt: skip
    print(f"circles: {len(circles)}")
    for group in circles:
        print("  " + " <-> ".join(group))
    print("largest: " + ", ".join(f"{n} {lines}" for lines, n in sizes[:6]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
