"""What every Starlette endpoint of ours shares: JSON errors, bodies, cookies, error pages.

Every error is JSON `{"error", "detail"}`; nothing here logs an address, a token or text.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": code, "detail": detail}, status, headers=headers)


# The JSON APIs take small objects (a consent, a login, a review action): 64 KiB is far above
# any of them, and a 300 MiB body once took a process to 1 GiB while it was read whole.
MAX_JSON_BODY_BYTES = 64 * 1024


async def read_json(request: Request) -> Any:
    """The request's JSON body, or the refusal to answer with (a Response): 413 `too_large`
    past MAX_JSON_BODY_BYTES, said before the body is read whole; 400 `bad_json` for a body
    that is not JSON, hostile nesting (100,000 `[`) included."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_JSON_BODY_BYTES):
        return _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            return _too_large()
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        return error(400, "bad_json", "the body is not valid JSON")


def _too_large() -> Response:
    detail = f"the body is larger than {MAX_JSON_BODY_BYTES // 1024} KiB"
    return error(413, "too_large", detail, {"Connection": "close"})


def set_cookie(response: Response, name: str, token: str, max_age: int, secure: bool) -> None:
    """W12: every cookie of ours is HttpOnly, SameSite=Strict, Path=/ and (but for plain-http
    testing) Secure, so a `__Host-` name is accepted by browsers."""
    response.set_cookie(
        name, token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict"
    )


async def not_found(request: Request, exc: Any) -> Response:
    return error(404, "not_found", "nothing here")


async def method_not_allowed(request: Request, exc: Any) -> Response:
    return error(405, "method_not_allowed", "method not allowed")


async def store_unavailable(request: Request, exc: Exception) -> Response:
    # Every store write is idempotent (erase, session end, counters), so a retry is safe
    # whatever part of the request got through.
    return error(503, "unavailable", "storage is unavailable; retry shortly")


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on an HTTP request: %s", type(exc).__name__)
    return error(500, "internal", "internal error")
