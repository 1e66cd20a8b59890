"""Two real server processes on one real Redis, driven over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets

import pytest
import redis.asyncio as aioredis
import websockets

from tests.client import Participant
from tests.integration.conftest import redis_env
from tests.support import RedisServer, ServerProcess, http_json, new_participant, start_server

pytestmark = pytest.mark.integration

Pair = tuple[ServerProcess, ServerProcess]


async def two_people(pair: Pair, room: str = "general") -> tuple[Participant, Participant]:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    b = await Participant(pair[1], new_participant(pair[1].base)).connect()
    await a.join(room)
    await b.join(room)
    return a, b


async def test_hello_names_a_participant(pair: Pair) -> None:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    assert a.hello["protocol"] == 1
    assert a.hello["you"]["role"] == "participant" and a.hello["you"]["roles"] == ["participant"]
    assert a.hello["rooms"] == []
    await a.close()


async def test_messages_cross_processes_and_ack_comes_first(pair: Pair) -> None:
    a, b = await two_people(pair)
    nonce = secrets.token_hex(8)
    await a.send(type="say", room="general", text="hello from process one", nonce=nonce, ref="r1")
    ack = await a.expect("ack", nonce=nonce)
    assert ack["ref"] == "r1" and ack["room"] == "general"
    own = await a.expect("message", id=ack["id"])
    ack_index = a.frames.index(ack)
    assert a.frames.index(own) > ack_index
    got = await b.expect("message", id=ack["id"])
    assert got["text"] == "hello from process one"
    assert got["from"] == {"name": a.hello["you"]["name"], "role": "participant"}
    assert abs(got["ts"] - int(ack["id"].split("-")[0])) == 0
    await a.close()
    await b.close()


async def test_typing_and_presence_cross_processes(pair: Pair) -> None:
    a, b = await two_people(pair, "early-days")
    await a.expect("presence", room="early-days", count=2)
    await a.send(type="typing", room="early-days")
    typing = await b.expect("typing", room="early-days")
    assert typing["from"] == a.hello["you"]["name"]
    await b.send(type="leave", room="early-days")
    await b.expect("left", room="early-days")
    await a.expect("presence", room="early-days", count=1)
    await asyncio.sleep(0.2)
    assert not [f for f in a.frames if f["type"] == "typing"]  # never echoed to the typer
    await a.close()
    await b.close()


async def test_typing_is_not_echoed_to_the_typers_other_sockets(pair: Pair) -> None:
    cookie = new_participant(pair[0].base)
    first = await Participant(pair[0], cookie).connect()
    second = await Participant(pair[1], cookie).connect()
    other = await Participant(pair[1], new_participant(pair[1].base)).connect()
    for p in (first, second, other):
        await p.join("general")
    await first.send(type="typing", room="general")
    await other.expect("typing", room="general")
    await asyncio.sleep(0.2)
    assert not [f for f in second.frames if f["type"] == "typing"]
    for p in (first, second, other):
        await p.close()


async def test_resume_with_since_gets_exactly_the_missed_messages(pair: Pair) -> None:
    a, b = await two_people(pair, "families")
    first = await a.say("families", "before the drop", "n0")
    await b.expect("message", id=first["id"])
    await b.close()
    missed = [(await a.say("families", f"missed {i}", f"n{i + 1}"))["id"] for i in range(3)]
    await b.connect(pair[0])  # comes back on the other process
    joined = await b.join("families", since=first["id"])
    assert [m["id"] for m in joined["history"]] == missed
    assert [m["text"] for m in joined["history"]] == ["missed 0", "missed 1", "missed 2"]
    assert not joined["more"] and not joined["reset"]
    live = await a.say("families", "after the resume", "n9")
    await b.expect("message", id=live["id"])
    await a.close()
    await b.close()


@pytest.fixture(scope="module")
def unthrottled(pair: Pair):  # type: ignore[no-untyped-def]
    """A third process on the same Redis and keys, with the rate limit raised (as benches do)."""
    from tests.support import start_server

    env = {k: v for k, v in pair[0].env.items() if k.startswith("PEERLINE_")}
    server = start_server(
        {**env, "PEERLINE_RATE_PER_MINUTE": "100000", "PEERLINE_RATE_BURST": "1000"}
    )
    yield server
    server.stop()


async def test_history_pages_with_more(pair: Pair, unthrottled: ServerProcess) -> None:
    a = await Participant(unthrottled, new_participant(unthrottled.base)).connect()
    room = "early-days"
    await a.join(room)
    first = await a.say(room, "anchor", "anchor-" + secrets.token_hex(4))
    for i in range(205):
        await a.say(room, f"page {i}", f"p{i}-{secrets.token_hex(4)}")
    b = await Participant(pair[1], new_participant(pair[1].base)).connect()
    page = await b.join(room, since=first["id"])
    assert len(page["history"]) == 200 and page["more"]
    assert page["history"][0]["text"] == "page 0"
    rest = await b.join(room, since=page["history"][-1]["id"])
    assert not rest["more"] and [m["text"] for m in rest["history"]] == [
        f"page {i}" for i in range(200, 205)
    ]
    latest = await b.join(room)
    assert len(latest["history"]) == 50 and latest["history"][-1]["text"] == "page 204"
    await a.close()
    await b.close()


async def test_a_retried_nonce_is_stored_once(pair: Pair) -> None:
    a, b = await two_people(pair)
    first = await a.say("general", "only once", "same-nonce")
    await a.close()
    await a.connect(pair[1])
    await a.join("general", since=first["id"])
    again = await a.say("general", "only once", "same-nonce")
    assert again["id"] == first["id"]
    marker = await a.say("general", "marker", "marker-nonce")
    await b.expect("message", id=marker["id"])
    assert [m["id"] for m in b.messages("general")].count(first["id"]) == 1
    await a.close()
    await b.close()


async def test_invite_only_room(pair: Pair) -> None:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    await a.send(type="join", room="officers", since=None, ref="x")
    assert (await a.expect("error", ref="x"))["code"] == "invite_required"
    await a.send(type="join", room="officers", invite="guess", ref="y")
    assert (await a.expect("error", ref="y"))["code"] == "invite_required"
    joined = await a.join("officers", invite="blue-harbor-demo")
    assert joined["name"] == "Officers in recovery"
    await a.close()
    await a.connect(pair[1])  # the invite is remembered with the session, on every process
    await a.join("officers")
    await a.close()


FRAMES_AND_CODES = [
    ("{oops", "bad_json"),
    (json.dumps([1]), "bad_frame"),
    (json.dumps({"type": "say", "room": "general", "text": "hi"}), "bad_frame"),
    (json.dumps({"type": "join", "room": "general", "since": "last-tuesday"}), "bad_frame"),
    (json.dumps({"type": "dance"}), "unknown_type"),
    (json.dumps({"type": "say", "room": "general", "text": "x" * 4001, "nonce": "n"}), "too_long"),
    (json.dumps({"type": "join", "room": "nowhere"}), "no_such_room"),
    (json.dumps({"type": "join", "room": "dm-" + "0" * 32}), "forbidden"),
    (json.dumps({"type": "claim", "ticket": "t1"}), "forbidden"),
    (json.dumps({"type": "join", "room": "officers"}), "invite_required"),
    (json.dumps({"type": "say", "room": "families", "text": "hi", "nonce": "n"}), "not_member"),
    (json.dumps({"type": "typing", "room": "families"}), "not_member"),
    (
        json.dumps({"type": "report", "room": "families", "message": "1-0", "reason": "x"}),
        "not_member",
    ),
    (json.dumps({"type": "feedback", "room": "dm-" + "0" * 32, "rating": 3}), "forbidden"),
    (json.dumps({"type": "ack_alert", "escalation": "e1"}), "forbidden"),
    (json.dumps({"type": "note", "room": "general", "text": "x"}), "forbidden"),
]


@pytest.mark.parametrize(
    ("raw", "code"), FRAMES_AND_CODES, ids=[f"{c}-{i}" for i, (_, c) in enumerate(FRAMES_AND_CODES)]
)
async def test_each_refusal_has_its_code_and_changes_nothing(
    pair: Pair, raw: str, code: str
) -> None:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    await a.join("general")
    assert a.ws is not None
    await a.ws.send(raw)
    error = await a.expect("error")
    assert error["code"] == code and error["detail"]
    # The socket stays open and still works.
    ack = await a.say("general", "still here", secrets.token_hex(6))
    assert ack["id"]
    await a.close()


async def test_rate_limit_bounds_what_is_stored(pair: Pair) -> None:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    await a.join("early-days")
    for i in range(40):
        await a.send(type="say", room="early-days", text=f"flood {i}", nonce=f"f{i}")
    await asyncio.sleep(1.0)
    acks = [f for f in a.frames if f["type"] == "ack"]
    limited = [f for f in a.frames if f.get("code") == "rate_limited"]
    assert 10 <= len(acks) <= 12  # burst 10, plus what refilled at 100/min meanwhile
    assert len(acks) + len(limited) == 40
    await a.close()


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "null",
        "https://evil.example",
        "http://127.0.0.1.evil.example",
        "https://127.0.0.1:{port}",
        "http://127.0.0.1:1",
        "http://localhost:{port}",
    ],
    ids=["missing", "null", "foreign", "look-alike", "other-scheme", "other-port", "other-host"],
)
async def test_upgrade_refused_for_bad_origins(pair: Pair, origin: str | None) -> None:
    server = pair[0]
    cookie = new_participant(server.base)
    headers = {"cookie": cookie}
    if origin is not None:
        headers["origin"] = origin.format(port=server.port)
    with pytest.raises(websockets.InvalidStatus) as caught:
        await websockets.connect(server.ws_url, additional_headers=headers, open_timeout=5)
    assert caught.value.response.status_code == 403


@pytest.mark.parametrize(
    "cookie",
    [None, "__Host-peerline=forged", "__Host-peerline=" + "x" * 300],
    ids=["none", "forged", "oversized"],
)
async def test_upgrade_refused_without_a_valid_session(pair: Pair, cookie: str | None) -> None:
    server = pair[0]
    headers = {"cookie": cookie} if cookie else {}
    with pytest.raises(websockets.InvalidStatus) as caught:
        await websockets.connect(
            server.ws_url,
            origin=server.base,
            additional_headers=headers,  # type: ignore[arg-type]
            open_timeout=5,
        )
    assert caught.value.response.status_code == 403


async def test_token_in_query_string_is_not_accepted(pair: Pair) -> None:
    server = pair[0]
    token = new_participant(server.base).split("=", 1)[1]
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(
            f"{server.ws_url}?token={token}",
            origin=server.base,  # type: ignore[arg-type]
            open_timeout=5,
        )


@pytest.mark.parametrize("size", [65_537, 10 * 1024 * 1024], ids=["64KiB+1", "10MiB"])
async def test_oversize_frames_close_with_1009(pair: Pair, size: int) -> None:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    assert a.ws is not None
    payload = json.dumps({"type": "ping", "pad": "x" * size})
    # The server may close before a 10 MiB send finishes: that is the point.
    with contextlib.suppress(websockets.ConnectionClosed):
        await a.ws.send(payload)
    assert await a.closed(timeout=5) == 1009
    # The process is fine and other people are unaffected.
    b = await Participant(pair[0], new_participant(pair[0].base)).connect()
    await b.join("general")
    await b.close()


async def test_binary_frames_close_with_1003(pair: Pair) -> None:
    a = await Participant(pair[0], new_participant(pair[0].base)).connect()
    assert a.ws is not None
    await a.ws.send(b"\x00\x01binary")
    assert await a.closed() == 1003


async def test_too_many_sockets_for_one_person(pair: Pair) -> None:
    cookie = new_participant(pair[0].base)
    open_ = [await Participant(pair[0], cookie).connect() for _ in range(3)]
    fourth = Participant(pair[0], cookie)
    await fourth.connect()
    assert (await fourth.expect("error"))["code"] == "too_many_sockets"
    assert await fourth.closed() == 4003
    for p in open_:
        await p.close()


async def test_simultaneous_upgrades_cannot_race_past_the_socket_cap(pair: Pair) -> None:
    cookie = new_participant(pair[0].base)
    people = [Participant(pair[0], cookie) for _ in range(20)]
    await asyncio.gather(*(p.connect() for p in people))
    try:
        async with asyncio.timeout(10):
            while sum(p.ws is not None and p.ws.close_code is not None for p in people) < 17:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # room for any socket that should not have closed to close
        still_open = [p for p in people if p.ws is not None and p.ws.close_code is None]
        assert len(still_open) == 3
        assert all(p.ws.close_code == 4003 for p in people if p not in still_open)  # type: ignore[union-attr]
    finally:
        for p in people:
            await p.close()


async def test_a_reconnecting_person_cannot_outrun_the_say_rate(pair: Pair) -> None:
    # Buckets once belonged to a socket: one session stored 200 messages in 0.2 s over 20
    # sockets. The pace is the person's, in Redis, whichever process and socket they use.
    cookie = new_participant(pair[0].base)
    stored = refused = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(20):
        person = await Participant(pair[n % 2], cookie).connect()
        await person.join("general")
        nonces = [secrets.token_hex(8) for _ in range(10)]
        for nonce in nonces:
            await person.send(type="say", room="general", text="again", nonce=nonce, ref=nonce)
        for nonce in nonces:
            answer = await person.answer(nonce)
            if answer["type"] == "ack":
                stored += 1
            else:
                assert answer["code"] == "rate_limited", answer
                refused += 1
        await person.close()
    elapsed = loop.time() - started
    # The default: 100 a minute, 10 at once.
    assert stored <= 10 + elapsed * 100 / 60 + 1, (stored, elapsed)
    assert stored + refused == 200


async def dump_redis(url: str, prefix: str) -> list[bytes]:
    client = aioredis.from_url(url)
    values: list[bytes] = []
    try:
        async for key in client.scan_iter(match=f"{prefix}*"):
            values.append(key)
            kind = (await client.type(key)).decode()
            if kind == "string":
                values.append(await client.get(key))
            elif kind == "hash":
                for k, v in (await client.hgetall(key)).items():
                    values += [k, v]
            elif kind == "list":
                values += await client.lrange(key, 0, -1)
            elif kind == "zset":
                values += await client.zrange(key, 0, -1)
            elif kind == "stream":
                for entry_id, fields in await client.xrange(key):
                    values.append(entry_id)
                    for k, v in fields.items():
                        values += [k, v]
    finally:
        await client.aclose()
    return values


async def test_canary_text_is_nowhere_in_redis_or_logs(
    pair: Pair, redis_server: RedisServer
) -> None:
    canary = "CANARY-" + secrets.token_hex(8)
    a, b = await two_people(pair)
    for i in range(8):  # within the default burst of 10
        ack = await a.say("general", f"{canary} number {i}", f"c{i}")
    await b.expect("message", id=ack["id"])
    await a.send(type="report", room="general", message=ack["id"], reason=f"{canary} report")
    await a.expect("reported")
    prefix = pair[0].env["PEERLINE_REDIS_PREFIX"]
    values = await dump_redis(redis_server.url, prefix)
    assert values, "the dump found nothing: wrong prefix?"
    assert not [v for v in values if v and canary.encode() in v]
    token = a.cookie.split("=", 1)[1]
    pseudonym = a.hello["you"]["name"]
    assert not [v for v in values if v and (token.encode() in v)]
    for server in pair:
        log = server.log_text()
        assert canary not in log and token not in log and pseudonym not in log
        assert "127.0.0.1:" not in log.replace(f"http://127.0.0.1:{server.port}", "")
    await a.close()
    await b.close()


async def test_erase_removes_everything_and_closes_every_socket(
    pair: Pair, redis_server: RedisServer
) -> None:
    canary = "ERASE-" + secrets.token_hex(8)
    a_cookie = new_participant(pair[0].base)
    a1 = await Participant(pair[0], a_cookie).connect()
    a2 = await Participant(pair[1], a_cookie).connect()
    b = await Participant(pair[1], new_participant(pair[1].base)).connect()
    await a1.join("families")
    await b.join("families")
    mine = [(await a1.say("families", f"{canary} {i}", f"e{i}"))["id"] for i in range(3)]
    theirs = await b.say("families", "a reply that stays", "keep")
    await b.expect("message", id=mine[-1])
    status, headers, _ = http_json(
        "DELETE",
        f"{pair[0].base}/api/session",
        headers={"cookie": a_cookie, "origin": pair[0].base},
    )
    assert status == 204 and headers["clear-site-data"] == '"cookies", "storage"'
    assert await a1.closed() == 1008
    assert await a2.closed() == 1008
    erased = await b.expect("erased", room="families")
    assert erased["ids"] == mine
    c = await Participant(pair[0], new_participant(pair[0].base)).connect()
    history = (await c.join("families"))["history"]
    assert theirs["id"] in [m["id"] for m in history]
    assert not set(mine) & {m["id"] for m in history}
    status, _, _ = http_json("GET", f"{pair[0].base}/api/session", headers={"cookie": a_cookie})
    assert status == 401
    with pytest.raises(websockets.InvalidStatus):
        await Participant(pair[0], a_cookie).connect()
    prefix = pair[0].env["PEERLINE_REDIS_PREFIX"]
    dumped = b"\n".join(v for v in await dump_redis(redis_server.url, prefix) if v)
    for message_id in mine:
        assert message_id.encode() not in dumped
    await b.close()
    await c.close()


async def test_quick_exit_ends_the_session_everywhere_and_keeps_messages(pair: Pair) -> None:
    cookie = new_participant(pair[0].base)
    a1 = await Participant(pair[0], cookie).connect()
    a2 = await Participant(pair[1], cookie).connect()
    await a1.join("early-days")
    kept = await a1.say("early-days", "this stays", "qe-1")
    status, _, _ = http_json(
        "POST",
        f"{pair[0].base}/api/session/end",
        headers={"cookie": cookie, "origin": "https://evil.example"},
    )
    assert status == 403
    status, headers, _ = http_json(
        "POST",
        f"{pair[0].base}/api/session/end",
        headers={"cookie": cookie, "origin": pair[0].base},
    )
    assert status == 204 and "cookies" in headers["clear-site-data"]
    assert await a1.closed() == 1008 and await a2.closed() == 1008
    status, _, _ = http_json("GET", f"{pair[1].base}/api/session", headers={"cookie": cookie})
    assert status == 401
    other = await Participant(pair[1], new_participant(pair[1].base)).connect()
    history = (await other.join("early-days"))["history"]
    assert kept["id"] in [m["id"] for m in history]
    await other.close()


async def test_readyz_and_metrics(pair: Pair) -> None:
    status, _, body = http_json("GET", f"{pair[0].base}/readyz")
    assert status == 200 and body == {"status": "ready"}


def test_the_new_session_limit_counts_across_processes(redis_server: RedisServer) -> None:
    env = redis_env(redis_server, PEERLINE_SESSIONS_PER_ADDRESS_PER_HOUR="3")
    servers = [start_server(env), start_server(env)]
    try:
        statuses = []
        for i in range(6):  # one address, alternating between the two processes
            base = servers[i % 2].base
            _, _, info = http_json("GET", f"{base}/api/info")
            assert isinstance(info, dict)
            body = {"consent_version": info["consent"]["version"], "accept": True}
            status, _, _ = http_json("POST", f"{base}/api/session", body, {"origin": base})
            statuses.append(status)
        assert statuses == [201, 201, 201, 429, 429, 429]  # per process it would be 6 x 201
    finally:
        for server in servers:
            server.stop()


def test_a_half_sent_request_is_cut_off_at_the_read_deadline() -> None:
    import socket
    import time

    from tests.support import running_server

    env = {"PEERLINE_COOKIE_SECURE": "false", "PEERLINE_READ_DEADLINE_SECONDS": "1"}
    with running_server(env) as server:
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Len")  # and stops
        body = socket.create_connection(("127.0.0.1", server.port))
        body.sendall(b'POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a"')
        started = time.monotonic()
        for sock in (slow, body):
            sock.settimeout(5)
            data = sock.recv(1024)
            while data:  # whatever the server said, it then closed the connection
                data = sock.recv(1024)
            sock.close()
        assert time.monotonic() - started < 4

        async def socket_outlives_the_deadline() -> None:
            person = await Participant(server, new_participant(server.base)).connect()
            await asyncio.sleep(1.5)  # past the 1 s deadline: only requests must be quick
            await person.send(type="ping", ref="still-here")
            assert (await person.expect("pong"))["ref"] == "still-here"
            await person.close()

        asyncio.run(socket_outlives_the_deadline())


def test_upgrades_are_limited_per_address_and_per_session_across_processes(
    redis_server: RedisServer,
) -> None:
    env = redis_env(redis_server, PEERLINE_UPGRADES_PER_ADDRESS_PER_MINUTE="40")
    servers = [start_server(env), start_server(env)]

    async def upgrade(server: ServerProcess, cookie: str) -> int:
        """101 and a hello, or the HTTP status the upgrade got."""
        try:
            async with websockets.connect(
                server.ws_url, origin=server.base, additional_headers={"cookie": cookie}
            ) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                return 101
        except websockets.InvalidStatus as refused:
            assert refused.response.status_code == 429
            assert json.loads(refused.response.body)["error"] == "rate_limited"
            assert refused.response.headers["Retry-After"] == "60"
            return 429

    async def run() -> None:
        # One session reconnecting on both processes: 30 a minute, then refused.
        cookie = new_participant(servers[0].base)
        per_session = [await upgrade(servers[n % 2], cookie) for n in range(32)]
        assert per_session == [101] * 30 + [429] * 2
        # Other sessions from the same address: the address's 40 a minute, counted across
        # both processes (32 above, 8 more here), then refused for everyone there.
        others = [new_participant(servers[0].base) for _ in range(10)]
        per_address = [await upgrade(servers[n % 2], c) for n, c in enumerate(others)]
        assert per_address == [101] * 8 + [429] * 2

    try:
        asyncio.run(run())
    finally:
        for server in servers:
            server.stop()
