"""The load generator: participants in rooms, spread over server processes and worker processes.

Shape of a run (every phase has a deadline; nothing waits forever):

1. setup: each worker process creates its participants' sessions over HTTP (from loopback
   source addresses 127.0.0.N, at most `per_source` sessions each, because session creation
   is limited per client address), opens their WebSockets, joins their rooms and says ready;
2. start: when every worker is ready, the parent picks a wall-clock start a little ahead and
   hands it to all workers, so every participant in every worker starts together;
3. warmup, then the measured window: each participant sends `say` frames at `rate` a second
   (Poisson or fixed interval, random phase); a frame's text carries its sender, sequence,
   whether it is measured, and `time.time_ns()` taken just before the send;
4. drain: after the last send, workers wait until their own sends are acked and no message
   arrived for `quiet` seconds (at most `drain` seconds), then close their sockets and send
   their counts back; the parent adds them up.

Latency is receive time minus send time (`time.time_ns()` is the same clock in every process
of the machine). Loss counts only measured messages the server acked: each must reach every
member of its room (all members joined before the start), the sender included.

Participant i is member i // R of room i % R, and member m of room r uses server (r + m) % S:
every room has the size the scenario declares (participants / R) on any number of servers S,
its members sit on consecutive servers (so a room of two on two or more processes always
crosses processes through Redis), and the servers get equal shares.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import queue
import random
import sys
import time
import traceback
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # `python bench/load.py`: make `bench` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import procs
from bench.stats import add_counts, samples_from, summarize_ns

COOKIE = "__Host-peerline"
FILLER = "one day at a time, and today was a good one. thanks for listening, everyone. "
LEAD_SECONDS = 1.0  # the start is announced this far ahead, so every worker hears it in time
LAG_PROBE_SECONDS = 0.02


class LoadError(RuntimeError):
    """The load could not run as asked (a worker failed, a phase timed out)."""


@dataclass(frozen=True)
class LoadSpec:
    servers: tuple[str, ...]  # WebSocket URLs, ws://host:port/ws
    participants: int = 200
    rooms: tuple[str, ...] = ("general", "early-days", "families")
    rate: float = 1.0  # messages a second per participant
    duration: float = 30.0  # the measured window, seconds
    warmup: float = 5.0  # seconds of load before the window opens (not counted)
    workers: int = 2  # load-generator processes
    arrival: str = "poisson"  # "poisson" or "fixed" (fixed interval, random phase)
    text_size: int = 80  # characters per chat text (padded)
    quiet: float = 2.0  # drain ends this long after the last message arrived...
    drain: float = 15.0  # ...or after this many seconds, whichever is first
    setup_timeout: float = 90.0  # sessions + sockets + joins, per worker
    first_source: int = 2  # sessions are created from 127.0.0.<first_source>, ...
    per_source: int = 25  # ...this many per source address (server limit: 30/h/process)
    connect_concurrency: int = 32
    uvloop: bool = True
    seed: int = 1
    client: str = "peerline"  # a key of CLIENTS: the servers' protocol
    idle: bool = False  # hold the sockets through the window without sending (heartbeats only)

    def validate(self) -> None:
        if not self.servers:
            raise ValueError("at least one server URL is needed")
        for url in self.servers:
            if urlsplit(url).scheme not in ("ws", "wss"):
                raise ValueError(f"server URL must be ws:// or wss://, got {url!r}")
        if self.participants < 1 or not self.rooms or self.workers < 1:
            raise ValueError("participants, rooms and workers must be at least 1")
        if self.workers > self.participants:
            raise ValueError("more generator workers than participants")
        if self.per_source < 1:
            raise ValueError("per_source must be at least 1")
        if self.rate <= 0 or self.duration <= 0 or self.warmup < 0:
            raise ValueError("rate and duration must be > 0, warmup >= 0")
        if self.client not in CLIENTS and self.client not in PEER_CLIENTS:
            known = sorted([*CLIENTS, *PEER_CLIENTS])
            raise ValueError(f"unknown client {self.client!r}; known: {known}")
        if self.arrival not in ("poisson", "fixed"):
            raise ValueError("arrival must be 'poisson' or 'fixed'")
        last = self.first_source + (self.participants - 1) // self.per_source
        if self.first_source < 1 or last > 254:
            raise ValueError(f"source addresses 127.0.0.{self.first_source}..{last} do not fit")

    # The plan: who is where. Pure, so every worker and the parent agree.
    def server_of(self, i: int) -> int:
        rooms = len(self.rooms)
        return (i % rooms + i // rooms) % len(self.servers)

    def room_of(self, i: int) -> int:
        # Independent of the server count: "pairs" stays rooms of two on 8 processes (it
        # once became rooms of 8, which measured fan-out, not scaling).
        return i % len(self.rooms)

    def source_of(self, i: int) -> str:
        return f"127.0.0.{self.first_source + i // self.per_source}"

    def members(self) -> list[int]:
        counts = [0] * len(self.rooms)
        for i in range(self.participants):
            counts[self.room_of(i)] += 1
        return counts

    def members_by_server(self) -> list[list[int]]:
        """[room][server] -> members of that room on that server."""
        counts = [[0] * len(self.servers) for _ in self.rooms]
        for i in range(self.participants):
            counts[self.room_of(i)][self.server_of(i)] += 1
        return counts

    def worker_ids(self, w: int) -> range:
        """Contiguous blocks, so each worker holds a mix of servers and rooms."""
        n, k = self.participants, self.workers
        return range(w * n // k, (w + 1) * n // k)


def http_base(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


def _key(sender: int, seq: int) -> int:
    return (sender << 32) | seq


# ---- how a participant talks to the server -----------------------------------------------


class ChatClient:
    """One kind of chat server's client protocol, as the load generator needs it.

    The generator only needs: credentials made before the event loop starts (blocking),
    a socket that is connected and joined to its room, the frame that says something, and a
    parse of incoming frames into (kind, a, b):
    ("message", text, position or None), ("ack", nonce, None), ("error", code, None) or
    ("other", None, None). `position` is the server's order of the message in its room
    (Peerline's stream id); servers without one return None and skip the order check.
    A client may also return ("reply", frame, None) for a frame the server wants answered
    (socket.io's application-level ping); the participant sends `frame` back.

    Servers that do not acknowledge (the minimal peers) set `acks = False`: a send counts as
    acked once written to the socket, so loss still counts every message sent.
    """

    acks = True

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec

    def prepare(self, ids: range) -> dict[int, Any]:
        return {i: None for i in ids}

    async def open(self, i: int, url: str, room: str, credentials: Any) -> Any:
        raise NotImplementedError

    def say(self, room: str, text: str, nonce: str) -> str:
        raise NotImplementedError

    def parse(self, raw: str | bytes) -> tuple[str, Any, Any]:
        raise NotImplementedError


def _http(base: str, source: str | None = None) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(
        parts.hostname or "127.0.0.1",
        parts.port,
        timeout=10,
        source_address=(source, 0) if source else None,
    )


class PeerlineClient(ChatClient):
    """PROTOCOL.md: consent, a session cookie, `/ws`, `join`, `say` -> `ack` + `message`."""

    def prepare(self, ids: range) -> dict[int, Any]:
        """Sessions over HTTP, one keep-alive connection per (source address, server)."""
        consent = [self._consent(url) for url in self.spec.servers]
        conns: dict[tuple[str, int], http.client.HTTPConnection] = {}
        try:
            return {i: self._session(i, consent, conns) for i in ids}
        finally:
            for conn in conns.values():
                conn.close()

    def _consent(self, url: str) -> str:
        conn = _http(http_base(url))
        try:
            conn.request("GET", "/api/info")
            data = json.loads(conn.getresponse().read())
        finally:
            conn.close()
        return str(data["consent"]["version"])

    def _session(
        self, i: int, consent: list[str], conns: dict[tuple[str, int], http.client.HTTPConnection]
    ) -> str:
        spec = self.spec
        server, source = spec.server_of(i), spec.source_of(i)
        base = http_base(spec.servers[server])
        body = json.dumps({"consent_version": consent[server], "accept": True})
        headers = {"Origin": base, "Content-Type": "application/json"}
        for attempt in range(2):  # one retry on a dropped keep-alive connection
            conn = conns.get((source, server)) or conns.setdefault(
                (source, server), _http(base, source)
            )
            try:
                conn.request("POST", "/api/session", body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                conns.pop((source, server)).close()
                if attempt:
                    raise
                continue
            if response.status != 201:
                raise LoadError(
                    f"POST /api/session for participant {i} from {source}: "
                    f"{response.status} {payload[:200]!r}"
                )
            for name, value in response.getheaders():
                if name.lower() == "set-cookie" and value.startswith(COOKIE + "="):
                    return value.split(";", 1)[0]
            raise LoadError("the session response set no participant cookie")
        raise LoadError("unreachable")

    async def open(self, i: int, url: str, room: str, credentials: Any) -> Any:
        from websockets.asyncio.client import connect

        ws = await connect(
            url,
            origin=http_base(url),  # type: ignore[arg-type]
            additional_headers=[("Cookie", credentials)],
            compression=None,
            proxy=None,
            open_timeout=self.spec.setup_timeout,
            ping_interval=None,  # the server pings; the client library answers
            close_timeout=2,
            max_queue=4096,  # never let the client library push back on the server
        )
        try:
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise LoadError(f"first frame was not hello: {hello}")
            await ws.send(json.dumps({"type": "join", "room": room, "since": None}))
            for _ in range(1000):  # presence frames may come first
                frame = json.loads(await ws.recv())
                if frame.get("type") == "joined":
                    return ws
                if frame.get("type") == "error":
                    raise LoadError(f"join {room} refused: {frame}")
            raise LoadError(f"no joined frame for {room}")
        except BaseException:
            await ws.close()
            raise

    def say(self, room: str, text: str, nonce: str) -> str:
        return json.dumps({"type": "say", "room": room, "text": text, "nonce": nonce})

    def parse(self, raw: str | bytes) -> tuple[str, Any, Any]:
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "message":
            ms, _, seq = frame.get("id", "0-0").partition("-")
            return "message", frame.get("text", ""), (int(ms), int(seq or 0))
        if kind == "ack":
            return "ack", frame.get("nonce", ""), None
        if kind == "error":
            return "error", str(frame.get("code")), None
        return "other", None, None  # presence, typing, notices


CLIENTS: dict[str, type[ChatClient]] = {"peerline": PeerlineClient}
PEER_CLIENTS = ("socketio", "broadcaster")  # in bench/peer_clients.py (needs the bench extra)


def client_class(name: str) -> type[ChatClient]:
    """The client for a kind of server; peers' clients load only when asked for."""
    if name not in CLIENTS and name in PEER_CLIENTS:
        from bench import peer_clients

        CLIENTS.update(peer_clients.CLIENTS)
    return CLIENTS[name]


# ---- one worker process -------------------------------------------------------------------


@dataclass
class _Tally:
    """What one worker counts. Keys are (sender << 32 | seq)."""

    sent_measured: int = 0
    sent_warmup: int = 0
    send_failures: int = 0
    acked: array[int] = field(default_factory=lambda: array("q"))  # measured and acked
    # (key, receiving server) -> receivers in this worker that got it (each at most once)
    receipts: Counter[tuple[int, int]] = field(default_factory=Counter)
    deliveries_warmup: int = 0
    duplicates: int = 0
    reordered: int = 0  # a sender's messages arriving out of their sending order
    id_regressions: int = 0  # message ids not increasing on one socket in one room
    foreign: int = 0  # message frames not written by this run (e.g. history)
    latency_same: array[int] = field(default_factory=lambda: array("q"))
    latency_cross: array[int] = field(default_factory=lambda: array("q"))
    ack_latency: array[int] = field(default_factory=lambda: array("q"))
    schedule_lag: array[int] = field(default_factory=lambda: array("q"))
    loop_lag: array[int] = field(default_factory=lambda: array("q"))
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    pending: dict[str, tuple[int, int, bool]] = field(default_factory=dict)
    last_message: float = 0.0


class _Participant:
    def __init__(
        self, spec: LoadSpec, client: ChatClient, i: int, credentials: Any, tally: _Tally
    ) -> None:
        self.i = i
        self.client = client
        self.server = spec.server_of(i)
        self.room = spec.rooms[spec.room_of(i)]
        self.url = spec.servers[self.server]
        self.credentials = credentials
        self.tally = tally
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.closing = False
        self.seen: set[int] = set()
        self.last_seq: dict[int, int] = {}
        self.last_position: tuple[int, int] = (0, 0)
        self.n_servers = len(spec.servers)
        self.replies: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self.ws = await self.client.open(self.i, self.url, self.room, self.credentials)
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        on_frame = self._on_frame
        try:
            async for raw in self.ws:
                on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            if not self.closing:
                self.tally.closes[str(self.ws.close_code)] += 1

    def _on_frame(self, raw: str | bytes) -> None:
        now = time.time_ns()
        kind, a, b = self.client.parse(raw)
        tally = self.tally
        if kind == "message":
            tally.last_message = time.monotonic()
            if b is not None:
                if b <= self.last_position:
                    tally.id_regressions += 1
                else:
                    self.last_position = b
            parts = a.split(":", 5)
            if len(parts) < 5 or parts[0] != "b":
                tally.foreign += 1
                return
            sender, seq, sent_ns = int(parts[2]), int(parts[3]), int(parts[4])
            if parts[1] != "m":
                tally.deliveries_warmup += 1
                return
            key = _key(sender, seq)
            if key in self.seen:
                tally.duplicates += 1
                return
            self.seen.add(key)
            if seq < self.last_seq.get(sender, -1):
                tally.reordered += 1
            else:
                self.last_seq[sender] = seq
            tally.receipts[(key, self.server)] += 1
            same = sender % self.n_servers == self.server
            (tally.latency_same if same else tally.latency_cross).append(now - sent_ns)
        elif kind == "ack":
            sent = tally.pending.pop(a, None)
            if sent is not None:
                sent_ns, key, measured = sent
                if measured:
                    tally.ack_latency.append(now - sent_ns)
                    tally.acked.append(key)
        elif kind == "error":
            tally.errors[a] += 1
        elif kind == "reply":
            task = asyncio.get_running_loop().create_task(self.ws.send(a))
            self.replies.add(task)
            task.add_done_callback(self.replies.discard)

    async def send_loop(
        self, spec: LoadSpec, rng: random.Random, start: float, measure: float, end: float
    ) -> None:
        from websockets.exceptions import ConnectionClosed

        loop = asyncio.get_running_loop()
        tally = self.tally
        interval: Callable[[], float]
        if spec.arrival == "poisson":
            interval = lambda: rng.expovariate(spec.rate)  # noqa: E731
        else:
            interval = lambda: 1.0 / spec.rate  # noqa: E731
        due = start + rng.uniform(0, 1.0 / spec.rate)
        seq = 0
        most = int(spec.rate * (end - start) * 10) + 100  # a count bound besides the time bound
        while due < end and seq < most:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.schedule_lag.append(int(max(0.0, loop.time() - due) * 1e9))
            measured = due >= measure
            sent_ns = time.time_ns()
            head = f"b:{'m' if measured else 'w'}:{self.i}:{seq}:{sent_ns}:"
            text = head + FILLER * (1 + spec.text_size // len(FILLER))
            text = text[: max(len(head), spec.text_size)]
            nonce = f"{self.i}.{seq}"
            tally.pending[nonce] = (sent_ns, _key(self.i, seq), measured)
            try:
                await self.ws.send(self.client.say(self.room, text, nonce))
            except ConnectionClosed:
                tally.pending.pop(nonce, None)
                tally.send_failures += 1
                return
            if measured:
                tally.sent_measured += 1
            else:
                tally.sent_warmup += 1
            if not self.client.acks and tally.pending.pop(nonce, None) is not None and measured:
                tally.acked.append(_key(self.i, seq))
            seq += 1
            due += interval()

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


async def _probe_loop_lag(tally: _Tally, until: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        before = loop.time()
        await asyncio.sleep(LAG_PROBE_SECONDS)
        tally.loop_lag.append(int(max(0.0, loop.time() - before - LAG_PROBE_SECONDS) * 1e9))


async def _worker(
    spec: LoadSpec,
    client: ChatClient,
    index: int,
    credentials: dict[int, Any],
    start_q: Any,
    result_q: Any,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tally = _Tally()
    people = [_Participant(spec, client, i, credentials[i], tally) for i in spec.worker_ids(index)]
    gate = asyncio.Semaphore(spec.connect_concurrency)

    async def open_one(p: _Participant) -> None:
        async with gate:
            await p.open()

    setup_began = time.monotonic()
    try:
        async with asyncio.timeout(spec.setup_timeout):
            await asyncio.gather(*(open_one(p) for p in people))
        result_q.put(("ready", index, time.monotonic() - setup_began))
        start_ns = await loop.run_in_executor(
            None, lambda: start_q.get(timeout=spec.setup_timeout + 30)
        )
        if start_ns is None:
            raise LoadError("aborted by the parent before the start")
        # Wall clock -> this loop's clock, once: every deadline below is on loop.time().
        to_loop = loop.time() - time.time_ns() / 1e9
        start = start_ns / 1e9 + to_loop
        measure = start + spec.warmup
        end = measure + spec.duration
        probe = loop.create_task(_probe_loop_lag(tally, end + spec.drain))
        rng = random.Random(spec.seed * 1_000_003 + index)
        senders = [
            loop.create_task(
                p.send_loop(spec, random.Random(rng.getrandbits(64)), start, measure, end)
            )
            for p in people
            if not spec.idle
        ]
        if spec.idle:
            await asyncio.sleep(max(0.0, end - loop.time()))
        async with asyncio.timeout(end - loop.time() + 10):
            await asyncio.gather(*senders)
        # Drain: own sends acked and nothing arriving for `quiet` seconds, at most `drain`.
        deadline = loop.time() + spec.drain
        tally.last_message = max(tally.last_message, time.monotonic())
        while loop.time() < deadline:
            if not tally.pending and time.monotonic() - tally.last_message >= spec.quiet:
                break
            await asyncio.sleep(0.05)
        drained = loop.time() - (deadline - spec.drain)
        probe.cancel()
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await asyncio.gather(*(p.close() for p in people))
    unacked = sum(1 for _, _, measured in tally.pending.values() if measured)
    return {
        "worker": index,
        "participants": len(people),
        "setup_seconds": round(time.monotonic() - setup_began, 3),
        "drain_seconds": round(drained, 3),
        "sent_measured": tally.sent_measured,
        "sent_warmup": tally.sent_warmup,
        "send_failures": tally.send_failures,
        "unacked_measured": unacked,
        "acked": tally.acked.tobytes(),
        "receipts": dict(tally.receipts),
        "deliveries_warmup": tally.deliveries_warmup,
        "duplicates": tally.duplicates,
        "reordered": tally.reordered,
        "id_regressions": tally.id_regressions,
        "foreign": tally.foreign,
        "latency_same": tally.latency_same.tobytes(),
        "latency_cross": tally.latency_cross.tobytes(),
        "ack_latency": tally.ack_latency.tobytes(),
        "schedule_lag": tally.schedule_lag.tobytes(),
        "loop_lag": tally.loop_lag.tobytes(),
        "errors": dict(tally.errors),
        "closes": dict(tally.closes),
    }


def _worker_main(spec: LoadSpec, index: int, start_q: Any, result_q: Any) -> None:
    procs.die_with_parent()  # a runner killed with SIGKILL takes its workers along
    try:
        client = client_class(spec.client)(spec)
        credentials = client.prepare(spec.worker_ids(index))
        factory = None
        if spec.uvloop:
            with contextlib.suppress(ImportError):
                import uvloop

                factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            result = runner.run(_worker(spec, client, index, credentials, start_q, result_q))
        result_q.put(("result", index, result))
    except BaseException:
        result_q.put(("failed", index, traceback.format_exc()))


# ---- the parent ---------------------------------------------------------------------------


class Observer:
    """Hooks the runner uses to sample the machine at the edges of the measured window."""

    def workers_started(self, pids: list[int]) -> None: ...

    def window_opened(self) -> None: ...

    def window_closed(self) -> None: ...


def _sleep_until_ns(wall_ns: int) -> None:
    while True:
        left = (wall_ns - time.time_ns()) / 1e9
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def run_load(spec: LoadSpec, observer: Observer | None = None) -> dict[str, Any]:
    """Runs the whole load and returns the aggregated results (see `aggregate`)."""
    spec.validate()
    observer = observer or Observer()
    ctx = multiprocessing.get_context("spawn")
    result_q = ctx.Queue()
    start_qs = [ctx.Queue() for _ in range(spec.workers)]
    workers = [
        ctx.Process(
            target=_worker_main,
            args=(spec, w, start_qs[w], result_q),
            name=f"bench-load-{w}",
            daemon=True,
        )
        for w in range(spec.workers)
    ]
    results: dict[int, dict[str, Any]] = {}
    started = False
    cpu: dict[str, list[float | None]] = {}
    timing: dict[str, float] = {}
    try:
        began = time.monotonic()
        for proc in workers:
            proc.start()
        pids = [p.pid for p in workers if p.pid is not None]
        observer.workers_started(pids)
        _collect(
            result_q,
            spec.workers,
            "ready",
            time.monotonic() + spec.setup_timeout + 30,
            "workers to get ready",
            "during setup",
        )
        timing["setup_seconds"] = round(time.monotonic() - began, 3)
        start_ns = time.time_ns() + int(LEAD_SECONDS * 1e9)
        for q in start_qs:
            q.put(start_ns)
        started = True
        measure_ns = start_ns + int(spec.warmup * 1e9)
        end_ns = measure_ns + int(spec.duration * 1e9)
        _sleep_until_ns(measure_ns)
        cpu["before"] = [procs.cpu_seconds(pid) for pid in pids]
        observer.window_opened()
        _sleep_until_ns(end_ns)
        cpu["after"] = [procs.cpu_seconds(pid) for pid in pids]
        observer.window_closed()
        results.update(
            _collect(
                result_q,
                spec.workers,
                "result",
                time.monotonic() + spec.drain + 60,
                "workers to report",
                "",
            )
        )
    finally:
        if not started:
            for q in start_qs:
                with contextlib.suppress(Exception):
                    q.put(None)
        finished = len(results) == spec.workers
        for proc in workers:
            if not finished:  # an error or a signal: do not wait for their deadlines
                proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    worker_cpu = [
        None if b is None or a is None else round(a - b, 3)
        for b, a in zip(cpu.get("before", []), cpu.get("after", []), strict=False)
    ]
    out = aggregate(spec, [results[w] for w in sorted(results)])
    out["generator"]["cpu_seconds_in_window"] = worker_cpu
    out["generator"]["cpu_percent_of_core"] = [
        None if c is None else round(100 * c / spec.duration, 1) for c in worker_cpu
    ]
    out["generator"]["setup_seconds"] = timing.get("setup_seconds")
    return out


def _get(q: Any, deadline: float, what: str) -> tuple[str, int, Any]:
    left = deadline - time.monotonic()
    if left <= 0:
        raise LoadError(f"timed out waiting for {what}")
    try:
        item: tuple[str, int, Any] = q.get(timeout=left)
    except queue.Empty:
        raise LoadError(f"timed out waiting for {what}") from None
    return item


def _collect(
    result_q: Any, workers: int, want: str, deadline: float, waiting_for: str, phase: str
) -> dict[int, Any]:
    """One `want` message from every worker; a worker's `failed` message ends the run."""
    got: dict[int, Any] = {}
    while len(got) < workers:
        kind, w, payload = _get(result_q, deadline, waiting_for)
        if kind == "failed":
            raise LoadError(f"worker {w} failed{' ' + phase if phase else ''}:\n{payload}")
        if kind == want:
            got[w] = payload
    return got


def aggregate(spec: LoadSpec, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Adds up the workers' counts into the numbers of the report."""
    members = spec.members()
    by_server = spec.members_by_server()
    n_servers = len(spec.servers)
    acked: set[int] = set()
    for part in parts:
        acked.update(samples_from([part["acked"]]))
    receipts: Counter[tuple[int, int]] = Counter()
    for part in parts:
        receipts.update(part["receipts"])

    expected = received = lost_messages = 0
    lost_same = lost_cross = 0
    lost_by_room: Counter[str] = Counter()
    for key in acked:
        sender = key >> 32
        room = spec.room_of(sender)
        expected += members[room]
        missing_here = 0
        for server in range(n_servers):
            want = by_server[room][server]
            got = min(receipts.get((key, server), 0), want)
            received += got
            if got < want:
                missing_here += want - got
                if server == spec.server_of(sender):
                    lost_same += want - got
                else:
                    lost_cross += want - got
        if missing_here:
            lost_messages += 1
            lost_by_room[spec.rooms[room]] += missing_here
    delivered_unacked = sum(n for (key, _), n in receipts.items() if key not in acked)

    counts: dict[str, int] = {}
    for part in parts:
        add_counts(
            counts,
            {
                k: part[k]
                for k in (
                    "sent_measured",
                    "sent_warmup",
                    "send_failures",
                    "unacked_measured",
                    "deliveries_warmup",
                    "duplicates",
                    "reordered",
                    "id_regressions",
                    "foreign",
                )
            },
        )
    errors: dict[str, int] = {}
    closes: dict[str, int] = {}
    for part in parts:
        add_counts(errors, part["errors"])
        add_counts(closes, part["closes"])

    same = samples_from(p["latency_same"] for p in parts)
    cross = samples_from(p["latency_cross"] for p in parts)
    lost = expected - received
    return {
        "spec": {**asdict(spec), "members_per_room": members},
        "offered_msgs_per_s": round(counts["sent_measured"] / spec.duration, 2),
        "acked_msgs_per_s": round(len(acked) / spec.duration, 2),
        "delivered_per_s": round(received / spec.duration, 1),
        "messages_sent": counts["sent_measured"],
        "messages_acked": len(acked),
        "messages_unacked": counts["unacked_measured"],
        "send_failures": counts["send_failures"],
        "expected_deliveries": expected,
        "delivered": received,
        "lost": lost,
        "loss_ratio": round(lost / expected, 6) if expected else None,
        "messages_with_loss": lost_messages,
        "lost_same_process": lost_same,
        "lost_cross_process": lost_cross,
        "lost_by_room": dict(lost_by_room),
        "delivered_unacked": delivered_unacked,
        "duplicates": counts["duplicates"],
        "reordered": counts["reordered"],
        "id_regressions": counts["id_regressions"],
        "foreign_messages": counts["foreign"],
        "warmup": {
            "messages_sent": counts["sent_warmup"],
            "deliveries": counts["deliveries_warmup"],
        },
        "latency": summarize_ns(list(same) + list(cross)),
        "latency_same_process": summarize_ns(same),
        "latency_cross_process": summarize_ns(cross),
        "ack_latency": summarize_ns(samples_from(p["ack_latency"] for p in parts)),
        "errors": errors,
        "unexpected_closes": closes,
        "generator": {
            "workers": len(parts),
            "schedule_lag": summarize_ns(samples_from(p["schedule_lag"] for p in parts)),
            "loop_lag": summarize_ns(samples_from(p["loop_lag"] for p in parts)),
            "drain_seconds": [p["drain_seconds"] for p in parts],
        },
    }


# ---- standalone use against servers you already run ---------------------------------------


def spec_arguments(parser: argparse.ArgumentParser) -> None:
    """The load's options, shared with bench/run.py."""
    d = LoadSpec(servers=())
    parser.add_argument("--participants", type=int, default=d.participants)
    parser.add_argument(
        "--rate",
        type=float,
        default=d.rate,
        help="messages a second per participant (default %(default)s)",
    )
    parser.add_argument(
        "--duration", type=float, default=d.duration, help="measured seconds (default %(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=d.warmup,
        help="seconds of load before measuring (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        help="load-generator processes (default %(default)s)",
    )
    parser.add_argument("--arrival", choices=("poisson", "fixed"), default=d.arrival)
    parser.add_argument("--text-size", type=int, default=d.text_size)
    parser.add_argument("--drain", type=float, default=d.drain)
    parser.add_argument("--quiet", type=float, default=d.quiet)
    parser.add_argument(
        "--first-source",
        type=int,
        default=d.first_source,
        help="first loopback source address 127.0.0.N for sessions",
    )
    parser.add_argument("--per-source", type=int, default=d.per_source)
    parser.add_argument("--no-uvloop", dest="uvloop", action="store_false")
    parser.add_argument("--seed", type=int, default=d.seed)


def spec_from(args: argparse.Namespace, servers: list[str], rooms: list[str]) -> LoadSpec:
    return LoadSpec(
        servers=tuple(servers),
        participants=args.participants,
        rooms=tuple(rooms),
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        workers=args.workers,
        arrival=args.arrival,
        text_size=args.text_size,
        drain=args.drain,
        quiet=args.quiet,
        first_source=args.first_source,
        per_source=args.per_source,
        uvloop=args.uvloop,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Drive running Peerline servers (bench/run.py starts them for you)."
    )
    parser.add_argument(
        "--server",
        action="append",
        required=True,
        help="ws://host:port/ws; repeat for several processes",
    )
    parser.add_argument(
        "--rooms", default="general,early-days,families", help="comma-separated open room ids"
    )
    spec_arguments(parser)
    args = parser.parse_args(argv)
    spec = spec_from(args, args.server, [r for r in args.rooms.split(",") if r])
    result = run_load(spec)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
