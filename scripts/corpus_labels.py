"""Second and third labels for the crisis corpus (moderation/corpus/writers/*.jsonl).

    python scripts/corpus_labels.py prepare WORK w01 w02 ...   # batches of id + text only
    python scripts/corpus_labels.py merge WORK                  # label2, kappa, disagreements
    python scripts/corpus_labels.py settle WORK                 # final labels from the third

WORK is a folder outside the repository. `prepare` shuffles the writers' messages into
batches of BATCH messages that show a labeller nothing but an opaque id and the text; the map
from opaque ids back to messages is kept in WORK/private/, which no labeller is told of.
`merge` writes each second label beside the writer's (`label2`, `category2`), prints Cohen's
kappa over urgent / concern / none, and writes the disagreements for a third labeller, who
sees the text and the two labels in random order, unnamed. `settle` writes `final_label`.
"""

from __future__ import annotations

import glob
import json
import random
import sys
from collections import Counter
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "moderation" / "corpus" / "writers"
BATCH = 500
LABELS = ("urgent", "concern", "none")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def prepare(work: Path, writers: list[str]) -> None:
    (work / "private").mkdir(parents=True, exist_ok=True)
    rows = [r for w in writers for r in read_jsonl(CORPUS / f"{w}.jsonl")]
    random.Random("-".join(writers)).shuffle(rows)
    tag = f"{len(list((work / 'private').glob('map-*.json'))) + 1:02d}"
    mapping = {}
    for start in range(0, len(rows), BATCH):
        name = f"set{tag}-{start // BATCH + 1:02d}"
        batch = []
        for j, row in enumerate(rows[start : start + BATCH]):
            opaque = f"{name}-{j + 1:04d}"
            mapping[opaque] = row["id"]
            batch.append({"id": opaque, "text": row["text"]})
        write_jsonl(work / f"{name}.input.jsonl", batch)
    (work / "private" / f"map-{tag}.json").write_text(json.dumps(mapping))
    print(f"{len(rows)} messages in {(len(rows) + BATCH - 1) // BATCH} batches (set {tag})")


def kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in LABELS) / (n * n)
    return (observed - expected) / (1 - expected)


def _maps(work: Path) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for path in sorted((work / "private").glob("map-*.json")):
        mapping.update(json.loads(path.read_text()))
    return mapping


def merge(work: Path) -> None:
    mapping = _maps(work)
    second: dict[str, dict] = {}
    for path in sorted(glob.glob(str(work / "*.labels.jsonl"))):
        for row in read_jsonl(Path(path)):
            if row.get("id") in mapping and row.get("label") in LABELS:
                second[mapping[row["id"]]] = row
    pairs: list[tuple[str, str]] = []
    disagreements = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        rows = read_jsonl(path)
        for row in rows:
            label = second.get(row["id"])
            if label is None:
                continue
            row["label2"], row["category2"] = label["label"], label.get("category", "")
            pairs.append((row["label"], row["label2"]))
            if row["label"] != row["label2"] and "final_label" not in row:
                disagreements.append(row)  # settled ones are not asked again
        write_jsonl(path, rows)
    if not pairs:
        print("no second labels yet")
        return
    print(
        f"second labels: {len(pairs)}; agreement {sum(a == b for a, b in pairs) / len(pairs):.3f}"
    )
    print(f"Cohen's kappa (urgent / concern / none): {kappa(pairs):.3f}")
    print("writer x second:", dict(Counter(pairs)))
    rng = random.Random(len(disagreements))
    third, third_map = [], {}
    for j, row in enumerate(disagreements):
        options = [row["label"], row["label2"]]
        rng.shuffle(options)
        opaque = f"third-{j + 1:04d}"
        third_map[opaque] = row["id"]
        third.append({"id": opaque, "text": row["text"], "A": options[0], "B": options[1]})
    # A new round never overwrites an earlier one: settle must read each third labeller's
    # answers with the map of the very input that labeller saw.
    rounds = len(list((work / "private").glob("third-map-*.json"))) + 1
    name = f"third-{rounds:02d}"
    write_jsonl(work / f"{name}.input.jsonl", third)
    (work / "private" / f"third-map-{rounds:02d}.json").write_text(json.dumps(third_map))
    print(f"{len(third)} disagreements for the third labeller: {work / name}.input.jsonl")


def settle(work: Path) -> None:
    decided: dict[str, str] = {}
    for labels in sorted(work.glob("third-*.labels.jsonl")):
        number = labels.name.removeprefix("third-").split(".")[0]
        third_map = json.loads((work / "private" / f"third-map-{number}.json").read_text())
        for r in read_jsonl(labels):
            if r.get("id") in third_map and r.get("label") in LABELS:
                decided[third_map[r["id"]]] = r["label"]
    for path in sorted(CORPUS.glob("*.jsonl")):
        rows = read_jsonl(path)
        for row in rows:
            if row["id"] in decided:
                row["final_label"] = decided[row["id"]]
        write_jsonl(path, rows)
    print(f"{len(decided)} settled by the third labeller")


if __name__ == "__main__":
    command, work = sys.argv[1], Path(sys.argv[2])
    if command == "prepare":
        prepare(work, sys.argv[3:])
    elif command == "merge":
        merge(work)
    elif command == "settle":
        settle(work)
    else:
        sys.exit(__doc__)
