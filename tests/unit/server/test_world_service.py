"""The ``world.*`` requests (PROTOCOL.md section 13) through real pyzmq clients against in-process
servers: edits, undo and redo, the ``world.changed`` pushes, the event log, persistent worlds
(list, open, fork), a store that cannot be written, and edits that change the simulation."""

import os
import re

import numpy as np
import pytest
import zmq

from continuum.errors import ContinuumError
from continuum.physics import PhysicsConfig
from continuum.server.client import BridgeClient, RemoteError
from continuum.server.codec import Message, decode_message, encode_message
from continuum.server.protocol import PROTOCOL_VERSION, Limits
from continuum.world import StoreConfig, WorldStore
from tests.conftest import REPO

PLAYGROUND = REPO / "scenes" / "physics_playground"
N_HELLO = 7  # scenes/hello's entities: a new world's first seqs
MOVE = {"kind": "transform_set", "id": "cube", "transform": {"position": [3, 2, 1]}}
CRATE = {
    "id": "crate",
    "transform": {"position": [5, 0.25, 5]},
    "components": {
        "shape": {"type": "box", "size": [0.5, 0.5, 0.5]},
        "physics": {"mass": 1.0},
    },
}


def _client(server, **kw) -> BridgeClient:
    return BridgeClient(port=server.port, timeout_s=10, **kw)


def _error(c: BridgeClient, kind: str, header: dict | None = None) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        c.request(kind, header)
    return info.value


def _edit(c: BridgeClient, *events: dict) -> dict:
    return c.request("world.edit", {"events": list(events)}).header


def _no_push(c: BridgeClient, seconds: float = 0.3) -> bool:
    with pytest.raises(ContinuumError, match="no push"):
        c.push(timeout_s=seconds)
    return True


def _got(c: BridgeClient) -> dict:
    """``world.get``'s reply less its ``re``."""
    header = c.request("world.get").header
    del header["re"]
    return header


def _entities(c: BridgeClient) -> dict:
    return {e["id"]: e for e in c.request("world.get").header["entities"]}


class RawSession:
    """A DEALER that sees every message in arrival order (BridgeClient sets pushes aside)."""

    def __init__(self, port: int, *, hello: bool = True) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.next_id = 1
        if hello:
            self.send("hello", {"protocol": PROTOCOL_VERSION})
            assert self.receive().kind == "welcome"

    def send(self, kind: str, header: dict | None = None) -> int:
        rid, self.next_id = self.next_id, self.next_id + 1
        self.sock.send_multipart(encode_message(Message(kind, {**(header or {}), "id": rid})))
        return rid

    def receive(self, timeout_s: float = 10.0) -> Message:
        assert self.sock.poll(int(timeout_s * 1000)), "nothing came"
        return decode_message([f.buffer for f in self.sock.recv_multipart(copy=False)])

    def quiet(self, seconds: float = 0.3) -> bool:
        return not self.sock.poll(int(seconds * 1000))

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


@pytest.fixture
def persistent(server_factory, tmp_path):
    """scenes/hello served as the persistent world ``w`` of tmp_path/worlds."""
    return server_factory(worlds_dir=tmp_path / "worlds", world="w")


# -- world.get, edits and pushes -------------------------------------------------------------------


def test_world_get_describes_the_world(server, persistent):
    with _client(server) as c:
        reply = c.request("world.get").header
    assert reply["world"] == {
        "name": None,
        "persistent": False,
        "seq": N_HELLO,
        "tick": 0,
        "undo": 0,
        "redo": 0,
        "physics": None,
    }
    assert reply["scene"]["name"] == "hello" and len(reply["entities"]) == N_HELLO
    with _client(persistent) as c:
        described = c.request("world.get").header["world"]
    assert described["name"] == "w" and described["persistent"] is True
    assert described["seq"] == N_HELLO


def test_an_edit_is_answered_then_pushed_to_every_session(server):
    editor, other = RawSession(server.port), RawSession(server.port)
    stranger = RawSession(server.port, hello=False)  # no session: no pushes
    try:
        rid = editor.send("world.edit", {"events": [MOVE, {**MOVE, "id": "ball"}]})
        reply, push = editor.receive(), editor.receive()
        assert (reply.kind, reply.header["re"]) == ("world.edit", rid)  # the reply comes first
        assert reply.header["seq"] == N_HELLO + 2
        assert reply.header["world"]["seq"] == N_HELLO + 2 and reply.header["world"]["undo"] == 1
        assert push.kind == "world.changed" and "re" not in push.header
        assert [e["seq"] for e in push.header["events"]] == [N_HELLO + 1, N_HELLO + 2]
        event = push.header["events"][0]["event"]
        assert {k: event[k] for k in ("kind", "version", "id", "transform")} == {
            "kind": "transform_set",
            "version": 1,
            "id": "cube",
            "transform": {"position": [3.0, 2.0, 1.0]},
        }
        assert event["tick"] == 0 and event["time"] > 0
        assert push.header["seq"] == N_HELLO + 2 and push.header["world"] == reply.header["world"]
        assert other.receive().header == push.header  # the other session hears it too
        assert stranger.quiet()
        assert editor.quiet() and other.quiet()  # one push per change
    finally:
        for s in (editor, other, stranger):
            s.close()


def test_pushes_come_in_seq_order_from_every_editor(server):
    with _client(server) as a, _client(server) as b, _client(server) as watcher:
        for i in range(10):
            editor = a if i % 2 else b
            _edit(editor, {**MOVE, "transform": {"position": [i, 0, 0]}})
        seqs = []
        for _ in range(10):
            push = watcher.push()
            assert push.kind == "world.changed"
            seqs += [e["seq"] for e in push.header["events"]]
            assert push.header["seq"] == seqs[-1]
        assert seqs == list(range(N_HELLO + 1, N_HELLO + 11))
        assert _no_push(watcher)
        final = watcher.request("world.get").header
        assert _entities(watcher)["cube"]["transform"]["position"] == [9.0, 0.0, 0.0]
        assert final["world"]["seq"] == N_HELLO + 10


BAD_EDITS = [
    ({}, "bad_request", "world.edit.events"),
    ({"events": MOVE}, "bad_request", "world.edit.events"),
    ({"events": []}, "bad_request", "world.edit.events"),
    ({"events": [MOVE, 5]}, "bad_request", r"events\[1\] must be an object"),
    ({"events": [{"kind": "teleport", "id": "cube"}]}, "bad_request", r"events\[0\].kind"),
    ({"events": [{"id": "cube"}]}, "bad_request", r"events\[0\].kind"),
    ({"events": [MOVE, {"kind": "physics_set", "blob": {}}]}, "bad_request", "physics_set"),
    (
        {"events": [{"kind": "control_applied", "step": 1, "op": {"op": "pause"}}]},
        "bad_request",
        "control_applied",
    ),
    ({"events": [{"kind": "entity_added"}]}, "bad_request", r"events\[0\]: .*entity"),
    ({"events": [{**MOVE, "extra": 1}]}, "bad_request", "extra"),
    ({"events": [MOVE, {"kind": "entity_added", "entity": 5}]}, "conflict", "non-empty string id"),
    ({"events": [MOVE, {"kind": "entity_added", "entity": {"name": "x"}}]}, "conflict", "id"),
    ({"events": [MOVE, {**MOVE, "id": "nobody"}]}, "conflict", "no entity 'nobody'"),
    ({"events": [{**MOVE, "transform": {"position": [1, 2]}}]}, "conflict", "position"),
    ({"events": [{"kind": "entity_added", "entity": {"id": "ball"}}]}, "conflict", "exists"),
    ({"events": [{"kind": "entity_removed", "id": "pillar"}]}, "conflict", "children"),
    (
        {"events": [{"kind": "component_set", "id": "ball", "name": "splat", "value": {}}]},
        "conflict",
        "splat pack",
    ),
    (
        {
            "events": [
                {
                    "kind": "component_set",
                    "id": "ball",
                    "name": "splat",
                    "value": {"asset": "a" * 64},
                }
            ]
        },
        "not_found",
        "aaaa",
    ),
]


@pytest.mark.parametrize(("header", "code", "words"), BAD_EDITS)
def test_bad_edits_get_their_code_and_change_nothing(server, header, code, words):
    with _client(server) as c, _client(server) as watcher:
        before = _got(c)
        error = _error(c, "world.edit", header)
        assert error.code == code
        assert error.args[0].startswith(f"{code}: ")
        assert re.search(words, str(error)), str(error)
        assert _got(c) == before  # nothing applied, nothing logged
        assert _no_push(watcher, 0.2)
        assert _edit(c, MOVE)["seq"] == N_HELLO + 1  # and the server goes on


def test_too_many_events_is_too_large(server_factory):
    server = server_factory(limits=Limits(max_edit_events=4))
    with _client(server) as c:
        assert c.welcome["limits"]["max_edit_events"] == 4
        error = _error(c, "world.edit", {"events": [MOVE] * 5})
        assert error.code == "too_large" and "max_edit_events (4)" in str(error)
        assert _edit(c, *[MOVE] * 4)["seq"] == N_HELLO + 4


def test_undo_and_redo_over_the_bridge(server):
    with _client(server) as c, _client(server) as other:
        assert _error(c, "world.undo").code == "conflict"
        assert _error(c, "world.redo").code == "conflict"
        original = _entities(c)
        _edit(c, MOVE, {"kind": "entity_removed", "id": "sign"})
        edited = _entities(c)
        reply = c.request("world.undo").header
        assert reply["seq"] == N_HELLO + 4 and reply["events"] == 2
        assert (reply["world"]["undo"], reply["world"]["redo"]) == (0, 1)
        assert _entities(c) == original
        reply = other.request("world.redo").header  # one history, whoever edited
        assert reply["seq"] == N_HELLO + 6 and reply["events"] == 2
        assert (reply["world"]["undo"], reply["world"]["redo"]) == (1, 0)
        assert _entities(other) == edited
        pushes = [c.push() for _ in range(3)]
        assert [p.header["seq"] for p in pushes] == [N_HELLO + 2, N_HELLO + 4, N_HELLO + 6]
        undo_events = [e["event"]["kind"] for e in pushes[1].header["events"]]
        assert undo_events == ["entity_added", "transform_set"]
        assert _error(c, "world.redo").code == "conflict"


# -- the event log ---------------------------------------------------------------------------------


def test_world_events_pages_through_the_log(persistent):
    with _client(persistent) as c:
        for x in range(5):
            _edit(c, {**MOVE, "transform": {"position": [x, 0, 0]}})
        last = N_HELLO + 5
        page = c.request("world.events", {"after": 0, "limit": 3}).header
        assert [e["seq"] for e in page["events"]] == [1, 2, 3]
        assert page["more"] is True and page["seq"] == last
        assert page["events"][0]["event"]["kind"] == "entity_added"
        seen = page["events"]
        while page["more"]:
            page = c.request("world.events", {"after": seen[-1]["seq"], "limit": 4}).header
            seen += page["events"]
        assert [e["seq"] for e in seen] == list(range(1, last + 1))
        assert seen[-1]["event"]["transform"] == {"position": [4.0, 0.0, 0.0]}
        everything = c.request("world.events", {"after": 0}).header
        assert everything["events"] == seen and everything["more"] is False
        tail = c.request("world.events", {"after": last}).header
        assert tail == {"re": tail["re"], "events": [], "seq": last, "more": False}
        for header in (
            {},
            {"after": -1},
            {"after": "3"},
            {"after": 0, "limit": 0},
            {"after": 0, "limit": 1001},
            {"after": True},
        ):
            assert _error(c, "world.events", header).code == "bad_request", header


def test_big_changes_are_pushed_and_paged_under_the_header_limit(persistent):
    tags = ["t" * 50] * 12  # about 700 octets a tags_set event
    with _client(persistent) as c, _client(persistent) as watcher:
        reply = _edit(c, *[{"kind": "tags_set", "id": "cube", "tags": tags}] * 90)  # 62 kB
        pushes = []
        while not pushes or pushes[-1].header["seq"] < reply["seq"]:
            pushes.append(watcher.push(timeout_s=10))
        assert len(pushes) >= 2 and {p.kind for p in pushes} == {"world.changed"}
        assert all(len(encode_message(p)[1]) <= 65536 for p in pushes)
        seqs = [e["seq"] for p in pushes for e in p.header["events"]]
        assert seqs == list(range(reply["seq"] - 89, reply["seq"] + 1))
        assert [p.header["seq"] for p in pushes[:-1]] == [
            p.header["events"][-1]["seq"] for p in pushes[:-1]
        ]
        page = c.request("world.events", {"after": N_HELLO}).header
        assert page["more"] is True and 0 < len(page["events"]) < 90
        assert len(encode_message(Message("world.events", page))[1]) <= 65536


def test_world_events_is_unavailable_in_memory(server):
    with _client(server) as c:
        error = _error(c, "world.events", {"after": 0})
        assert error.code == "unavailable" and "world.get" in str(error)


# -- persistent worlds: list, open, fork -----------------------------------------------------------


def test_list_open_and_fork_worlds(persistent, tmp_path):
    root = tmp_path / "worlds"
    with _client(persistent) as c, _client(persistent) as other:
        _edit(c, MOVE)
        assert [s.push().kind for s in (c, other)] == ["world.changed"] * 2
        listed = c.request("world.list").header["worlds"]
        assert len(listed) == 1 and listed[0]["bytes"] > 0
        assert {k: v for k, v in listed[0].items() if k != "bytes"} == {
            "name": "w",
            "seq": N_HELLO + 1,
            "tick": 0,
            "entities": N_HELLO,
            "open": True,
        }
        error = _error(c, "world.open", {"name": "x"})
        assert error.code == "not_found" and "'x'" in str(error)
        for header in ({"name": ".x"}, {"name": "a/b"}, {"name": 5}, {"name": "x", "create": 1}):
            assert _error(c, "world.open", header).code == "bad_request", header
        assert _no_push(other, 0.1)

        reply = c.request("world.open", {"name": "x", "create": True}).header
        assert reply["world"]["name"] == "x" and reply["world"]["seq"] == N_HELLO
        for session in (c, other):
            reset = session.push()
            assert reset.kind == "world.reset" and reset.header["world"] == reply["world"]
        got = other.request("world.get").header
        assert got["world"]["name"] == "x" and got["world"]["undo"] == 0
        assert _entities(other)["cube"]["transform"]["position"] == [-1.5, 0.5, 0.0]
        assert c.request("world.open", {"name": "x"}).header["world"]["name"] == "x"  # served
        assert _no_push(other, 0.2)  # opening the world served changes nothing
        listed = {w["name"]: w for w in c.request("world.list").header["worlds"]}
        assert set(listed) == {"w", "x"} and listed["x"]["open"] and not listed["w"]["open"]
        assert listed["w"]["seq"] == N_HELLO + 1

        assert _error(c, "world.fork", {"name": "w"}).code == "conflict"
        assert _error(c, "world.fork", {"name": "-f"}).code == "bad_request"
        assert _error(c, "world.fork", {"name": "f", "at": -1}).code == "bad_request"
        assert _error(c, "world.fork", {"name": "f", "at": N_HELLO + 2}).code == "bad_request"
        _edit(c, {**MOVE, "id": "ball"})
        reply = c.request("world.fork", {"name": "early", "at": 3}).header
        assert (reply["name"], reply["seq"], reply["world"]["name"]) == ("early", 3, "x")
        with WorldStore.open(root, "early", read_only=True) as fork:
            assert fork.seq == 3 and len(fork.state().entities) == 3
        reply = c.request("world.fork", {"name": "now", "open": True}).header
        assert (reply["name"], reply["seq"]) == ("now", N_HELLO + 1)
        assert reply["world"]["name"] == "now" and reply["world"]["seq"] == N_HELLO + 1
        assert _entities(c)["ball"]["transform"]["position"] == [3.0, 2.0, 1.0]

        c.request("world.open", {"name": "w"})
        assert _entities(c)["cube"]["transform"]["position"] == [3.0, 2.0, 1.0]
        pushes = [other.push() for _ in range(3)]
        assert [p.kind for p in pushes] == ["world.changed", "world.reset", "world.reset"]
        assert [p.header["world"]["name"] for p in pushes] == ["x", "now", "w"]
        assert _no_push(other, 0.2)


def test_a_world_in_memory_is_forked_as_it_is(server_factory, tmp_path):
    server = server_factory(worlds_dir=tmp_path / "worlds")
    with _client(server) as c:
        _edit(c, MOVE)
        assert c.request("world.list").header["worlds"] == []
        error = _error(c, "world.fork", {"name": "f", "at": 2})
        assert error.code == "bad_request" and "not persistent" in str(error)
        reply = c.request("world.fork", {"name": "kept", "open": True}).header
        assert reply["world"]["name"] == "kept" and reply["world"]["persistent"] is True
        assert _entities(c)["cube"]["transform"]["position"] == [3.0, 2.0, 1.0]


def test_worlds_are_unavailable_without_a_worlds_folder(server):
    with _client(server) as c:
        for kind, header in (
            ("world.list", {}),
            ("world.open", {"name": "w", "create": True}),
            ("world.fork", {"name": "w"}),
        ):
            error = _error(c, kind, header)
            assert error.code == "unavailable" and "--worlds-dir" in str(error)


def test_a_world_another_backend_holds_is_a_conflict_naming_it(server_factory, tmp_path):
    root = tmp_path / "worlds"
    server_factory(worlds_dir=root, world="a")
    second = server_factory(worlds_dir=root, world="b")
    with _client(second) as c:
        error = _error(c, "world.open", {"name": "a"})
        assert error.code == "conflict"
        assert "'a'" in str(error) and f"process {os.getpid()}" in str(error)
        assert c.request("world.get").header["world"]["name"] == "b"  # still served
        names = {w["name"]: w["open"] for w in c.request("world.list").header["worlds"]}
        assert names == {"a": False, "b": True}  # listed, read-only, while the other holds it


# -- a store that cannot be written ----------------------------------------------------------------


def test_a_full_store_answers_store_failed_and_serves_on(server_factory, tmp_path):
    server = server_factory(
        worlds_dir=tmp_path / "worlds", world="w", store=StoreConfig(max_pages=40)
    )
    big = {f"c{j}": "x" * 3000 for j in range(3)}
    with _client(server) as c, _client(server) as watcher:
        acked = N_HELLO
        for i in range(200):
            # the log grows, the world does not (world.get's header stays under its limit)
            events = [
                {"kind": "entity_added", "entity": {"id": "tmp", "components": big}},
                {"kind": "entity_removed", "id": "tmp"},
                {"kind": "tags_set", "id": "cube", "tags": [f"n{i}"]},
            ]
            try:
                acked = _edit(c, *events)["seq"]
            except RemoteError as exc:
                assert exc.code == "store_failed" and "full" in str(exc), exc
                break
        else:
            pytest.fail("the store never filled up")
        assert acked > N_HELLO, "full from the start: nothing was tested"
        got = c.request("world.get").header
        assert got["world"]["seq"] == acked
        assert _entities(c)["cube"]["tags"] == [f"n{i - 1}"] and "tmp" not in _entities(c)
        last = c.request("world.events", {"after": acked - 1}).header
        assert [e["seq"] for e in last["events"]] == [acked] and last["seq"] == acked
        assert c.request("world.list").header["worlds"][0]["seq"] == acked
        pushes = [watcher.push() for _ in range(i)]
        assert pushes[-1].header["seq"] == acked and _no_push(watcher, 0.2)
        assert c.request("ping").kind == "pong"


# -- edits that change the simulation --------------------------------------------------------------


@pytest.fixture
def playground(server_factory):
    return server_factory(scene=PLAYGROUND, physics=PhysicsConfig(publish_hz=100.0))


def _frame_at(c: BridgeClient, layout: int, step: int) -> dict[str, np.ndarray]:
    """Poses by body from the first frame of ``layout`` taken at ``step`` or later."""
    ids = c.request("physics.layout").header
    assert ids["layout"] == layout
    for _ in range(500):
        frame = c.stream()
        if frame.header["layout"] == layout and frame.header["step"] >= step:
            return dict(zip(ids["ids"], frame.blobs[0], strict=True))
    raise AssertionError(f"no frame of layout {layout} at step {step} or later")


def test_edits_add_move_and_remove_bodies(playground):
    with _client(playground) as c:
        c.subscribe(["poses"])
        before = c.request("physics.layout").header
        assert "crate" not in before["ids"]
        reply = _edit(c, {"kind": "entity_added", "entity": CRATE})
        push = c.push()
        # the edit logged the simulation's new state too: the seqs of reply and push are past it
        assert [e["seq"] for e in push.header["events"]] == [reply["seq"] - 1]
        assert push.header["seq"] == push.header["world"]["seq"] == reply["seq"]
        layout = c.request("physics.layout").header
        assert layout["layout"] > before["layout"] and "crate" in layout["ids"]
        assert np.allclose(_frame_at(c, layout["layout"], 0)["crate"][:3], [5, 0.25, 5], atol=0.05)

        target = [-4.0, 0.25, -3.0]
        moved = _edit(
            c, {"kind": "transform_set", "id": "crate", "transform": {"position": target}}
        )
        pose = _frame_at(c, layout["layout"], moved["world"]["tick"])["crate"]
        assert np.allclose(pose[:3], target, atol=0.05), pose
        near = c.request("physics.query", {"type": "nearest", "point": target, "radius": 0.5})
        assert near.header["entity"] == "crate"
        far = c.request("physics.query", {"type": "nearest", "point": [5, 0.25, 5], "radius": 0.3})
        assert far.header["entity"] is None

        _edit(c, {"kind": "entity_removed", "id": "crate"})
        after = c.request("physics.layout").header
        assert after["layout"] > layout["layout"] and "crate" not in after["ids"]
        assert after["ids"] == before["ids"]
        error = _error(
            c, "physics.control", {"op": "teleport", "entity": "crate", "position": [0, 1, 0]}
        )
        assert error.code == "not_found"
        c.request("world.undo")  # the crate comes back where it was moved to
        again = c.request("physics.layout").header
        assert "crate" in again["ids"]
        pose = _frame_at(c, again["layout"], 0)["crate"]
        assert np.allclose(pose[:3], target, atol=0.05), pose


@pytest.mark.parametrize(
    ("events", "words"),
    [
        (
            [
                {
                    "kind": "entity_added",
                    "entity": {**CRATE, "components": {"physics": {"body": "x"}}},
                }
            ],
            "body",
        ),
        (
            [
                {"kind": "entity_added", "entity": CRATE},
                {"kind": "component_set", "id": "ball", "name": "physics", "value": {"mass": -1}},
            ],
            "mass",
        ),
        (
            [{"kind": "transform_set", "id": "ball", "transform": {"position": [2e4, 0, 0]}}],
            "position",
        ),
    ],
    ids=["bad-body", "second-refused", "too-far"],
)
def test_edits_the_simulation_refuses_change_nothing(playground, events, words):
    with _client(playground) as c:
        before, layout = c.request("world.get").header, c.request("physics.layout").header
        error = _error(c, "world.edit", {"events": events})
        assert error.code == "bad_request" and words in str(error), error
        assert c.request("world.get").header["world"] == before["world"]
        assert c.request("physics.layout").header["ids"] == layout["ids"]
        ball = c.request("physics.query", {"type": "nearest", "point": [0, 0.12, 2], "radius": 0.2})
        assert ball.header["entity"] == "ball"
        added = _edit(c, {"kind": "entity_added", "entity": CRATE})  # with its physics state
        assert added["seq"] == before["world"]["seq"] + 2


def test_a_full_store_leaves_the_simulation_as_it_was(server_factory, tmp_path):
    server = server_factory(
        scene=PLAYGROUND,
        worlds_dir=tmp_path / "worlds",
        world="p",
        store=StoreConfig(max_pages=120),
    )
    big = "x" * 3000
    with _client(server) as c:
        for i in range(400):
            events = [
                {"kind": "component_set", "id": "sun", "name": f"c{i}.{j}", "value": big}
                for j in range(3)
            ]
            try:
                _edit(c, *events)
            except RemoteError as exc:
                assert exc.code == "store_failed", exc
                break
        else:
            pytest.fail("the store never filled up")
        assert i > 0, "full from the start: nothing was tested"
        before = c.request("physics.layout").header
        error = _error(c, "world.edit", {"events": [{"kind": "entity_added", "entity": CRATE}]})
        assert error.code == "store_failed"
        assert c.request("physics.layout").header["ids"] == before["ids"]  # the crate is gone
        near = c.request("physics.query", {"type": "nearest", "point": [5, 0.25, 5], "radius": 0.3})
        assert near.header["entity"] is None
        ball = c.request("physics.query", {"type": "nearest", "point": [0, 0.12, 2], "radius": 0.2})
        assert ball.header["entity"] == "ball"


def test_a_persistent_physics_world_lists_only_entity_events(server_factory, tmp_path):
    server = server_factory(scene=PLAYGROUND, worlds_dir=tmp_path / "worlds", world="p")
    with _client(server) as c:
        # each edit logs the simulation's state after it: an entity event, then a backend one
        added = _edit(c, {"kind": "entity_added", "entity": CRATE})["seq"]
        moved = _edit(
            c, {"kind": "transform_set", "id": "crate", "transform": {"position": [1, 2, 3]}}
        )["seq"]
        assert moved == added + 2
        page = c.request("world.events", {"after": 0}).header
        assert [e["seq"] for e in page["events"]][-2:] == [added - 1, moved - 1]
        assert page["seq"] == moved and page["more"] is False
        with WorldStore.open(tmp_path / "worlds", "p", read_only=True) as store:
            kinds = [e.kind for _, e in store.events(after=added - 2)]
        assert kinds == ["entity_added", "physics_set", "transform_set", "control_applied"]
        assert c.request("world.get").header["world"]["physics"] == {
            "dt": 0.002,
            "publish_hz": 90.0,
        }


def _roll_ball(c: BridgeClient) -> int:
    """Push the playground's ball along +x; returns the step once it has rolled 0.3 m."""
    ball = c.request("physics.layout").header["ids"].index("ball")
    c.request("physics.control", {"op": "impulse", "entity": "ball", "impulse": [6, 0, 0]})
    c.subscribe(["poses"])
    while (frame := c.stream()).blobs[0][ball][0] < 0.3:
        pass
    return frame.header["step"]


def test_forking_a_world_in_memory_keeps_its_simulation(server_factory, tmp_path):
    server = server_factory(scene=PLAYGROUND, worlds_dir=tmp_path / "worlds")
    with _client(server) as c:
        step = _roll_ball(c)
        reply = c.request("world.fork", {"name": "f", "open": True}).header
        assert reply["world"]["name"] == "f" and reply["world"]["tick"] >= step
    with WorldStore.open(tmp_path / "worlds", "f", read_only=True) as fork:
        assert fork.state().physics is not None and fork.state().tick >= step
    with _client(server) as c:  # a new subscriber: the fork's frames only
        ids = c.request("physics.layout").header["ids"]
        c.subscribe(["poses"])
        frame = c.stream()
    assert frame.header["step"] >= step  # the fork's simulation went on from where it was
    assert frame.blobs[0][ids.index("ball")][0] >= 0.3, frame.blobs[0][ids.index("ball")]


def test_a_physics_save_due_at_world_open_stays_with_its_world(server_factory, tmp_path):
    """The periodic save of the simulation can wait in the worker behind a world.open: it must
    not log the old world's physics into the new world (whose tick would jump ahead)."""
    server = server_factory(
        scene=PLAYGROUND, worlds_dir=tmp_path / "worlds", world="a", physics_save_s=0.002
    )
    with _client(server) as c:
        c.subscribe(["poses"])
        while c.stream().header["step"] < 400:  # ticks a new world takes a while to reach
            pass
        c.request("world.open", {"name": "b", "create": True})
        c.request("world.list")  # the worker has run what was queued behind the open
        tick = c.request("world.get").header["world"]["tick"]
        assert tick <= server.simulation.step_count, "b's log holds a's physics"
        with WorldStore.open(tmp_path / "worlds", "b", read_only=True) as store:
            assert store.state().tick <= server.simulation.step_count
