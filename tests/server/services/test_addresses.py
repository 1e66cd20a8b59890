"""Which address a limit is keyed on, behind reverse proxies or none."""

from __future__ import annotations

import ipaddress

import pytest

from server.config import ConfigError, Settings
from server.services.addresses import client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7"))


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("203.0.113.5", "198.51.100.1", ()) == "203.0.113.5"
    assert client_address(None, None, ()) == "unknown"


def test_an_untrusted_peers_header_is_ignored() -> None:
    assert client_address("203.0.113.5", "198.51.100.1", PROXIES) == "203.0.113.5"


def test_behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() -> None:
    assert client_address("10.1.2.3", "198.51.100.1", PROXIES) == "198.51.100.1"
    # The client wrote the first two entries itself; the proxies appended the rest.
    forged = "1.1.1.1, 2.2.2.2, 198.51.100.1, 10.9.9.9"
    assert client_address("192.0.2.7", forged, PROXIES) == "198.51.100.1"
    assert client_address("10.1.2.3", "", PROXIES) == "10.1.2.3"
    assert client_address("10.1.2.3", "10.0.0.1, 10.0.0.2", PROXIES) == "10.0.0.1"


def test_trusted_proxies_are_read_from_the_environment() -> None:
    settings = Settings.from_environ({"PEERLINE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,::1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]
    with pytest.raises(ConfigError, match="PEERLINE_TRUSTED_PROXIES"):
        Settings.from_environ({"PEERLINE_TRUSTED_PROXIES": "10.0.0.0/33"})
