"""Server frames: each builder's type is one docs/protocol.md describes, with its fields."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from server.core import frames

PROTOCOL = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text("utf-8")
SAMPLE = {
    "str": "x",
    "str | None": "x",
    "int": 1,
    "bool": True,
    "list[str]": [],
    "list[Any]": [],
    "list[Frame]": [],
    "dict[str, Any]": {},
}


def built() -> dict[str, frames.Frame]:
    out = {}
    for name, fn in inspect.getmembers(frames, inspect.isfunction):
        if fn.__module__ != frames.__name__:
            continue
        args = [
            SAMPLE[str(p.annotation)]
            for p in inspect.signature(fn).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty
        ]
        out[name] = fn(*args)
    return out


def test_every_builder_makes_the_frame_it_is_named_for() -> None:
    for name, frame in built().items():
        assert frame["type"] == name


def test_every_frame_type_and_field_is_in_the_protocol_document() -> None:
    documented = set(re.findall(r'"type": "([a-z_]+)"', PROTOCOL)) | set(
        re.findall(r"`([a-z_]+)`", PROTOCOL)
    )
    for name, frame in built().items():
        assert name in documented, name
        for field in frame:
            assert f'"{field}"' in PROTOCOL or f"`{field}`" in PROTOCOL, (name, field)


def test_a_crisis_notice_says_its_language() -> None:
    frame = frames.notice("general", "crisis_resources", "x", [], lang="es")
    assert frame["lang"] == "es"
    assert "lang" not in frames.notice("general", "moderation", "x")
