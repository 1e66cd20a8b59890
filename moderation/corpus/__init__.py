"""The labelled crisis corpus: messages from many independent writers, split by writer.

    from moderation.corpus import load, split
    messages = load()                  # every writer's messages, with their settled labels
    parts = split(messages)            # {"train": [...], "threshold": [...], "test": [...]}

Each writer's messages are one file in `writers/` (GUIDE.md says how they were written and
labelled); `split.json` names the writers of each part. The team's own development set
(moderation/devset/) is one more writer, "team", always in training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

PARTS = ("train", "threshold", "test")
LABELS = ("urgent", "concern", "none")
TEAM = "team"  # the team's development set, always in training
LONG_WORDS = 80  # a "long" message, as the corpus brief counts them


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    writer: str
    text: str
    label: str
    category: str
    kind: str
    language: str = "en"
    role: str = "participant"

    @property
    def long(self) -> bool:
        return len(self.text.split()) >= LONG_WORDS

    @property
    def detector_role(self) -> str:
        """The role `scan` takes: family members and officers write as participants."""
        return "supporter" if self.role == "supporter" else "participant"


def _parse(line: str, writer_hint: str) -> Message:
    data = json.loads(line)
    label = data.get("final_label", data["label"])
    if label not in LABELS:
        raise ValueError(f"{data.get('id')}: label {label!r}")
    return Message(
        id=str(data["id"]),
        writer=str(data.get("writer", writer_hint)),
        text=str(data["text"]),
        label=label,
        category=str(data.get("final_category", data.get("category", ""))),
        kind=str(data.get("kind") or data.get("category", "")),
        language=str(data.get("language", "en")),
        role=str(data.get("role", "participant")),
    )


def load_lines(lines: Iterable[str], writer: str) -> list[Message]:
    return [_parse(line, writer) for line in lines if line.strip()]


def load() -> list[Message]:
    """Every message: the writers' files, then the team's development set."""
    messages: list[Message] = []
    folder = resources.files("moderation.corpus").joinpath("writers")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            name = entry.name.removesuffix(".jsonl")
            messages += load_lines(entry.read_text("utf-8").splitlines(), name)
    devset = resources.files("moderation").joinpath("devset")
    for part in ("dev", "heldout"):
        messages += load_lines(
            devset.joinpath(f"{part}.jsonl").read_text("utf-8").splitlines(), "team"
        )
    return messages


def load_writers(writers: Iterable[str]) -> list[Message]:
    """The messages of the named writers only, in the order `load` gives them (the writers'
    files by name, then the team's): no other writer's file is opened, so training and
    cross-validation never hold a test writer's message even in memory."""
    wanted = set(writers)
    messages: list[Message] = []
    folder = resources.files("moderation.corpus").joinpath("writers")
    for name in sorted(wanted - {TEAM}):
        entry = folder.joinpath(f"{name}.jsonl")
        if not entry.is_file():
            raise FileNotFoundError(f"no writer {name!r} in moderation/corpus/writers")
        messages += load_lines(entry.read_text("utf-8").splitlines(), name)
    if TEAM in wanted:
        devset = resources.files("moderation").joinpath("devset")
        for part in ("dev", "heldout"):
            messages += load_lines(
                devset.joinpath(f"{part}.jsonl").read_text("utf-8").splitlines(), TEAM
            )
    return messages


def load_parts(parts: Iterable[str]) -> dict[str, list[Message]]:
    """The messages of the named parts only (see `load_writers`)."""
    names = writers_of()
    return {part: load_writers(names[part]) for part in parts}


def writers_of() -> dict[str, list[str]]:
    text = resources.files("moderation.corpus").joinpath("split.json").read_text("utf-8")
    data = json.loads(text)
    return {part: list(data[part]) for part in PARTS}


def split(messages: Iterable[Message]) -> dict[str, list[Message]]:
    """The messages of each part, by writer; a writer in no part is left out."""
    part_of = {w: part for part, writers in writers_of().items() for w in writers}
    parts: dict[str, list[Message]] = {part: [] for part in PARTS}
    for message in messages:
        part = part_of.get(message.writer)
        if part is not None:
            parts[part].append(message)
    return parts
