"""A real ``continuum serve`` process against misbehaving peers that speak ZMTP octet by octet.

Each test plays one bad peer through :class:`RawPeer` (a plain TCP socket and
``continuum.server.zmtp``), checks what the backend did about it, and then proves the backend
process is still alive and still serves a well-behaved :class:`BridgeClient`.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from continuum.server import zmtp
from continuum.server.client import BridgeClient
from continuum.server.codec import Message, decode_message, encode_message
from continuum.server.process import BackendProcess
from continuum.server.protocol import PROTOCOL_VERSION

REPO = Path(__file__).resolve().parents[2]
HELLO_SCENE = REPO / "scenes" / "hello"
VECTORS = REPO / "bridge" / "vectors"
HOST = "127.0.0.1"


# -- a raw ZMTP peer ------------------------------------------------------------------------------


class PeerClosed(ConnectionError):
    """The backend closed (or reset) the raw connection."""


class RawPeer:
    """One TCP connection that speaks ZMTP 3.1 by hand; every wait is bounded.

    ``handshake()`` sends the greeting and READY and reads the backend's; ``recv_message``
    returns a message's frames and answers the backend's ZMTP PINGs while it waits.
    """

    def __init__(self, port: int, *, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout_s = timeout_s
        self.decoder = zmtp.FrameDecoder()
        self.frames: deque[zmtp.Frame] = deque()
        self.pending = bytearray()  # octets read but not yet parsed (the greeting)
        self.greeting = b""
        self.ready_frame: zmtp.Frame | None = None
        self.ready_properties: dict[str, bytes] = {}
        self.pings_answered = 0

    # plumbing

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the backend sent nothing in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError as exc:
            raise PeerClosed("connection reset by the backend") from exc
        if not chunk:
            raise PeerClosed("the backend closed the connection")
        return chunk

    def recv_exact(self, n: int, timeout_s: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while len(self.pending) < n:
            self.pending += self._read(deadline)
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    def recv_frame(self, timeout_s: float | None = None) -> zmtp.Frame:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        if self.pending:
            self.frames.extend(self.decoder.feed(bytes(self.pending)))
            self.pending.clear()
        while not self.frames:
            self.frames.extend(self.decoder.feed(self._read(deadline)))
        return self.frames.popleft()

    # ZMTP

    def handshake(self, socket_type: str = "DEALER") -> RawPeer:
        self.send_raw(zmtp.greeting() + zmtp.ready(socket_type))
        self.greeting = self.recv_exact(zmtp.GREETING_SIZE)
        zmtp.parse_greeting(self.greeting)
        frame = self.recv_frame()
        assert frame.command, f"expected READY, got a message frame {frame.body[:40]!r}"
        name, data = zmtp.split_command(frame.body)
        assert name == "READY", f"expected READY, got command {name!r}"
        self.ready_frame = frame
        self.ready_properties = zmtp.parse_properties(data)
        return self

    def send_message(self, frames: list[bytes]) -> None:
        self.send_raw(zmtp.encode_multipart(frames))

    def recv_message(self, timeout_s: float | None = None) -> list[bytes]:
        """The next message's frames; answers PING with PONG, ignores other commands."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        parts: list[bytes] = []
        while True:
            frame = self.recv_frame(max(deadline - time.monotonic(), 1e-3))
            if frame.command:
                name, data = zmtp.split_command(frame.body)
                if name == "PING":
                    self.send_raw(zmtp.encode_command("PONG", data[2:]))
                    self.pings_answered += 1
                elif name == "ERROR":
                    raise PeerClosed(f"the backend sent ZMTP ERROR {data[1:]!r}")
                continue
            parts.append(frame.body)
            if not frame.more:
                return parts

    def request(self, kind: str, header: dict, timeout_s: float | None = None) -> Message:
        self.send_message([bytes(f) for f in encode_message(Message(kind, header))])
        return decode_message(self.recv_message(timeout_s))

    def hello(self) -> Message:
        welcome = self.request("hello", {"id": 0, "protocol": PROTOCOL_VERSION, "client": "raw"})
        assert welcome.kind == "welcome", welcome
        return welcome

    def wait_closed(self, timeout_s: float) -> tuple[float, bytes]:
        """Read (and drop) until the backend closes; returns (seconds it took, octets read)."""
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        got = bytearray(self.pending)
        while True:
            try:
                got += self._read(deadline)
            except PeerClosed:
                return time.monotonic() - t0, bytes(got)
            except TimeoutError:
                raise AssertionError(
                    f"the backend kept the connection open for {timeout_s:g} s "
                    f"(it sent {bytes(got[:40])!r})"
                ) from None


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def robust_backend() -> Iterator[BackendProcess]:
    """A fresh ``continuum serve`` child (scenes/hello, 50 Hz ticks) on free ports."""
    backend = BackendProcess(scene=HELLO_SCENE, extra=["--tick-hz", "50"])
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture
def raw_peer() -> Iterator[Callable[..., RawPeer]]:
    """``raw_peer(port, timeout_s=5)`` opens a RawPeer; all are closed after the test."""
    peers: list[RawPeer] = []

    def open_peer(port: int, **kw: float) -> RawPeer:
        peer = RawPeer(port, **kw)
        peers.append(peer)
        return peer

    try:
        yield open_peer
    finally:
        for peer in peers:
            peer.close()


def assert_still_serving(backend: BackendProcess) -> None:
    """The process is alive, a well-behaved client is served, and nothing blew up inside."""
    assert backend.proc.poll() is None, "the backend died:\n" + "\n".join(backend.log[-20:])
    with BridgeClient(HOST, backend.port, timeout_s=5) as client:
        assert client.welcome["protocol"] == PROTOCOL_VERSION
        assert client.request("ping").kind == "pong"
        world = client.request("world.get")
        assert world.kind == "world" and world.header["scene"]["name"] == "hello"
    broken = [line for line in backend.log if "Traceback" in line or "internal error" in line]
    assert not broken, "\n".join(backend.log)
    assert backend.proc.poll() is None


def _vector_frame(name: str) -> tuple[bytes, zmtp.Frame]:
    raw = (VECTORS / name).read_bytes()
    (frame,) = zmtp.FrameDecoder().feed(raw)
    return raw, frame


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


# -- 1. the golden vectors describe real libzmq ---------------------------------------------------


def test_libzmq_greeting_and_ready_match_the_vectors(robust_backend, raw_peer):
    vector_greeting = (VECTORS / "greeting_null.bin").read_bytes()
    for port, ours, theirs, vector in (
        (robust_backend.port, "DEALER", "ROUTER", "ready_router.bin"),
        (robust_backend.pub_port, "SUB", "PUB", "ready_pub.bin"),
    ):
        peer = raw_peer(port).handshake(ours)
        g = peer.greeting
        assert g[0:10] == vector_greeting[0:10] == zmtp.SIGNATURE
        assert g[10] == vector_greeting[10] == 3  # ZMTP major
        assert g[11] >= 1  # 3.1 or later: SUBSCRIBE as a command
        assert g[12:32] == vector_greeting[12:32] == b"NULL".ljust(20, b"\x00")

        raw, expected = _vector_frame(vector)
        got = peer.ready_frame
        assert got is not None and got.flags == expected.flags == zmtp.COMMAND
        props = peer.ready_properties
        vector_props = zmtp.parse_properties(zmtp.split_command(expected.body)[1])
        assert props["Socket-Type"] == vector_props["Socket-Type"] == theirs.encode()
        assert props == vector_props
        assert zmtp.encode_frame(got.body, command=True) == raw  # octet for octet
    assert_still_serving(robust_backend)


# -- 2. the raw path works end to end -------------------------------------------------------------


def test_raw_dealer_hello_welcome_then_ping_pong(robust_backend, raw_peer):
    peer = raw_peer(robust_backend.port).handshake("DEALER")
    assert peer.ready_properties["Socket-Type"] == b"ROUTER"
    welcome = peer.hello()
    assert welcome.header["re"] == 0 and welcome.header["protocol"] == PROTOCOL_VERSION
    assert welcome.header["pub_port"] == robust_backend.pub_port
    pong = peer.request("ping", {"id": 1})
    assert pong.kind == "pong" and pong.header["re"] == 1 and pong.header["t"] >= 0
    assert_still_serving(robust_backend)


# -- 3. a truncated frame -------------------------------------------------------------------------


def test_truncated_frame_then_close(robust_backend, raw_peer):
    peer = raw_peer(robust_backend.port).handshake()
    peer.hello()
    peer.send_raw(bytes([zmtp.LONG]) + struct.pack(">Q", 1000) + b"x" * 10)
    time.sleep(0.1)
    peer.close()
    assert_still_serving(robust_backend)


# -- 4. a frame length over the limit -------------------------------------------------------------


@pytest.mark.parametrize("announced", ["2**40", "max_frame_bytes+1"])
def test_frame_over_the_limit_drops_the_connection(robust_backend, raw_peer, announced):
    peer = raw_peer(robust_backend.port).handshake()
    limit = peer.hello().header["limits"]["max_frame_bytes"]
    size = 2**40 if announced == "2**40" else limit + 1
    peer.send_raw(bytes([zmtp.MORE | zmtp.LONG]) + struct.pack(">Q", size) + b"x" * 100)
    took, _ = peer.wait_closed(timeout_s=5)
    assert took < 5
    assert_still_serving(robust_backend)


# -- 5. a header that is not JSON -----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [b"{oops", b'{"id": 7', b"\xff\xfe{}", b"[7]"],
    ids=["garbled", "cut", "utf16", "list"],
)
def test_invalid_json_header_is_bad_message_and_the_connection_lives(
    robust_backend, raw_peer, header
):
    peer = raw_peer(robust_backend.port).handshake()
    peer.hello()
    peer.send_message([b"ping", header])
    error = decode_message(peer.recv_message())
    assert error.kind == "error"
    assert error.header["code"] == "bad_message" and error.header["re"] is None
    assert "header" in error.header["message"]
    assert peer.request("ping", {"id": 8}).header["re"] == 8
    assert_still_serving(robust_backend)


# -- 6. an unknown kind ---------------------------------------------------------------------------


def test_unknown_kind_names_the_known_kinds(robust_backend, raw_peer):
    peer = raw_peer(robust_backend.port).handshake()
    known = peer.hello().header["capabilities"]
    error = peer.request("teleport", {"id": 5})
    assert error.kind == "error" and error.header["code"] == "unknown_kind"
    assert error.header["re"] == 5
    assert "'teleport'" in error.header["message"]
    for kind in known:
        assert kind in error.header["message"]
    assert peer.request("ping", {"id": 6}).kind == "pong"
    assert_still_serving(robust_backend)


# -- 7. another protocol major --------------------------------------------------------------------


def test_wrong_major_version_is_version_mismatch(robust_backend, raw_peer):
    peer = raw_peer(robust_backend.port).handshake()
    error = peer.request("hello", {"id": 1, "protocol": "2.0"})
    assert error.kind == "error" and error.header["code"] == "version_mismatch"
    assert error.header["re"] == 1
    assert "2.0" in error.header["message"] and PROTOCOL_VERSION in error.header["message"]
    refused = peer.request("ping", {"id": 2})  # the session did not open
    assert refused.header["code"] == "handshake_required"
    peer.hello()
    assert peer.request("ping", {"id": 3}).kind == "pong"
    assert_still_serving(robust_backend)


# -- 8. a peer that never speaks ------------------------------------------------------------------


def test_silent_connection_is_closed_after_the_handshake_timeout(robust_backend, raw_peer):
    # `continuum serve` has no flag for the handshake timeout: the default 5 s applies.
    t0 = time.monotonic()
    silent = raw_peer(robust_backend.port, timeout_s=10)
    for _ in range(3):
        assert_still_serving(robust_backend)
        time.sleep(0.3)
    assert robust_backend.proc.poll() is None
    _, got = silent.wait_closed(timeout_s=8.5 - (time.monotonic() - t0))
    closed_after = time.monotonic() - t0
    assert 4.0 <= closed_after <= 8.5, f"closed after {closed_after:.2f} s"
    assert zmtp.SIGNATURE.startswith(got[:10])  # libzmq sent at most its half of a greeting
    assert_still_serving(robust_backend)


# -- 9. a disconnect in the middle of a message ---------------------------------------------------


def test_disconnect_mid_message(robust_backend, raw_peer):
    peer = raw_peer(robust_backend.port).handshake()
    peer.hello()
    second = zmtp.encode_frame(b'{"id":1,"pad":"' + b"y" * 600 + b'"}')
    peer.send_raw(zmtp.encode_frame(b"echo", more=True) + second[: len(second) // 2])
    time.sleep(0.1)
    peer.close()
    assert_still_serving(robust_backend)


# -- 10. a flood ----------------------------------------------------------------------------------

FLOOD = 40_000  # well above the default burst of 10,000 at 5,000/s, however fast the backend


def test_flood_is_rate_limited_and_others_are_served(robust_backend, raw_peer):
    pid = robust_backend.proc.pid
    rss_before = _rss_kib(pid)
    flooder = raw_peer(robust_backend.port, timeout_s=30).handshake()
    flooder.send_raw(
        zmtp.encode_multipart([b"hello", b'{"id":0,"protocol":"1.0"}'])
        + b"".join(zmtp.encode_multipart([b"ping", b'{"id":%d}' % i]) for i in range(1, FLOOD + 1))
    )
    # The flooder reads nothing yet; a polite client must still get its answers.
    with BridgeClient(HOST, robust_backend.port, timeout_s=5) as polite:
        for _ in range(5):
            t = time.monotonic()
            assert polite.request("ping").kind == "pong"
            assert time.monotonic() - t < 5
            time.sleep(0.1)

    answers: dict[int, str] = {}
    deadline = time.monotonic() + 30
    while len(answers) < FLOOD + 1 and time.monotonic() < deadline:
        kind, header = flooder.recv_message(timeout_s=max(deadline - time.monotonic(), 0.1))[:2]
        fields = json.loads(header)
        assert fields["re"] not in answers, f"two answers to request {fields['re']}"
        answers[fields["re"]] = fields.get("code", kind.decode())
    rss_after = _rss_kib(pid)

    assert sorted(answers) == list(range(FLOOD + 1))  # every request got exactly one answer
    outcomes = {v: list(answers.values()).count(v) for v in set(answers.values())}
    assert set(outcomes) == {"welcome", "pong", "rate_limited"}, outcomes
    assert outcomes["pong"] >= 10_000  # at least the burst went through
    assert (rss_after - rss_before) < 200 * 1024, f"RSS grew {rss_before} -> {rss_after} KiB"
    assert_still_serving(robust_backend)


# -- 11. not ZMTP at all --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        (VECTORS / "greeting_bad_signature.bin").read_bytes(),
        zmtp.SIGNATURE[:9] + b"\x00" + b"\x00" * 54,  # ZMTP 1.0: octet 9 without bit 0
        zmtp.SIGNATURE + b"\x01\x05" + b"\x00\x00",  # ZMTP 2.0 DEALER, empty identity
        zmtp.SIGNATURE + b"\x03\x01" + b"CURVE".ljust(20, b"\x00") + b"\x00" * 32,
    ],
    ids=["http", "vector_bad_signature", "zmtp1", "zmtp2", "curve"],
)
def test_garbage_instead_of_a_greeting_is_closed(robust_backend, raw_peer, garbage):
    for port in (robust_backend.port, robust_backend.pub_port):
        peer = raw_peer(port)
        peer.send_raw(garbage)
        took, _ = peer.wait_closed(timeout_s=4)
        assert took < 4
    assert_still_serving(robust_backend)


# -- 12. signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_serve_cleanly(robust_backend, sig):
    with BridgeClient(HOST, robust_backend.port, timeout_s=5) as client:
        assert client.request("ping").kind == "pong"
    t0 = time.monotonic()
    robust_backend.proc.send_signal(sig)
    rc = robust_backend.proc.wait(timeout=10)
    assert time.monotonic() - t0 < 10
    assert rc == 0, "\n".join(robust_backend.log)
    deadline = time.monotonic() + 3  # the stderr reader thread may lag behind the exit
    while time.monotonic() < deadline and not any("stopped after" in x for x in robust_backend.log):
        time.sleep(0.02)
    line = next((x for x in robust_backend.log if "stopped after" in x), None)
    assert line is not None, "\n".join(robust_backend.log)
    assert re.search(r"stopped after 2 requests \(0 errors\), \d+ ticks", line), line


# -- 13. a raw SUB with the ZMTP 3.1 SUBSCRIBE command --------------------------------------------


def test_raw_sub_subscribe_command_receives_ordered_ticks(robust_backend, raw_peer):
    sub = raw_peer(robust_backend.pub_port).handshake("SUB")
    assert sub.ready_properties["Socket-Type"] == b"PUB"
    with pytest.raises(TimeoutError):  # nothing flows before a subscription
        sub.recv_message(timeout_s=0.3)
    sub.send_raw(zmtp.subscribe(b"tick"))
    ticks = []
    for _ in range(10):
        frames = sub.recv_message(timeout_s=3)
        assert frames[0] == b"tick"
        tick = decode_message(frames)
        assert tick.kind == "tick" and tick.header["hz"] == 50.0
        ticks.append(tick.header)
    seqs = [t["seq"] for t in ticks]
    assert seqs == list(range(seqs[0], seqs[0] + 10)), seqs
    assert all(a["t"] < b["t"] for a, b in itertools.pairwise(ticks))
    assert_still_serving(robust_backend)
