"""Server behaviour through a real pyzmq client against an in-process server."""

import itertools
import time

import numpy as np
import pytest
import zmq

from continuum.errors import ContinuumError
from continuum.server.app import Server, ServerConfig
from continuum.server.client import BridgeClient, RemoteError
from continuum.server.codec import Message, decode_message, encode_message
from continuum.server.protocol import Limits


def _client(server, **kw) -> BridgeClient:
    return BridgeClient(port=server.port, timeout_s=5, **kw)


def test_handshake_reports_version_ports_and_limits(server):
    with _client(server) as c:
        w = c.welcome
    assert w["protocol"] == "1.7" and w["server"].startswith("continuum ")
    assert w["pub_port"] == server.pub_port and w["tick_hz"] == 100.0
    assert {"hello", "ping", "world.get", "subscribe", "echo", "fill"} <= set(w["capabilities"])
    assert w["limits"]["max_frame_bytes"] == Limits().max_frame_bytes
    assert len(w["session"]) == 16


def test_each_connection_is_its_own_session(server):
    with _client(server) as a, _client(server) as b:
        assert a.welcome["session"] != b.welcome["session"]


def test_requests_before_hello_are_refused(server):
    with _client(server, hello=False) as c:
        with pytest.raises(RemoteError, match="send 'hello' first") as info:
            c.request("ping")
        assert info.value.code == "handshake_required"
        c.request("hello", {"protocol": "1.0"})
        assert c.request("ping").kind == "pong"


@pytest.mark.parametrize(
    ("protocol", "code", "words"),
    [
        ("2.0", "version_mismatch", "client speaks protocol 2.0"),
        ("one", "bad_request", "MAJOR.MINOR"),
        (None, "bad_request", "protocol"),
    ],
)
def test_bad_hello(server, protocol, code, words):
    with _client(server, hello=False) as c:
        with pytest.raises(RemoteError, match=words) as info:
            c.request("hello", {"protocol": protocol})
        assert info.value.code == code
        assert c.request("hello", {"protocol": "1.3"}).kind == "welcome"  # newer minor is fine


def test_token_is_required_when_configured(server_factory):
    server = server_factory(token="s3cret")
    with pytest.raises(RemoteError, match="requires an access token") as info:
        _client(server)
    assert info.value.code == "unauthorized"
    with pytest.raises(RemoteError):
        _client(server, token="wrong")
    with _client(server, token="s3cret") as c:
        assert c.request("ping").kind == "pong"


def test_non_loopback_bind_needs_a_token():
    with pytest.raises(ContinuumError, match="access token"):
        Server(ServerConfig(bind="0.0.0.0", port=0))


def test_ping_carries_backend_time(server):
    with _client(server) as c:
        t1 = c.request("ping").header["t"]
        t2 = c.request("ping").header["t"]
    assert 0 <= t1 <= t2


def test_echo_returns_fields_and_blobs(server):
    blobs = [np.arange(6, dtype="<f4").reshape(2, 3), np.array([1, -2], dtype="<i8")]
    with _client(server) as c:
        reply = c.request("echo", {"note": "x", "n": [1, 2]}, blobs)
    assert reply.header["note"] == "x" and reply.header["n"] == [1, 2]
    assert reply.header["blobs"] == [
        {"dtype": "f32", "shape": [2, 3]},
        {"dtype": "i64", "shape": [2]},
    ]
    for got, sent in zip(reply.blobs, blobs, strict=True):
        np.testing.assert_array_equal(got, sent)


def test_fill_pattern_and_bounds(server):
    with _client(server) as c:
        blob = c.request("fill", {"bytes": 1000}).blobs[0]
        np.testing.assert_array_equal(blob, np.arange(1000) % 251)
        assert c.request("fill", {"bytes": 0}).blobs[0].size == 0
        for bad in (-1, 1 << 40, "10", True):
            with pytest.raises(RemoteError, match=r"fill\.bytes") as info:
                c.request("fill", {"bytes": bad})
            assert info.value.code == "bad_request"


def test_world_get_serves_the_scene(server):
    with _client(server) as c:
        reply = c.request("world.get")
    assert reply.header["scene"]["name"] == "hello"
    entities = {e["id"]: e for e in reply.header["entities"]}
    assert set(entities) == {"floor", "cube", "ball", "pillar", "sign", "sun", "camera"}
    assert entities["sign"]["parent"] == "pillar"
    assert entities["ball"]["components"]["shape"] == {"type": "sphere", "radius": 0.6}
    assert entities["ball"]["transform"]["position"] == [0, 0.6, 0]


def test_world_get_without_a_scene(server_factory):
    from continuum.server.app import serve_in_thread

    with serve_in_thread(ServerConfig(port=0)) as bare, _client(bare) as c:
        assert c.request("world.get").header["entities"] == []


def test_unknown_kind_lists_the_known_ones(server):
    with _client(server) as c, pytest.raises(RemoteError, match=r"'warp'.*world\.get") as info:
        c.request("warp")
    assert info.value.code == "unknown_kind"


def test_subscribe_and_ordered_ticks(server):
    with _client(server) as c:
        reply = c.subscribe(["tick"])
        assert reply.header["topics"] == ["tick"] and reply.header["pub_port"] == server.pub_port
        ticks = [c.stream().header for _ in range(20)]
    seqs = [t["seq"] for t in ticks]
    assert seqs == list(range(seqs[0], seqs[0] + 20))  # in order, no gaps on loopback
    assert all(a["t"] < b["t"] for a, b in itertools.pairwise(ticks))
    assert ticks[0]["hz"] == 100.0


def test_subscribe_refuses_unknown_topics(server):
    with _client(server) as c:
        with pytest.raises(RemoteError, match="unknown stream topics \\['poses'\\]"):
            c.subscribe(["poses"])
        with pytest.raises(RemoteError, match="list of topic names"):
            c.request("subscribe", {"topics": "tick"})


def _raw_dealer(server):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{server.port}")
    return sock


def _ask(sock, frames, timeout_ms=5000) -> Message:
    sock.send_multipart(frames)
    assert sock.poll(timeout_ms), "no answer"
    return decode_message(sock.recv_multipart())


@pytest.mark.parametrize(
    ("frames", "code", "re"),
    [
        ([b"ping"], "bad_message", None),
        ([b"ping", b"{oops"], "bad_message", None),
        ([b"PING", b'{"id":4}'], "bad_message", 4),
        ([b"ping", b'{"id":"4"}'], "bad_request", None),
        ([b"echo", b'{"id":9,"blobs":[{"dtype":"f32","shape":[2]}]}', b"abc"], "bad_blob", 9),
        ([b"ping", b'{"id":5,"pad":"' + b"x" * 70000 + b'"}'], "too_large", None),
        ([b"echo", b'{"id":6}'] + [b""] * 65, "too_large", 6),
    ],
)
def test_malformed_requests_get_errors_and_the_session_survives(server, frames, code, re):
    sock = _raw_dealer(server)
    try:
        assert (
            _ask(sock, encode_message(Message("hello", {"id": 1, "protocol": "1.0"}))).kind
            == "welcome"
        )
        error = _ask(sock, frames)
        assert (error.kind, error.header["code"], error.header["re"]) == ("error", code, re)
        assert error.header["message"]
        assert _ask(sock, encode_message(Message("ping", {"id": 2}))).kind == "pong"
    finally:
        sock.close()


def test_flood_is_rate_limited_and_others_are_served(server_factory):
    server = server_factory(limits=Limits(rate_per_s=100, burst=50))
    flooder = _raw_dealer(server)
    try:
        flooder.send_multipart(encode_message(Message("hello", {"id": 0, "protocol": "1.0"})))
        for i in range(1, 2001):
            flooder.send_multipart(encode_message(Message("ping", {"id": i})))
        with _client(server) as polite:
            assert polite.request("ping").kind == "pong"
        kinds, codes = [], set()
        deadline = time.monotonic() + 10
        while len(kinds) < 2001 and time.monotonic() < deadline:
            if flooder.poll(1000):
                m = decode_message(flooder.recv_multipart())
                kinds.append(m.kind)
                codes.add(m.header.get("code"))
        assert len(kinds) == 2001  # every request was answered
        assert kinds.count("pong") < 200 and "rate_limited" in codes
    finally:
        flooder.close()


def test_session_table_is_bounded(server_factory):
    server = server_factory(limits=Limits(max_sessions=2))
    with _client(server), _client(server):
        with pytest.raises(RemoteError, match="maximum of 2 sessions") as info:
            _client(server)
        assert info.value.code == "busy"


def test_a_handler_bug_is_an_internal_error_not_a_crash(server, monkeypatch):
    def broken(session, msg):
        raise RuntimeError("boom")

    monkeypatch.setitem(server._handlers, "ping", broken)
    with _client(server) as c:
        with pytest.raises(RemoteError, match="boom") as info:
            c.request("ping")
        assert info.value.code == "internal"
        assert c.request("world.get").kind == "world"


def test_port_in_use_is_a_clear_error(server):
    from continuum.server.app import serve_in_thread

    with (
        pytest.raises(ContinuumError, match="another backend running"),
        serve_in_thread(ServerConfig(port=server.port)),
    ):
        pass
