"""Physics over the bridge (PROTOCOL.md section 12) through real pyzmq clients against in-process
servers that own a real simulation."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zmq

from continuum.errors import ContinuumError
from continuum.physics import PhysicsConfig
from continuum.server.app import Server, ServerConfig, serve_in_thread
from continuum.server.client import BridgeClient, RemoteError
from continuum.server.codec import Message, decode_message, encode_message
from continuum.server.protocol import Limits
from continuum.world import Entity, Scene, Transform

HZ = 100.0
BODIES = ("ball", "box", "far")


def _scene() -> Scene:
    """A floor, a ball dropped from 3 m, a box resting on the floor, and a ball far away."""

    def body(id: str, position, shape: dict, **physics: object) -> Entity:
        return Entity(
            id, id, Transform(position=position), components={"shape": shape, "physics": physics}
        )

    return Scene(
        "physics-test",
        "",
        (
            body("floor", (0, 0, 0), {"type": "plane", "size": [40, 40]}, body="static"),
            body("ball", (0, 3, 0), {"type": "sphere", "radius": 0.2}, mass=1.0),
            body("box", (2, 0.25, 0), {"type": "box", "size": [0.5, 0.5, 0.5]}, mass=2.0),
            body("far", (-8, 0.2, -8), {"type": "sphere", "radius": 0.2}, mass=1.0),
            Entity("sun", "sun", components={"light": {"type": "directional"}}),
        ),
    )


@pytest.fixture
def start() -> Iterator:
    """Start servers of the physics scene: ``start(**ServerConfig fields)``."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def run(scene: Scene | None = None, **overrides: object) -> Server:
            overrides.setdefault("physics", PhysicsConfig(publish_hz=HZ))
            config = ServerConfig(port=0, **overrides)  # type: ignore[arg-type]
            return stack.enter_context(serve_in_thread(config, scene or _scene()))

        yield run


@pytest.fixture
def server(start) -> Server:
    return start()


def _client(server: Server, **kw) -> BridgeClient:
    return BridgeClient(port=server.port, timeout_s=10, **kw)


def _control(c: BridgeClient, **op: object) -> dict:
    return c.request("physics.control", op).header


def _frames(c: BridgeClient, n: int) -> list[Message]:
    return [c.stream() for _ in range(n)]


def _pose(c: BridgeClient, entity: str, *, after: float = -1.0) -> np.ndarray:
    """The pose of ``entity`` in the next frame sent after backend time ``after``."""
    ids = c.request("physics.layout").header["ids"]
    while True:
        frame = c.stream()
        if frame.header["t"] > after:
            return frame.blobs[0][ids.index(entity)].copy()


def _error(c: BridgeClient, kind: str, header: dict) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        c.request(kind, header)
    return info.value


def _alive(server: Server, c: BridgeClient) -> None:
    """The server answers and the simulation still steps."""
    before = server.simulation.sim_time
    assert c.request("ping").kind == "pong"
    deadline = time.monotonic() + 5
    while server.simulation.sim_time <= before:
        assert time.monotonic() < deadline, "the simulation stopped stepping"
        time.sleep(0.01)


# -- handshake and layout ----------------------------------------------------------------------


def test_welcome_announces_physics(server):
    with _client(server) as c:
        w = c.welcome
    assert w["protocol"] == "1.7"
    assert w["physics"] == {"dt": 0.002, "publish_hz": HZ}
    assert {"physics.layout", "physics.control", "physics.query"} <= set(w["capabilities"])
    assert w["limits"]["max_pending"] == 64


def test_layout_names_the_streamed_bodies(server):
    with _client(server) as c:
        reply = c.request("physics.layout").header
    version, ids = server.simulation.layout()
    assert reply == {"re": reply["re"], "layout": version, "ids": list(ids)}
    assert set(ids) == set(BODIES)  # the static floor and the light are not bodies


def test_a_scene_without_physics_serves_none(start):
    from continuum.world import load_scene
    from tests.conftest import HELLO

    server = start(load_scene(HELLO), physics=None)
    assert server.simulation is None
    with _client(server) as c:
        assert "physics" not in c.welcome
        assert not any(k.startswith("physics.") for k in c.welcome["capabilities"])
        for kind in ("physics.layout", "physics.control", "physics.query"):
            assert _error(c, kind, {"op": "pause", "type": "ray"}).code == "unknown_kind"
        with pytest.raises(RemoteError, match=r"unknown stream topics \['poses'\]"):
            c.subscribe(["poses"])
        assert c.subscribe(["tick"]).header["seq"].keys() == {"tick"}


def test_a_scene_with_only_an_mjcf_model_has_physics(start, tmp_path):
    from continuum.world import load_scene

    (tmp_path / "model.xml").write_text(
        '<mujoco><worldbody><body name="pendulum" pos="0 0 1"><joint type="hinge" axis="0 1 0"/>'
        '<geom type="capsule" size="0.05" fromto="0 0 0 0 0 -0.5"/></body></worldbody></mujoco>'
    )
    (tmp_path / "scene.json").write_text(
        '{"format": "continuum.scene", "version": 1, "name": "mjcf-only", "entities": [], '
        '"mjcf": "model.xml"}'
    )
    server = start(load_scene(tmp_path))
    with _client(server) as c:
        assert c.welcome["physics"]["publish_hz"] == HZ
        assert c.request("physics.layout").header["ids"] == ["mjcf/pendulum"]
        c.subscribe(["poses"])
        assert c.stream().blobs[0].shape == (1, 7)


# -- the poses stream --------------------------------------------------------------------------


def test_poses_stream_at_publish_hz_in_order(server):
    with _client(server) as c:
        reply = c.subscribe(["poses"])
        assert reply.header["seq"]["poses"] >= 0
        ids = c.request("physics.layout").header["ids"]
        start = time.monotonic()
        frames = _frames(c, 50)
        seconds = time.monotonic() - start
    seqs = [f.header["seq"] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + 50))  # loopback drops nothing
    # 49 intervals of 10 ms; a loose bound (timings are not asserted, the rate is behaviour)
    assert 0.2 < seconds < 3.0
    for f in frames:
        assert f.header["blobs"] == [{"dtype": "f32", "shape": [len(ids), 7]}]
        assert f.blobs[0].dtype == np.dtype("<f4")
        assert set(f.header) == {"seq", "t", "sim_time", "step", "layout", "blobs"}
        assert f.header["layout"] == frames[0].header["layout"]
        quats = f.blobs[0][:, 3:]
        np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-5)
    times = [f.header["sim_time"] for f in frames]
    assert times == sorted(times) and times[-1] > times[0]
    assert all(a.header["t"] < b.header["t"] for a, b in itertools.pairwise(frames))
    # glTF axes: the dropped ball falls along -y, the far ball rests at its height
    ball = [f.blobs[0][ids.index("ball")] for f in frames]
    assert ball[-1][1] < ball[0][1] < 3.0
    assert abs(ball[-1][0]) < 1e-3 and abs(ball[-1][2]) < 1e-3
    far = frames[-1].blobs[0][ids.index("far")]
    np.testing.assert_allclose(far[:3], [-8, 0.2, -8], atol=5e-3)


def test_frames_are_the_simulations_snapshots(server):
    with _client(server) as c:
        c.subscribe(["poses"])
        paused = _control(c, op="pause")
        snapshot = server.simulation.poses()
        assert snapshot.step == paused["step"]
        frames = [f for f in _frames(c, 10) if f.header["step"] == snapshot.step]
    assert len(frames) >= 5  # every frame after the pause shows the same snapshot
    for f in frames:
        assert f.header["sim_time"] == pytest.approx(snapshot.sim_time)
        assert f.header["layout"] == snapshot.layout
        np.testing.assert_array_equal(f.blobs[0], snapshot.poses)


# -- controls ----------------------------------------------------------------------------------


def test_teleport_shows_in_the_next_frames(server):
    with _client(server) as c:
        c.subscribe(["poses"])
        _control(c, op="set", gravity=[0, 0, 0])
        rotation = [0, np.sin(0.25), 0, np.cos(0.25)]
        reply = _control(c, op="teleport", entity="far", position=[-6, 1.5, -7], rotation=rotation)
        assert set(reply) >= {"re", "sim_time", "step"}
        pose = _pose(c, "far", after=c.request("ping").header["t"])
    np.testing.assert_allclose(pose[:3], [-6, 1.5, -7], atol=1e-3)
    assert abs(abs(float(np.dot(pose[3:], rotation))) - 1) < 1e-5


def test_grab_move_release_throw(server):
    with _client(server) as c:
        c.subscribe(["poses"])
        # The body keeps the offset from the target it had when grabbed: grab at its origin.
        target = {"position": [2, 0.25, 0]}
        assert _control(c, op="grab", entity="box", target=target)["grab"] == "box"
        _control(c, op="move", entity="box", target={"position": [2, 1.5, 0.5]})
        time.sleep(0.5)
        held = _pose(c, "box", after=c.request("ping").header["t"])
        np.testing.assert_allclose(held[:3], [2, 1.5, 0.5], atol=0.05)
        _control(c, op="release", entity="box", velocity=[0, 0, -3])
        time.sleep(0.2)
        thrown = _pose(c, "box", after=c.request("ping").header["t"])
    assert thrown[2] < 0.3  # it left towards -z


def test_impulse_force_and_parameters(server):
    with _client(server) as c:
        c.subscribe(["poses"])
        _control(c, op="set", gravity=[0, 0, 0])
        start = _pose(c, "far")
        _control(c, op="impulse", entity="far", impulse=[1.0, 0, 0], point=[-8, 0.2, -8])
        _control(c, op="force", entity="far", force=[0, 0, 2.0], point=[-8, 0.2, -8], duration=0.1)
        for field, value in (
            ("mass", 3.0),
            ("friction", 0.3),
            ("restitution", 0.5),
            ("damping", 0),
        ):
            _control(c, op="set", entity="ball", **{field: value})
        time.sleep(0.3)
        moved = _pose(c, "far", after=c.request("ping").header["t"])
    assert moved[0] > start[0] + 0.05 and moved[2] > start[2]


def test_pause_step_resume(server):
    with _client(server) as c:
        paused = _control(c, op="pause")
        time.sleep(0.1)
        assert _control(c, op="step", count=0 + 5)["step"] == paused["step"] + 5
        stepped = _control(c, op="step")
        assert stepped["step"] == paused["step"] + 6
        assert stepped["sim_time"] == pytest.approx(paused["sim_time"] + 6 * 0.002)
        _control(c, op="resume")
        _alive(server, c)


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ({"op": "teleport", "entity": "ball", "position": [0, 1]}, "position"),
        ({"op": "teleport", "entity": "ball", "position": [0, "1", 0]}, "position"),
        ({"op": "teleport", "entity": "ball", "position": [1e9, 0, 0]}, "position"),
        ({"op": "teleport", "entity": "ball"}, "position"),
        (
            {"op": "teleport", "entity": "ball", "position": [0, 1, 0], "rotation": [0, 0, 0, 0]},
            "rotation",
        ),
        (
            {"op": "teleport", "entity": "ball", "position": [0, 1, 0], "velocity": [1e6, 0, 0]},
            "velocity",
        ),
        (
            {"op": "impulse", "entity": "ball", "impulse": [1e12, 0, 0], "point": [0, 0, 0]},
            "impulse",
        ),
        ({"op": "set", "entity": "ball", "mass": -1}, "mass"),
        ({"op": "set", "entity": "ball", "restitution": 2}, "restitution"),
        ({"op": "set", "gravity": [0, None, 0]}, "gravity"),
        ({"op": "warp", "entity": "ball"}, "op"),
        ({"entity": "ball"}, "op"),
        ({"op": 5}, "op"),
    ],
)
def test_bad_controls_are_refused_and_the_simulation_runs_on(server, op, field):
    with _client(server) as c:
        error = _error(c, "physics.control", op)
        assert error.code == "bad_request"
        assert field in str(error)
        _alive(server, c)


def test_unknown_entities_are_not_found(server):
    with _client(server) as c:
        for op in (
            {"op": "teleport", "entity": "ghost", "position": [0, 1, 0]},
            {"op": "grab", "entity": "ghost", "target": {"position": [0, 1, 0]}},
            {"op": "impulse", "entity": "ghost", "impulse": [1, 0, 0], "point": [0, 0, 0]},
            {"op": "set", "entity": "ghost", "mass": 1},
        ):
            error = _error(c, "physics.control", op)
            assert error.code == "not_found" and op["entity"] in str(error)
        static = {"op": "teleport", "entity": "floor", "position": [0, 1, 0]}
        assert _error(c, "physics.control", static).code == "bad_request"  # it never moves
        assert _error(c, "physics.query", {"type": "contacts", "entity": "ghost"}).code == (
            "not_found"
        )
        _alive(server, c)


def test_infinity_over_the_wire_is_refused(server):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{server.port}")
    try:
        sock.send_multipart(encode_message(Message("hello", {"id": 1, "protocol": "1.2"})))
        assert sock.poll(5000)
        sock.recv_multipart()
        header = b'{"id":2,"op":"teleport","entity":"ball","position":[0,1e999,0]}'
        sock.send_multipart([b"physics.control", header])
        assert sock.poll(5000)
        error = decode_message(sock.recv_multipart())
        assert (error.kind, error.header["code"], error.header["re"]) == ("error", "bad_request", 2)
        assert "position" in error.header["message"]
    finally:
        sock.close()


def test_pending_physics_requests_are_bounded(start):
    server = start(limits=Limits(max_pending=2))
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{server.port}")

    def send(kind: str, **header: object) -> None:
        sock.send_multipart(encode_message(Message(kind, header)))

    def answer() -> Message:
        assert sock.poll(30000), "no answer"
        return decode_message(sock.recv_multipart())

    try:
        send("hello", id=0, protocol="1.2")
        send("physics.control", id=1, op="pause")
        assert [answer().kind for _ in range(2)] == ["welcome", "physics.control"]
        # 100,000 steps keep the physics worker busy while the next requests arrive
        send("physics.control", id=2, op="step", count=100_000)
        for i in range(3, 8):
            send("physics.query", id=i, type="contacts")
        send("ping", id=8)  # other kinds are answered meanwhile
        answers = [answer() for _ in range(7)]
    finally:
        sock.close()
    first = answers[0]
    assert first.kind == "error" and first.header["code"] == "busy" and first.header["re"] == 4
    assert "max_pending" in first.header["message"]
    by_id = {m.header["re"]: m for m in answers}
    assert [by_id[i].header.get("code") for i in (4, 5, 6, 7)] == ["busy"] * 4
    assert by_id[8].kind == "pong"
    assert (by_id[2].kind, by_id[3].kind) == ("physics.control", "physics.query")
    assert answers.index(by_id[2]) < answers.index(by_id[3])  # in order, once the steps are done


# -- queries -----------------------------------------------------------------------------------


def test_ray_contacts_and_nearest(server):
    with _client(server) as c:
        _control(c, op="pause")
        ray = c.request(
            "physics.query", {"type": "ray", "origin": [2, 5, 0], "direction": [0, -1, 0]}
        ).header
        assert ray["hit"] is True and ray["entity"] == "box"
        np.testing.assert_allclose(ray["point"], [2, 0.5, 0], atol=0.02)
        np.testing.assert_allclose(ray["normal"], [0, 1, 0], atol=1e-3)
        assert ray["distance"] == pytest.approx(4.5, abs=0.02)
        miss = c.request(
            "physics.query",
            {"type": "ray", "origin": [0, 5, 0], "direction": [0, 1, 0], "max_distance": 10},
        ).header
        assert miss["hit"] is False
        contacts = c.request("physics.query", {"type": "contacts", "entity": "box"}).header
        assert contacts["contacts"] and all("box" in (k["a"], k["b"]) for k in contacts["contacts"])
        near = c.request(
            "physics.query", {"type": "nearest", "point": [-8, 0.7, -8], "radius": 1}
        ).header
        assert near["entity"] == "far" and near["distance"] == pytest.approx(0.3, abs=0.02)
        nothing = c.request(
            "physics.query", {"type": "nearest", "point": [10, 10, 10], "radius": 0.5}
        ).header
        assert nothing["entity"] is None
        for bad, field in (
            ({"type": "ray", "origin": [0, 1], "direction": [0, -1, 0]}, "origin"),
            ({"type": "ray", "origin": [0, 1, 0], "direction": [0, 0, 0]}, "direction"),
            ({"type": "nearest", "point": [0, 0, 0], "radius": -1}, "radius"),
            ({"type": "volume"}, "type"),
            ({}, "type"),
        ):
            error = _error(c, "physics.query", bad)
            assert error.code == "bad_request" and field in str(error)


# -- events ------------------------------------------------------------------------------------


def test_divergence_is_pushed_to_every_session(start):
    # A body faster than max_speed counts as diverged: a ball dropped from 3 m passes 2 m/s
    # after 0.2 s, is reset to its last good pose at rest, and goes on falling.
    server = start(physics=PhysicsConfig(publish_hz=HZ, max_speed=2.0))
    with _client(server) as a, _client(server) as b:
        events = [c.push(timeout_s=10) for c in (a, b)]
        for event in events:
            assert event.kind == "physics.event" and "re" not in event.header
            assert event.header["kind"] == "diverged"
            assert event.header["entities"] == ["ball"]
            assert event.header["sim_time"] > 0 and event.header["message"]
        _alive(server, a)
    assert server.stats["physics_events"] >= 1


# -- many clients ------------------------------------------------------------------------------


def test_many_clients_control_and_stream_at_once(server):
    failures: list[BaseException] = []
    counts: list[int] = []

    def client(i: int) -> None:
        try:
            with _client(server) as c:
                c.subscribe(["poses"])
                for k in range(20):
                    _control(c, op="impulse", entity=BODIES[i % 3], impulse=[0, 0.01, 0])
                    if k % 5 == 0:
                        c.request("physics.query", {"type": "contacts"})
                counts.append(len(_frames(c, 10)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[0]
    assert counts == [10] * 12
    with _client(server) as c:
        _alive(server, c)


def test_the_server_owns_the_simulation():
    config = ServerConfig(port=0, physics=PhysicsConfig(publish_hz=HZ))
    with serve_in_thread(config, _scene()) as server:
        sim = server.simulation
        deadline = time.monotonic() + 5
        while sim.sim_time == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    stopped = sim.sim_time
    time.sleep(0.1)
    assert sim.sim_time == stopped  # closed with the server


def test_bad_publish_rate_is_refused():
    with pytest.raises(ContinuumError, match="publish_hz"):
        Server(ServerConfig(port=0, physics=PhysicsConfig(publish_hz=5000)), _scene())
