"""The HTTP API in-process on the test Redis: shapes, refusals, cookies and headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.web.headers import CSP

BASE = "http://testserver"


@pytest.fixture
def client(app_env: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings.from_environ(app_env)), base_url=BASE) as c:
        yield c


def accept(client: TestClient) -> tuple[str, dict[str, object]]:
    version = client.get("/api/info").json()["consent"]["version"]
    response = client.post(
        "/api/session", json={"consent_version": version, "accept": True}, headers={"origin": BASE}
    )
    assert response.status_code == 201
    return response.headers["set-cookie"], response.json()


def test_info_has_the_protocol_shape(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert set(info) >= {"program", "consent", "resources", "rooms"}
    assert set(info["consent"]) == {"version", "text"}
    # chat and lang are extensions (docs/protocol.md, /api/info).
    assert all(set(r) == {"name", "contact", "note", "chat", "lang"} for r in info["resources"])
    assert all(set(r) == {"id", "name", "description", "access"} for r in info["rooms"])
    assert "invite_codes" not in str(info) and "sha256" not in str(info)


def test_session_cookie_is_host_prefixed_secure_httponly_strict(client: TestClient) -> None:
    cookie, body = accept(client)
    assert cookie.startswith("__Host-peerline=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
    assert not any(a.startswith("domain") for a in attributes)
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43
    assert body["pseudonym"] and body["consent_version"]


@pytest.mark.parametrize(
    "body",
    [
        {"accept": True},
        {"consent_version": "1999-01-01", "accept": True},
        {"consent_version": "2026-11-01", "accept": False},
        {"consent_version": "2026-11-01"},
        [],
    ],
    ids=["no-version", "old-version", "declined", "no-accept", "not-object"],
)
def test_session_needs_the_current_consent(client: TestClient, body: object) -> None:
    response = client.post("/api/session", json=body, headers={"origin": BASE})
    assert response.status_code == 400
    assert response.json()["error"] == "consent_required"
    assert "set-cookie" not in response.headers


def test_session_refusals(client: TestClient) -> None:
    bad_json = client.post("/api/session", content=b"{", headers={"origin": BASE})
    assert bad_json.status_code == 400 and bad_json.json()["error"] == "bad_json"
    foreign = client.post("/api/session", json={}, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"] == "forbidden"
    no_origin = client.post("/api/session", json={})
    assert no_origin.status_code == 403


def test_sessions_per_address_are_limited(client: TestClient) -> None:
    version = client.get("/api/info").json()["consent"]["version"]
    statuses = [
        client.post(
            "/api/session",
            json={"consent_version": version, "accept": True},
            headers={"origin": BASE},
        ).status_code
        for _ in range(32)
    ]
    assert statuses[:30] == [201] * 30
    limited = client.post(
        "/api/session", json={"consent_version": version, "accept": True}, headers={"origin": BASE}
    )
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0


def test_current_session_and_erase(client: TestClient) -> None:
    assert client.get("/api/session").status_code == 401
    cookie, body = accept(client)
    token_pair = cookie.split(";")[0]
    headers = {"cookie": token_pair}
    assert client.get("/api/session", headers=headers).json()["pseudonym"] == body["pseudonym"]
    foreign = client.delete("/api/session", headers={**headers, "origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert client.get("/api/session", headers=headers).status_code == 200  # nothing changed
    erased = client.delete("/api/session", headers={**headers, "origin": BASE})
    assert erased.status_code == 204
    assert erased.headers["clear-site-data"] == '"cookies", "storage"'
    assert client.get("/api/session", headers=headers).status_code == 401
    again = client.delete("/api/session", headers={**headers, "origin": BASE})
    assert again.status_code == 401 and again.json()["error"] == "no_session"


ROUTES = [
    "/",
    "/api/info",
    "/api/session",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static/index.html",
    "/no-such-page",
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["content-security-policy"] == CSP
    assert "max-age=31536000" in response.headers["strict-transport-security"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expected = "no-cache" if path.startswith("/static/") else "no-store"
    assert response.headers["cache-control"] == expected
    assert "server" not in response.headers


def test_errors_are_json_without_traces(client: TestClient) -> None:
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.json() == {
        "error": "not_found",
        "detail": "nothing here",
    }
    wrong = client.put("/api/session")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_health_ready_and_metrics_without_content(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    _, body = accept(client)
    text = client.get("/metrics").text
    assert "peerline_sockets 0" in text and "peerline_sessions_created_total 1" in text
    assert str(body["pseudonym"]) not in text


def test_erase_works_after_the_consent_text_changed(app_env: dict[str, str]) -> None:
    # Regression: a session accepted under an older consent could never be erased.
    from dataclasses import replace

    old = Settings.from_environ(app_env)
    with TestClient(create_app(old), base_url=BASE) as before:
        cookie, _ = accept(before)
    pair = cookie.split(";")[0]
    new = replace(old, program=replace(old.program, consent_version="2027-01-01"))
    with TestClient(create_app(new), base_url=BASE) as after:  # a restart, on the same Redis
        assert after.get("/api/session", headers={"cookie": pair}).status_code == 401
        erased = after.delete("/api/session", headers={"cookie": pair, "origin": BASE})
        assert erased.status_code == 204


def test_metrics_can_require_the_operators_token(app_env: dict[str, str]) -> None:
    settings = Settings.from_environ({**app_env, "PEERLINE_METRICS_TOKEN": "op-secret"})
    with TestClient(create_app(settings), base_url=BASE) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        right = client.get("/metrics", headers={"authorization": "Bearer op-secret"})
        assert right.status_code == 200 and "peerline_sockets" in right.text


def test_an_unreachable_store_answers_503_unavailable_on_every_route(
    app_env: dict[str, str],
) -> None:
    from server.store import StoreUnavailable
    from server.store.redis import RedisStore

    class DownStore(RedisStore):
        async def get_session(self, digest: str, ttl_seconds: float) -> None:
            raise StoreUnavailable("down")

        async def count_recent(self, key: str, window_seconds: int) -> int:
            raise StoreUnavailable("down")

    store = DownStore(app_env["PEERLINE_REDIS_URL"], app_env["PEERLINE_REDIS_PREFIX"])
    with TestClient(
        create_app(Settings.from_environ(app_env), store=store), base_url=BASE
    ) as client:
        responses = [
            client.get("/api/session", headers={"cookie": "__Host-peerline=x"}),
            client.delete("/api/session", headers={"cookie": "__Host-peerline=x", "origin": BASE}),
            client.post(
                "/api/session/end", headers={"cookie": "__Host-peerline=x", "origin": BASE}
            ),
            client.post(
                "/api/session",
                json={"consent_version": "2026-11-01", "accept": True},
                headers={"origin": BASE},
            ),
        ]
        for response in responses:
            assert response.status_code == 503
            assert response.json() == {
                "error": "unavailable",
                "detail": "storage is unavailable; retry shortly",
            }
            assert "set-cookie" not in response.headers


def test_an_oversized_body_is_refused_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # a streamed body that says nothing of its length
        for _ in range(1000):
            yield b" " * 1024
        yield b"{}"

    for body in (b"[" + b"1," * 40_000 + b"1]", chunks()):
        response = client.post("/api/session", content=body, headers={"origin": BASE})
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "too_large"
        assert response.headers["content-security-policy"] == CSP


@pytest.mark.parametrize("path", ["/api/session", "/api/staff/login"])
def test_hostile_nesting_is_bad_json_not_a_server_error(client: TestClient, path: str) -> None:
    response = client.post(path, content=b"[" * 30_000, headers={"origin": BASE})
    assert response.status_code == 400 and response.json()["error"] == "bad_json"


def test_a_server_error_carries_the_security_headers(app_env: dict[str, str]) -> None:
    from server.store.redis import RedisStore

    class BrokenStore(RedisStore):
        async def count_recent(self, key: str, window_seconds: int) -> int:
            raise RuntimeError("a bug")

    store = BrokenStore(app_env["PEERLINE_REDIS_URL"], app_env["PEERLINE_REDIS_PREFIX"])
    app = create_app(Settings.from_environ(app_env), store=store)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:
        version = client.get("/api/info").json()["consent"]["version"]
        response = client.post(
            "/api/session",
            json={"consent_version": version, "accept": True},
            headers={"origin": BASE},
        )
    assert response.status_code == 500
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert "a bug" not in response.text


@pytest.mark.parametrize("trusted", [True, False])
def test_the_session_limit_keys_on_the_forwarded_address_only_behind_a_trusted_proxy(
    trusted: bool, app_env: dict[str, str]
) -> None:
    env = {**app_env, "PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR": "2"}
    if trusted:
        env["PEERLINE_TRUSTED_PROXIES"] = "10.0.0.0/8"
    app = create_app(Settings.from_environ(env))
    with TestClient(app, base_url=BASE, client=("10.0.0.5", 40000)) as proxy:
        version = proxy.get("/api/info").json()["consent"]["version"]

        def new_session(forwarded: str) -> int:
            response = proxy.post(
                "/api/session",
                json={"consent_version": version, "accept": True},
                headers={"origin": BASE, "x-forwarded-for": forwarded},
            )
            return response.status_code

        assert [new_session("198.51.100.1") for _ in range(3)] == [201, 201, 429]
        other = new_session("198.51.100.2")  # another person behind the same proxy
        assert other == (201 if trusted else 429)
