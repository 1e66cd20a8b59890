"""`peerline scan` (PROTOCOL.md): JSON lines of messages in, JSON lines of assessments out.

Each input line is `{"id": ..., "text": "..."}` (optionally `"role"`); each output line is
`{"id", "label", "score", "evidence": [...], "category", "model", "parts": {...}}`, in the same
order: `model` is the crisis model's version and `parts` the per-part scores (the model's
urgent and risk probabilities, the rules' rung, the cue counts, and the overlay's margins over
its urgent and risk thresholds). A line that is not such an
object gives `{"id": <its id, or null>, "error": "bad_line", "detail": "..."}`, and the
lines after it are still read. Blank lines are skipped: they carry no message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from moderation.detector import ROLES, scan
from moderation.lexicon import Lexicon


class _BadLine(ValueError):
    def __init__(self, detail: str, message_id: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message_id = message_id


def _parse(line: str) -> tuple[Any, str, str]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise _BadLine(f"not JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(data, dict):
        raise _BadLine(f"expected an object, got {type(data).__name__}")
    message_id = data.get("id")
    if isinstance(message_id, (dict, list)):  # echoed back, an id must be a plain value
        raise _BadLine("'id' must be a string, a number or null")
    if "id" not in data:
        raise _BadLine("missing 'id'")
    text = data.get("text")
    if not isinstance(text, str):
        raise _BadLine("'text' must be a string", message_id)
    role = data.get("role", "participant")
    if role not in ROLES:
        raise _BadLine(f"'role' must be one of {sorted(ROLES)}", message_id)
    return message_id, text, role


def scan_lines(lines: Iterable[str], lexicon: Lexicon | None = None) -> Iterator[str]:
    """One output line (without newline) for each non-blank input line, in order."""
    for line in lines:
        if not line.strip():
            continue
        try:
            message_id, text, role = _parse(line)
        except _BadLine as bad:
            yield json.dumps(
                {"id": bad.message_id, "error": "bad_line", "detail": bad.detail},
                ensure_ascii=False,
            )
            continue
        assessment = scan(text, role=role, lexicon=lexicon)
        yield json.dumps(
            {
                "id": message_id,
                "label": assessment.label,
                "score": assessment.score,
                "evidence": list(assessment.evidence),
                "category": assessment.category,
                "model": assessment.model_version,
                "parts": {name: round(value, 4) for name, value in assessment.parts.items()},
            },
            ensure_ascii=False,
        )
