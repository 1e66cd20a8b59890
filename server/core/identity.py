"""Anonymous identities: random pseudonyms, session tokens and their stored digests.

Every value here comes from `secrets`. A token leaves the server only in a cookie; what is
stored is its SHA-256, so a copy of Redis cannot be replayed as a session.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 bits, above the 128-bit floor of SECURITY.md C4
ID_BYTES = 16  # 128-bit ids for participants and direct rooms

_ADJECTIVES = (
    "Quiet",
    "Steady",
    "Bright",
    "Gentle",
    "Brave",
    "Calm",
    "Clear",
    "Kind",
    "Patient",
    "Warm",
    "Hopeful",
    "Open",
    "Honest",
    "Early",
    "Silver",
    "Golden",
    "Green",
    "Blue",
    "Amber",
    "Cedar",
    "Still",
    "Rising",
    "Northern",
    "Southern",
    "Evening",
    "Morning",
    "Sunny",
    "Misty",
    "Wild",
    "Humble",
    "Careful",
    "Curious",
    "Faithful",
    "Fresh",
    "Grateful",
    "Lucky",
    "Mellow",
    "Noble",
    "Peaceful",
    "Proud",
    "Ready",
    "Solid",
    "Sturdy",
    "Swift",
    "True",
    "Willing",
    "Wise",
    "Young",
    "Bold",
    "Cozy",
)
_NOUNS = (
    "Harbor",
    "River",
    "Meadow",
    "Lantern",
    "Compass",
    "Anchor",
    "Bridge",
    "Cedar",
    "Harvest",
    "Island",
    "Journey",
    "Kestrel",
    "Lighthouse",
    "Maple",
    "Orchard",
    "Pebble",
    "Prairie",
    "Rain",
    "Ridge",
    "Sparrow",
    "Summit",
    "Tide",
    "Trail",
    "Valley",
    "Willow",
    "Beacon",
    "Brook",
    "Canyon",
    "Cove",
    "Dawn",
    "Ember",
    "Falcon",
    "Fern",
    "Field",
    "Garden",
    "Heron",
    "Hill",
    "Lake",
    "Oak",
    "Path",
    "Pine",
    "Road",
    "Shore",
    "Sky",
    "Spring",
    "Star",
    "Stone",
    "Wave",
    "Wren",
    "Aspen",
)


def new_pseudonym() -> str:
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_NOUNS)} {secrets.randbelow(90) + 10}"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_id() -> str:
    return secrets.token_hex(ID_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
