"""The KeySpace: every Redis name Peerline uses starts with the prefix and no two collide."""

from __future__ import annotations

import inspect

from server.store.keys import KeySpace


def every_name(keys: KeySpace, arg: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for attr, member in inspect.getmembers(type(keys)):
        if attr.startswith("_"):
            continue
        if isinstance(member, property):
            names[attr] = getattr(keys, attr)
        elif callable(member):
            params = len(inspect.signature(member).parameters) - 1
            value = getattr(keys, attr)(*[arg] * params)
            for n, name in enumerate(value if isinstance(value, tuple) else (value,)):
                names[f"{attr}[{n}]"] = name
    return names


def test_every_name_starts_with_the_prefix() -> None:
    names = every_name(KeySpace("dep1:"), "x")
    assert len(names) > 40
    assert all(name.startswith("dep1:") for name in names.values()), names


def test_no_two_names_collide_for_the_same_argument() -> None:
    names = every_name(KeySpace("pl:"), "abc")
    by_value: dict[str, list[str]] = {}
    for attr, value in names.items():
        by_value.setdefault(value, []).append(attr)
    assert {v: a for v, a in by_value.items() if len(a) > 1} == {}


def test_a_room_lives_on_one_cluster_slot() -> None:
    keys = KeySpace("pl:")
    for name in (keys.room_stream("r1"), keys.room_floor("r1"), keys.room_here("r1")):
        assert "{r1}" in name


def test_two_deployments_share_no_name() -> None:
    one, two = every_name(KeySpace("a:"), "x"), every_name(KeySpace("b:"), "x")
    assert set(one.values()).isdisjoint(two.values())
