"""The backend server: an asyncio shell over the world, speaking bridge/PROTOCOL.md.

A ROUTER socket answers requests; a PUB socket carries the state stream. Every request is
decoded and bounded by ``codec``, answered by one handler, and every failure becomes an error
reply: a bad client never stops the server or disturbs other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import zmq
import zmq.asyncio

from continuum import __version__
from continuum.errors import ContinuumError, ProtocolError
from continuum.server.codec import Message, decode_message, encode_message, request_id
from continuum.server.protocol import PROTOCOL_MAJOR, PROTOCOL_VERSION, Limits, parse_version
from continuum.server.session import Session, SessionTable
from continuum.world import Scene

log = logging.getLogger("continuum.server")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STREAM_TOPICS = ("tick",)
_FILL_PATTERN = np.arange(251, dtype=np.uint8)


@dataclass
class ServerConfig:
    """How the server binds and paces itself.

    Attributes:
        bind: address to bind; anything but loopback requires ``token``.
        port: ROUTER port; 0 picks a free one (see ``Server.port``).
        pub_port: PUB port; None means ``port + 1`` (or a free one when ``port`` is 0).
        tick_hz: rate of the ``tick`` stream.
        token: access token that ``hello`` must carry; None for none.
        limits: message bounds (PROTOCOL.md section 7).
        session_idle_s: a session with no request for this long is forgotten.
        handshake_ms: time a connection has to finish the ZMTP greeting.
        heartbeat_ms: ZMTP PING interval; a peer silent for 3x this is dropped.
    """

    bind: str = "127.0.0.1"
    port: int = 5570
    pub_port: int | None = None
    tick_hz: float = 30.0
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    session_idle_s: float = 60.0
    handshake_ms: int = 5000
    heartbeat_ms: int = 2000

    def validate(self) -> None:
        if self.bind not in LOOPBACK and not self.token:
            raise ContinuumError(
                f"binding {self.bind} exposes the backend beyond this machine: "
                "give an access token (--token or CONTINUUM_TOKEN), or bind 127.0.0.1"
            )
        if not 0 < self.tick_hz <= 1000:
            raise ContinuumError(f"tick_hz must be in (0, 1000], got {self.tick_hz}")
        for name in ("port", "pub_port"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 65535:
                raise ContinuumError(f"{name} must be in 0..65535, got {value}")


Handler = Callable[[Session, Message], Message]


class Server:
    """The Continuum backend server. Use ``async with Server(...)`` or ``serve_in_thread``.

    Binding happens in ``start()``; ``port`` and ``pub_port`` then hold the real ports.
    """

    def __init__(self, config: ServerConfig, scene: Scene | None = None) -> None:
        config.validate()
        self.config = config
        self.scene = scene
        self.limits = config.limits
        self.port = config.port
        self.pub_port = config.pub_port
        self.tick_seq = 0
        self.stats = {"requests": 0, "errors": 0, "ticks": 0}
        self.sessions = SessionTable(
            max_sessions=self.limits.max_sessions,
            idle_timeout_s=config.session_idle_s,
            rate_per_s=self.limits.rate_per_s,
            burst=self.limits.burst,
        )
        self._handlers: dict[str, Handler] = {
            "hello": self._hello,
            "ping": self._ping,
            "echo": self._echo,
            "fill": self._fill,
            "world.get": self._world_get,
            "subscribe": self._subscribe,
        }
        self._ctx: zmq.asyncio.Context | None = None
        self._router: zmq.asyncio.Socket | None = None
        self._pub: zmq.asyncio.Socket | None = None
        self._t0 = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Server:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Bind both sockets. Raises ContinuumError when a port is taken."""
        self._ctx = zmq.asyncio.Context()
        try:
            self._router = self._socket(zmq.ROUTER)
            self._pub = self._socket(zmq.PUB)
            host = f"[{self.config.bind}]" if ":" in self.config.bind else self.config.bind
            self.port = self._bind(self._router, host, self.config.port)
            pub_port = self.config.pub_port
            if pub_port is None:
                pub_port = self.port + 1 if self.config.port else 0
            self.pub_port = self._bind(self._pub, host, pub_port)
        except BaseException:
            self.close()
            raise
        log.info(
            "serving %s on tcp://%s:%d (state stream :%d, tick %g Hz)",
            f"scene {self.scene.name!r}" if self.scene else "no scene",
            self.config.bind,
            self.port,
            self.pub_port,
            self.config.tick_hz,
        )

    def close(self) -> None:
        for sock in (self._router, self._pub):
            if sock is not None:
                sock.close(linger=0)
        if self._ctx is not None:
            self._ctx.term()
        self._router = self._pub = self._ctx = None

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer requests and publish ticks until ``stop`` is set."""
        tasks = [
            asyncio.create_task(self._request_loop(), name="continuum-requests"),
            asyncio.create_task(self._tick_loop(), name="continuum-ticks"),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def now(self) -> float:
        """Backend time in seconds since the server started (the ``t`` of the protocol)."""
        return time.monotonic() - self._t0

    # -- plumbing ----------------------------------------------------------------------------

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        assert self._ctx is not None
        sock = self._ctx.socket(kind)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_frame_bytes)
            sock.setsockopt(zmq.HANDSHAKE_IVL, self.config.handshake_ms)
            sock.setsockopt(zmq.HEARTBEAT_IVL, self.config.heartbeat_ms)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3 * self.config.heartbeat_ms)
            sock.setsockopt(zmq.HEARTBEAT_TTL, 3 * self.config.heartbeat_ms)
            # A ZAP domain makes libzmq refuse ZMTP 1.0/2.0 peers; without it, anything whose first
            # octet is not FF (an HTTP request, say) is taken for a ZMTP 1.0 peer and held open
            # forever. No ZAP handler is bound, so the NULL mechanism still admits everyone.
            sock.setsockopt(zmq.ZAP_DOMAIN, b"continuum")
        except BaseException:
            sock.close(linger=0)  # an unclosed socket would hang close()'s ctx.term()
            raise
        return sock

    @staticmethod
    def _bind(sock: zmq.asyncio.Socket, host: str, port: int) -> int:
        try:
            if port == 0:
                return sock.bind_to_random_port(f"tcp://{host}")
            sock.bind(f"tcp://{host}:{port}")
        except zmq.ZMQError as exc:
            raise ContinuumError(
                f"cannot bind tcp://{host}:{port}: {exc.strerror}; "
                "is another backend running? choose another --port"
            ) from None
        return port

    async def _request_loop(self) -> None:
        assert self._router is not None
        while True:
            frames = await self._router.recv_multipart(copy=False)
            routing_id, body = frames[0].bytes, [f.buffer for f in frames[1:]]
            reply = self._handle(routing_id, body)
            if reply is not None:
                await self._router.send_multipart([routing_id, *encode_message(reply)], copy=False)

    async def _tick_loop(self) -> None:
        assert self._pub is not None
        period = 1.0 / self.config.tick_hz
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            header = {"seq": self.tick_seq, "t": self.now(), "hz": self.config.tick_hz}
            await self._pub.send_multipart(encode_message(Message("tick", header)))
            self.tick_seq += 1
            self.stats["ticks"] += 1
            if forgotten := self.sessions.expire(time.monotonic()):
                log.debug("forgot %d idle sessions", forgotten)
            next_at += period
            # A stalled loop skips ticks instead of bursting them: ticks supersede each other.
            next_at = max(next_at, loop.time())
            await asyncio.sleep(next_at - loop.time())

    # -- dispatch ----------------------------------------------------------------------------

    def _handle(self, routing_id: bytes, frames: list[memoryview]) -> Message | None:
        """One request in, one reply or error out; never raises."""
        self.stats["requests"] += 1
        now = time.monotonic()
        session = self.sessions.get_or_create(routing_id, now)
        if session is None:
            return self._error(
                request_id(frames),
                "busy",
                f"the backend holds its maximum of {self.limits.max_sessions} sessions; "
                "retry later",
            )
        if not session.budget.take(now):
            return self._error(
                request_id(frames),
                "rate_limited",
                f"more than {self.limits.rate_per_s:g} requests/s; slow down and retry",
            )
        rid = None
        try:
            message = decode_message(frames, self.limits)
            rid = _check_id(message)
            handler = self._handlers.get(message.kind)
            if handler is None:
                raise ProtocolError(
                    "unknown_kind",
                    f"no request kind {message.kind!r}; this backend serves "
                    f"{', '.join(sorted(self._handlers))}",
                )
            if not session.handshaken and message.kind != "hello":
                raise ProtocolError(
                    "handshake_required", "send 'hello' first: it opens the session"
                )
            session.requests += 1
            reply = handler(session, message)
        except ProtocolError as exc:
            return self._error(rid if rid is not None else request_id(frames), exc.code, str(exc))
        except Exception as exc:
            log.exception("internal error answering a request")
            return self._error(rid, "internal", f"the backend failed on this request: {exc!r}")
        reply.header["re"] = rid
        return reply

    def _error(self, rid: int | None, code: str, text: str) -> Message:
        self.stats["errors"] += 1
        return Message("error", {"re": rid, "code": code, "message": text})

    # -- handlers (thin: the domain code does the work) ----------------------------------------

    def _hello(self, session: Session, msg: Message) -> Message:
        try:
            major, _minor = parse_version(msg.header.get("protocol"))
        except ValueError as exc:
            raise ProtocolError("bad_request", f"hello.protocol: {exc}") from None
        if major != PROTOCOL_MAJOR:
            raise ProtocolError(
                "version_mismatch",
                f"client speaks protocol {msg.header['protocol']}, this backend "
                f"{PROTOCOL_VERSION}: update the plugin or the backend so the major versions match",
            )
        if self.config.token is not None:
            token = msg.header.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), self.config.token.encode()
            ):
                raise ProtocolError(
                    "unauthorized",
                    "this backend requires an access token: set continuum/backend/token "
                    "(or --continuum-token=) to the token the backend was started with",
                )
        session.handshaken = True
        session.protocol = msg.header["protocol"]
        session.client = str(msg.header.get("client", ""))[:128]
        log.info("session %s opened by %s", session.id, session.client or "a client")
        return Message(
            "welcome",
            {
                "protocol": PROTOCOL_VERSION,
                "server": f"continuum {__version__}",
                "session": session.id,
                "capabilities": sorted(self._handlers),
                "pub_port": self.pub_port,
                "tick_hz": self.config.tick_hz,
                "limits": self.limits.to_json(),
            },
        )

    def _ping(self, session: Session, msg: Message) -> Message:
        return Message("pong", {"t": self.now()})

    def _echo(self, session: Session, msg: Message) -> Message:
        header = {k: v for k, v in msg.header.items() if k not in ("id", "blobs")}
        return Message("echo", header, msg.blobs)

    def _fill(self, session: Session, msg: Message) -> Message:
        n = msg.header.get("bytes")
        if (
            not isinstance(n, int)
            or isinstance(n, bool)
            or not 0 <= n <= self.limits.max_frame_bytes
        ):
            raise ProtocolError(
                "bad_request",
                f"fill.bytes must be an integer in 0..{self.limits.max_frame_bytes}, got {n!r:.40}",
            )
        return Message("fill", {}, [np.resize(_FILL_PATTERN, n)])

    def _world_get(self, session: Session, msg: Message) -> Message:
        if self.scene is None:
            return Message("world", {"scene": {"name": "", "description": ""}, "entities": []})
        return Message(
            "world",
            {
                "scene": {"name": self.scene.name, "description": self.scene.description},
                "entities": [e.to_json() for e in self.scene.entities],
            },
        )

    def _subscribe(self, session: Session, msg: Message) -> Message:
        topics = msg.header.get("topics")
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ProtocolError("bad_request", "subscribe.topics must be a list of topic names")
        unknown = sorted(set(topics) - set(STREAM_TOPICS))
        if unknown:
            raise ProtocolError(
                "bad_request",
                f"unknown stream topics {unknown}; the state stream carries {list(STREAM_TOPICS)}",
            )
        session.topics.update(topics)
        return Message(
            "subscribed",
            {
                "topics": sorted(session.topics),
                "pub_port": self.pub_port,
                "seq": {"tick": self.tick_seq},
            },
        )


def _check_id(msg: Message) -> int:
    rid = msg.header.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid < 2**53:
        raise ProtocolError(
            "bad_request", f"header.id must be an integer in 0..2^53-1, got {rid!r:.40}"
        )
    return rid


@contextlib.contextmanager
def serve_in_thread(config: ServerConfig, scene: Scene | None = None) -> Iterator[Server]:
    """Run a server on its own event loop in a background thread (tests, benchmarks, demo).

    Yields the started server (its ``port`` and ``pub_port`` are bound); stops it on exit.
    """
    server = Server(config, scene)
    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), stop
        try:
            server.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            await server.serve(stop)
        finally:
            server.close()

    thread = threading.Thread(
        target=asyncio.run, args=(main(),), name="continuum-server", daemon=True
    )
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield server
    finally:
        loop = holder["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        loop.call_soon_threadsafe(holder["stop"].set)  # type: ignore[union-attr]
        thread.join(timeout=10)
