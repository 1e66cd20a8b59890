"""The admin commands behind `peerline` (server/__main__.py): staff accounts, the audit log,
and the read deadline `serve` puts on HTTP requests."""
