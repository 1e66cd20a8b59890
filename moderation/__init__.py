"""Crisis detection for Peerline: pure, standard library only, no I/O but its own data files.

    from moderation import scan
    scan("my bf isnt breathing")          # Assessment(label="urgent", category="overdose", ...)
    scan("are you thinking about killing yourself?", role="supporter").label   # "none"

The lexicon (moderation/lexicon.toml) is data a reviewer can read; moderators derive new
lexicons at runtime with `Lexicon.with_changes`.
"""

from __future__ import annotations

from moderation.detector import ROLES, STAFF_ROLES, Assessment, Label, scan
from moderation.lexicon import Context, Entry, Lexicon, LexiconError, Severity
from moderation.normalize import normalize

__all__ = [
    "ROLES",
    "STAFF_ROLES",
    "Assessment",
    "Context",
    "Entry",
    "Label",
    "Lexicon",
    "LexiconError",
    "Severity",
    "normalize",
    "scan",
]
