"""The load plan (bench/load.py LoadSpec) is pure: who sits in which room on which server."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.load import LoadSpec


def _spec(participants: int, rooms: int, servers: int) -> LoadSpec:
    return LoadSpec(
        servers=tuple(f"ws://127.0.0.1:{8000 + s}/ws" for s in range(servers)),
        participants=participants,
        rooms=tuple(f"r{k}" for k in range(rooms)),
    )


@pytest.mark.parametrize("servers", [1, 2, 3, 4, 8, 16])
def test_pairs_stay_pairs_on_any_number_of_processes(servers: int) -> None:
    # Once rooms were filled S members at a time: "pairs" became rooms of 4 on 4 processes.
    spec = _spec(500, 250, servers)
    assert spec.members() == [2] * 250
    assert sum(map(sum, spec.members_by_server())) == 500


@pytest.mark.parametrize("servers", [2, 4, 8])
def test_every_room_of_two_or_more_crosses_processes(servers: int) -> None:
    for participants, rooms in ((500, 250), (500, 20), (40, 4)):
        spec = _spec(participants, rooms, servers)
        for by_server in spec.members_by_server():
            size = sum(by_server)
            assert sum(1 for n in by_server if n) == min(size, servers)


@pytest.mark.parametrize("servers", [2, 3, 4, 8])
def test_servers_get_equal_shares(servers: int) -> None:
    spec = _spec(500, 250, servers)
    shares = Counter(spec.server_of(i) for i in range(spec.participants))
    # Members of one room take consecutive servers, so shares differ by at most a room.
    assert max(shares.values()) - min(shares.values()) <= max(spec.members())
    assert len(shares) == servers
