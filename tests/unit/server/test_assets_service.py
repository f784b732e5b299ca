"""The asset service through real pyzmq clients against in-process servers."""

import hashlib
import threading
import time

import numpy as np
import pytest

from continuum.errors import ContinuumError
from continuum.server.client import BridgeClient, RemoteError
from continuum.server.protocol import Limits
from continuum.splats.pack import unpack_splats
from tests.conftest import SPLATS
from tests.unit.splats.scenes import random_cloud

CHUNK = 1000
SMALL = Limits(chunk_bytes=CHUNK)
DATA = np.random.default_rng(0).bytes(10 * CHUNK + 500)  # 11 chunks, the last of 500 octets


def _client(server, **kw) -> BridgeClient:
    return BridgeClient(port=server.port, timeout_s=5, **kw)


def _put(server, data: bytes = DATA) -> str:
    return server.assets.put(data, kind="blob", meta={"about": "test"}).hash


def _no_push(client: BridgeClient, seconds: float = 0.3) -> bool:
    with pytest.raises(ContinuumError, match="no push"):
        client.push(timeout_s=seconds)
    return True


def _until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def small(server_factory):
    """A server sending 1,000-octet chunks."""
    return server_factory(limits=SMALL)


def test_welcome_reports_the_asset_service(server):
    with _client(server) as c:
        w = c.welcome
    assert w["protocol"] == "1.7"
    assert {"asset.get", "asset.credit", "asset.cancel"} <= set(w["capabilities"])
    assert {k: w["limits"][k] for k in ("max_asset_bytes", "chunk_bytes", "max_credit")} == {
        "max_asset_bytes": 1 << 30,
        "chunk_bytes": 1 << 20,
        "max_credit": 8,
    }
    assert w["limits"]["max_transfers"] == 4


def test_a_1_0_client_is_still_served(server):
    with _client(server, hello=False) as c:
        assert c.request("hello", {"protocol": "1.0"}).header["protocol"] == "1.7"


def test_get_sends_the_reply_then_every_chunk(small):
    digest = _put(small)
    with _client(small) as c:
        reply = c.request("asset.get", {"hash": digest, "credit": 8}).header
        assert reply == {
            "re": reply["re"],
            "hash": digest,
            "bytes": len(DATA),
            "kind": "blob",
            "chunk_bytes": CHUNK,
            "chunks": 11,
            "transfer": 1,
            "meta": {"about": "test"},
        }
        chunks = []
        for _ in range(8):
            chunks.append(c.push())
        c.request("asset.credit", {"transfer": 1, "credit": 3})
        chunks += [c.push() for _ in range(3)]
        assert _no_push(c)
    for i, chunk in enumerate(chunks):
        octets = DATA[i * CHUNK : (i + 1) * CHUNK]
        assert chunk.kind == "asset.chunk" and "re" not in chunk.header
        assert chunk.header == {
            "transfer": 1,
            "hash": digest,
            "index": i,
            "offset": i * CHUNK,
            "sha256": hashlib.sha256(octets).hexdigest(),
            "last": i == 10,
            "blobs": [{"dtype": "u8", "shape": [len(octets)]}],
        }
        assert chunk.blobs[0].tobytes() == octets


def test_fetch_asset_verifies_and_reassembles(small):
    digest = _put(small)
    with _client(small) as c:
        for credit in (1, 2, 8):
            assert c.fetch_asset(digest, credit=credit) == DATA
        assert c.fetch_asset(_put(small, b"")) == b""
        assert c.fetch_asset(_put(small, b"x" * CHUNK)) == b"x" * CHUNK
        assert c.request("ping").kind == "pong"
    assert small.stats["chunks"] == 3 * 11 + 2


def test_a_partial_get_sends_only_the_chunks_asked_for(small):
    digest = _put(small)
    with _client(small) as c:
        c.request("asset.get", {"hash": digest, "credit": 8, "chunks": [1, 3, 10]})
        got = [c.push().header for _ in range(3)]
        assert _no_push(c)
    assert [(h["index"], h["offset"], h["last"]) for h in got] == [
        (1, 1000, False),
        (3, 3000, False),
        (10, 10000, True),
    ]


def test_no_more_chunks_than_credit(small):
    digest = _put(small)
    with _client(small) as c:
        c.request("asset.get", {"hash": digest, "credit": 3})
        assert [c.push().header["index"] for _ in range(3)] == [0, 1, 2]
        assert _no_push(c, 0.5)
        assert c.request("asset.credit", {"transfer": 1, "credit": 2}).header == {
            "re": 3,
            "transfer": 1,
            "credit": 2,
        }
        assert [c.push().header["index"] for _ in range(2)] == [3, 4]
        assert _no_push(c)


def test_credit_is_bounded(small):
    digest = _put(small)
    with _client(small) as c:
        for bad in (0, 9, -1, "2", True, None):
            with pytest.raises(RemoteError, match=r"asset\.get\.credit must be .* 1\.\.8") as info:
                c.request("asset.get", {"hash": digest, "credit": bad})
            assert info.value.code == "bad_request"
        c.request("asset.get", {"hash": digest, "credit": 5})
        for _ in range(5):
            c.push()
        for bad in (0, 9):
            with pytest.raises(RemoteError, match=r"asset\.credit\.credit must be .* 1\.\.8"):
                c.request("asset.credit", {"transfer": 1, "credit": bad})
        assert c.request("asset.credit", {"transfer": 1, "credit": 8}).header["credit"] == 8
        assert [c.push().header["index"] for _ in range(6)] == [5, 6, 7, 8, 9, 10]


def test_cancel_stops_the_transfer(small):
    digest = _put(small)
    with _client(small) as c:
        c.request("asset.get", {"hash": digest, "credit": 1})
        assert c.push().header["index"] == 0
        assert small.background_tasks == 1
        assert c.request("asset.cancel", {"transfer": 1}).header == {"re": 3, "transfer": 1}
        for kind, fields in (
            ("asset.credit", {"transfer": 1, "credit": 1}),
            ("asset.cancel", {"transfer": 1}),
        ):
            with pytest.raises(RemoteError, match=f"{kind}: no transfer 1") as info:
                c.request(kind, fields)
            assert info.value.code == "not_found"
        assert _no_push(c)
        assert _until(lambda: small.background_tasks == 0)


def test_unknown_and_malformed_requests(small):
    digest = _put(small)
    unknown = "0" * 64
    with _client(small) as c, _client(small) as other:
        with pytest.raises(RemoteError, match=f"no asset {unknown}") as info:
            c.request("asset.get", {"hash": unknown, "credit": 1})
        assert info.value.code == "not_found"
        for bad in ("ABC", None, digest.upper(), 5):
            with pytest.raises(RemoteError, match="64 lowercase hex") as info:
                c.request("asset.get", {"hash": bad, "credit": 1})
            assert info.value.code == "bad_request"
        for chunks in ([], [2, 1], [1, 1], [11], [-1], [True], "all", [0.5]):
            with pytest.raises(RemoteError, match=r"chunks must be .* 0\.\.10") as info:
                c.request("asset.get", {"hash": digest, "credit": 1, "chunks": chunks})
            assert info.value.code == "bad_request"
        for kind in ("asset.credit", "asset.cancel"):
            with pytest.raises(RemoteError, match="no transfer 7") as info:
                c.request(kind, {"transfer": 7, "credit": 1})
            assert info.value.code == "not_found"
            with pytest.raises(RemoteError, match="transfer must be an integer") as info:
                c.request(kind, {"transfer": "1", "credit": 1})
            assert info.value.code == "bad_request"
        c.request("asset.get", {"hash": digest, "credit": 1})
        with pytest.raises(RemoteError, match="no transfer 1") as info:
            other.request("asset.cancel", {"transfer": 1})  # transfers belong to their session
        assert info.value.code == "not_found"
        assert c.request("asset.cancel", {"transfer": 1}).kind == "asset.cancel"


def test_transfers_per_session_are_bounded(small):
    digest = _put(small)
    with _client(small) as c:
        ids = [
            c.request("asset.get", {"hash": digest, "credit": 1}).header["transfer"]
            for _ in range(4)
        ]
        assert ids == [1, 2, 3, 4]
        with pytest.raises(RemoteError, match="already runs 4 transfers") as info:
            c.request("asset.get", {"hash": digest, "credit": 1})
        assert info.value.code == "busy"
        c.request("asset.cancel", {"transfer": 2})
        assert c.request("asset.get", {"hash": digest, "credit": 1}).header["transfer"] == 5
        with _client(small) as other:  # the bound is per session
            assert other.fetch_asset(digest) == DATA


def test_a_stalled_client_does_not_hold_up_others(small):
    digest = _put(small)
    with _client(small) as stalled, _client(small) as busy:
        for _ in range(4):
            stalled.request("asset.get", {"hash": digest, "credit": 8})  # and never reads
        assert busy.fetch_asset(digest, credit=1) == DATA
        assert busy.request("ping").kind == "pong"


def test_many_clients_fetch_a_100_mb_asset_at_once(server_factory):
    server = server_factory(tick_hz=100.0)
    data = np.random.default_rng(1).bytes(100 << 20)
    digest = _put(server, data)
    fetched: dict[int, bool] = {}
    errors: list[BaseException] = []

    def fetch(i: int) -> None:
        try:
            with BridgeClient(port=server.port, timeout_s=30) as c:
                fetched[i] = c.fetch_asset(digest, credit=1 + i % 8) == data
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(3)]
    with _client(server) as watcher:
        watcher.subscribe(["tick"])
        for t in threads:
            t.start()
        pongs, ticks = 0, set()
        while any(t.is_alive() for t in threads):
            pongs += watcher.request("ping").kind == "pong"
            ticks.add(watcher.stream().header["seq"])
        for t in threads:
            t.join()
    assert errors == [] and fetched == {0: True, 1: True, 2: True}
    assert pongs >= 1 and len(ticks) >= 1  # requests and ticks kept flowing meanwhile
    assert server.stats["chunks"] == 3 * 100


def test_many_small_clients_at_once(small):
    digest = _put(small)
    results: list[bool] = []

    def fetch() -> None:
        with _client(small) as c:
            results.append(c.fetch_asset(digest, credit=2) == DATA)

    threads = [threading.Thread(target=fetch) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 16
    assert _until(lambda: small.background_tasks == 0)


def test_a_forgotten_session_has_its_transfers_cancelled(server_factory):
    server = server_factory(limits=SMALL, session_idle_s=1.0)
    digest = _put(server)
    with _client(server) as c:
        c.request("asset.get", {"hash": digest, "credit": 1})
        c.request("asset.get", {"hash": digest, "credit": 2})
        assert c.push().kind == "asset.chunk"
        assert server.background_tasks == 2
    # The client is gone; the session is forgotten once idle, and its transfers with it.
    assert _until(lambda: len(server.sessions) == 0 and server.background_tasks == 0)


def test_stopping_the_server_ends_its_transfers(server_factory):
    from continuum.server.app import ServerConfig, serve_in_thread

    with serve_in_thread(ServerConfig(port=0, limits=SMALL)) as server:
        digest = _put(server)
        c = _client(server)
        c.request("asset.get", {"hash": digest, "credit": 1})
        assert _until(lambda: server.background_tasks == 1)
    assert server.background_tasks == 0
    assert not server.assets.root.exists()  # the temporary store is gone
    c.close()


def test_a_damaged_store_is_reported_to_the_client(small):
    digest = _put(small)
    path = small.assets.root / digest[:2] / digest
    path.write_bytes(DATA[:1500])
    with _client(small) as c:
        with pytest.raises(RemoteError, match=f"transfer 1 of {digest} failed") as info:
            c.fetch_asset(digest)
        assert info.value.code == "internal"
        assert c.request("ping").kind == "pong"


def test_fetch_asset_checks_the_whole_asset(small):
    digest = _put(small)
    path = small.assets.root / digest[:2] / digest
    path.write_bytes(b"\0" * len(DATA))  # same length, other octets: each chunk is consistent
    with _client(small) as c, pytest.raises(ContinuumError, match="does not match its hash"):
        c.fetch_asset(digest)


def test_the_splats_scene_is_served_as_packs(server_factory):
    server = server_factory(scene=SPLATS)
    with _client(server) as c:
        entities = {e["id"]: e for e in c.request("world.get").header["entities"]}
        splat = entities["cloud"]["components"]["splat"]
        pack = c.fetch_asset(splat["asset"])
    assert len(pack) == splat["bytes"] and len(unpack_splats(pack)) == splat["count"] == 1536


def test_set_splat_is_announced_to_every_handshaken_session(server_factory):
    server = server_factory(limits=SMALL)
    with _client(server) as a, _client(server) as b, _client(server, hello=False) as stranger:
        with pytest.raises(RemoteError, match="send 'hello' first"):
            stranger.request("ping")  # a session, but not a handshaken one
        asset = server.world.set_splat(
            "ball", random_cloud(10, seed=0)
        )  # from this thread, not the loop
        for c in (a, b):
            change = c.push()  # the world's event first, then the announcement
            assert change.kind == "world.changed" and "re" not in change.header
            [(event)] = change.header["events"]
            assert event["event"]["kind"] == "component_set"
            assert event["event"]["value"]["asset"] == asset.hash
            push = c.push()
            assert push.kind == "asset.announce" and "re" not in push.header
            assert push.header == {
                "entity": "ball",
                "component": "splat",
                "asset": {
                    "hash": asset.hash,
                    "bytes": asset.bytes,
                    "kind": "splat-pack",
                    "count": 10,
                    "sh_degree": 1,
                    "aabb": asset.meta["aabb"],
                },
            }
        assert _no_push(stranger)
        assert len(unpack_splats(a.fetch_asset(asset.hash))) == 10
        ball = next(e for e in b.request("world.get").header["entities"] if e["id"] == "ball")
        assert ball["components"]["splat"]["asset"] == asset.hash
        # Pushes that arrive while a request waits are kept for push(), in order.
        second = server.world.set_splat("cube", random_cloud(3, seed=1))
        third = server.world.set_splat("ball", random_cloud(4, seed=2))
        hashes = [second.hash, third.hash]

        def announced(c, **kw):
            pushes = [c.push(**kw) for _ in range(4)]
            return [p.header["asset"]["hash"] for p in pushes if p.kind == "asset.announce"]

        assert announced(b) == hashes  # a's went first
        assert a.request("ping").kind == "pong"
        assert announced(a, timeout_s=0) == hashes
