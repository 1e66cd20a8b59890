"""`peerline`: serve, and the admin commands of docs/protocol.md (keys, scan, staff, audit)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from server import logs
from server.cli import audit as audit_cli
from server.cli import staff as staff_cli
from server.config import ConfigError, Settings
from server.crypto import KeyRingError, generate_key_line

log = logging.getLogger("peerline")

WS_MAX_BYTES = 65_536  # W5: uvicorn's default is 16 MiB; larger frames close with 1009


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="peerline", description="Peerline peer-support chat")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    keys = sub.add_parser("keys", help="encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("generate", help="print a new ID:BASE64 key for PEERLINE_DATA_KEYS")
    staff_cli.add_parser(sub)
    audit_cli.add_parser(sub)
    sub.add_parser(
        "scan",
        help="JSON lines {id, text} on stdin -> {id, label, score, evidence} on stdout",
    )
    args = parser.parse_args(argv)

    if args.command == "keys":
        print(generate_key_line())
        return
    if args.command == "scan":
        from moderation.jsonl import scan_lines

        # The exact decision the server makes on a message: the same function and lexicon.
        for line in scan_lines(sys.stdin):
            sys.stdout.write(line + "\n")
        return
    if args.command == "audit":
        sys.exit(audit_cli.run(args, os.environ, sys.stdin, sys.stdout))
    if args.command == "staff":
        sys.exit(staff_cli.run(args, os.environ, sys.stdin, sys.stdout))
    sys.exit(serve_forever(args.host, args.port))


def serve_forever(host: str, port: int) -> int:
    import uvicorn

    from server.app import StartupError, create_app
    from server.cli.deadline import ReadDeadlineProtocol
    from server.store import embedded

    try:
        settings = Settings.from_environ(os.environ)
    except ConfigError as exc:
        print(f"peerline: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    # uvicorn hands a SIGTERM back to the handler it found once it has shut down: this one
    # unwinds the stack, so the embedded Redis is stopped after the server, not killed first.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    try:
        # Without PEERLINE_REDIS_URL: this folder's own redis-server, for as long as we run.
        with embedded.serving(settings) as settings:
            app = create_app(settings)
            ReadDeadlineProtocol.deadline_seconds = settings.read_deadline_seconds
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                ws_max_size=WS_MAX_BYTES,
                ws_per_message_deflate=False,  # W1: compression can leak secrets (CRIME/BREACH)
                ws_ping_interval=settings.ping_seconds,
                ws_ping_timeout=settings.ping_seconds,
                access_log=False,  # P1: the access log would record client addresses
                server_header=False,
                proxy_headers=False,
                http=ReadDeadlineProtocol,  # a request must arrive whole in time (slow-loris)
                log_config=None,
                timeout_graceful_shutdown=10,  # R7: drain for at most 10 s
            )
            uvicorn.Server(config).run()
    except (ConfigError, KeyRingError, StartupError, embedded.EmbeddedError) as exc:
        print(f"peerline: {exc}", file=sys.stderr)
        return 2
    except (_Stopped, KeyboardInterrupt):
        pass
    return 0


class _Stopped(Exception):
    """SIGTERM: leave, stopping what was started on the way out."""


def _stop_on_signal(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
    raise _Stopped


if __name__ == "__main__":
    main()
