"""Persistent worlds served by real ``continuum serve`` processes: kill -9 during a burst of edits
keeps every acknowledged edit, a restarted physics world goes on where it was, two backends never
share a world, and a world that cannot be written is a clear error."""

import concurrent.futures
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import zmq

from continuum.server.app import ServerConfig, serve_in_thread
from continuum.server.client import BridgeClient, RemoteError
from continuum.server.codec import Message, decode_message, encode_message
from continuum.server.process import BackendProcess
from continuum.server.protocol import PROTOCOL_VERSION
from continuum.world import TransformSet, WorldState, WorldStore, apply, load_scene
from tests.conftest import HELLO, REPO
from tests.permissions import bound_by_permissions

PLAYGROUND = REPO / "scenes" / "physics_playground"
KILLS = 20
WINDOW = 16  # edits in flight (under max_pending)


def _serve(root: Path, world: str, scene: Path = HELLO) -> BackendProcess:
    return BackendProcess(scene, extra=["--worlds-dir", str(root), "--world", world])


def _command(root: Path, world: str, scene: Path = HELLO) -> list[str]:
    return [
        sys.executable,
        "-m",
        "continuum",
        "serve",
        "--port",
        "0",
        "--scene",
        str(scene),
        "--worlds-dir",
        str(root),
        "--world",
        world,
    ]


# -- kill -9 during a burst of edits ---------------------------------------------------------------


class _Session:
    """A DEALER session that keeps several requests in flight."""

    def __init__(self, port: int) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(f"tcp://127.0.0.1:{port}")
        self.next_id = 0
        self.send("hello", {"protocol": PROTOCOL_VERSION})
        assert self.receive(10.0).kind == "welcome"

    def send(self, kind: str, header: dict) -> int:
        self.next_id += 1
        message = Message(kind, {**header, "id": self.next_id})
        self.sock.send_multipart(encode_message(message), flags=zmq.NOBLOCK)
        return self.next_id

    def receive(self, timeout_s: float) -> Message | None:
        if not self.sock.poll(int(timeout_s * 1000)):
            return None
        return decode_message([f.buffer for f in self.sock.recv_multipart(copy=False)])

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def _burst(backend: BackendProcess, session: _Session, round_no: int, kill_after_s: float):
    """Move the cube with one edit per request, WINDOW in flight, until the backend is killed
    ``kill_after_s`` into the burst. Returns the positions sent, in order, and the seqs the
    backend acknowledged (a reply or a push) with the position each one set."""
    sent: list[list[float]] = []
    by_id: dict[int, list[float]] = {}
    acked: dict[int, list[float]] = {}
    killer = threading.Timer(kill_after_s, backend.proc.kill)
    killer.start()
    in_flight = 0
    try:
        while backend.proc.poll() is None:
            while in_flight < WINDOW:
                position = [float(round_no), float(len(sent)), 0.5]
                try:
                    rid = session.send("world.edit", {"events": [_move(position)]})
                except zmq.Again:
                    break
                sent.append(position)
                by_id[rid] = position
                in_flight += 1
            message = session.receive(0.05)
            while message is not None:
                if message.kind == "world.edit":
                    acked[message.header["seq"]] = by_id[message.header["re"]]
                    in_flight -= 1
                elif message.kind == "world.changed":
                    for entry in message.header["events"]:
                        acked[entry["seq"]] = entry["event"]["transform"]["position"]
                else:
                    pytest.fail(f"unexpected answer {message.kind}: {message.header}")
                message = session.receive(0.0)
        while (message := session.receive(0.2)) is not None:  # what was sent before it died
            if message.kind == "world.edit":
                acked[message.header["seq"]] = by_id[message.header["re"]]
    finally:
        killer.cancel()
    return sent, acked


def _move(position: list[float]) -> dict:
    return {"kind": "transform_set", "id": "cube", "transform": {"position": position}}


def _kill_rounds(root: Path, world: str, rounds: int, seed: int) -> int:
    """Serve ``world``, edit, kill -9, check the store; ``rounds`` times. Returns how many
    edits the backends acknowledged."""
    rng = random.Random(seed)
    total_acked = 0
    seq = len(load_scene(HELLO).entities)  # the world's seq, as stored
    cube = list(load_scene(HELLO).entity("cube").transform.position)
    for round_no in range(rounds):
        backend = _serve(root, world)
        session = _Session(backend.port)
        try:
            # the world opens after every kill, as it was stored
            session.send("world.get", {})
            got = session.receive(10.0)
            assert got.kind == "world", got.header
            assert got.header["world"]["seq"] == seq
            served = {e["id"]: e for e in got.header["entities"]}
            assert served["cube"]["transform"]["position"] == cube
            sent, acked = _burst(backend, session, round_no, rng.uniform(0.0, 0.3))
        finally:
            session.close()
            backend.kill()
        assert backend.proc.returncode == -signal.SIGKILL, backend.log[-10:]
        total_acked += len(acked)

        with WorldStore.open(root, world) as store:
            assert store.seq >= max(acked, default=seq)
            stored = list(store.events(after=seq))
            # the events stored are the edits sent, in order, up to some not acknowledged yet
            assert [n for n, _ in stored] == list(range(seq + 1, store.seq + 1))
            assert all(isinstance(e, TransformSet) and e.id == "cube" for _, e in stored)
            positions = [e.transform["position"] for _, e in stored]
            assert len(positions) >= len(acked) and positions == sent[: len(positions)]
            for n, position in acked.items():
                assert positions[n - seq - 1] == position, n
            cube = positions[-1] if positions else cube
            assert store.state().entities["cube"]["transform"]["position"] == cube
            reference = WorldState()
            for _, event in store.events():
                reference = apply(reference, event)
            assert reference.entities == store.state().entities
            seq = store.seq
    return total_acked


def test_acknowledged_edits_survive_kill_9_of_the_backend(tmp_path):
    """KILLS rounds in all, on two worlds at once (each round waits mostly for a start)."""
    root = tmp_path / "worlds"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(_kill_rounds, root, f"w{i}", KILLS // 2, i) for i in range(2)]
        acked = [run.result() for run in runs]
    assert min(acked) >= KILLS // 2, "the backends acknowledged too little to test anything"


# -- a physics world restarted ---------------------------------------------------------------------


def _frames(c: BridgeClient, ids: list[str], *, min_steps: int = 0) -> tuple[int, np.ndarray]:
    """The step and positions [N, 3] of a frame ``min_steps`` after the next one."""
    first = c.stream()
    frame = first
    while frame.header["step"] < first.header["step"] + min_steps:
        frame = c.stream()
    assert len(frame.blobs[0]) == len(ids)
    return frame.header["step"], frame.blobs[0][:, :3].copy()


def test_a_restarted_physics_world_goes_on_where_it_was(tmp_path):
    root = tmp_path / "worlds"
    start = {e.id: e.transform.position for e in load_scene(PLAYGROUND).entities}
    with _serve(root, "p", PLAYGROUND) as backend:
        with BridgeClient(port=backend.port, timeout_s=10) as c:
            dt = c.welcome["physics"]["dt"]
            ids = c.request("physics.layout").header["ids"]
            c.subscribe(["poses"])
            c.request("physics.control", {"op": "impulse", "entity": "ball", "impulse": [6, 0, 0]})
            # three frames 0.1 s apart: the ball rolls at about 1.4 m/s, the boxes rest
            step_a, at_a = _frames(c, ids, min_steps=100)
            _, at_m = _frames(c, ids, min_steps=50)
            step_b, at_b = _frames(c, ids, min_steps=50)
        assert backend.stop() == 0, backend.log[-10:]
    ball = ids.index("ball")
    velocity = (at_b[ball] - at_a[ball]) / ((step_b - step_a) * dt)
    assert velocity[0] > 0.5 and at_b[ball][0] - start["ball"][0] > 0.2
    resting = [  # where three frames agree (a body in flight or rolling moves between them)
        i
        for i in range(len(ids))
        if max(np.linalg.norm(at_a[i] - at_m[i]), np.linalg.norm(at_m[i] - at_b[i])) < 0.002
    ]
    assert {ids[i] for i in resting} >= {f"box-{n}" for n in range(1, 7)}
    with WorldStore.open(root, "p", read_only=True) as store:
        saved = store.state()
    assert saved.physics is not None and saved.tick >= step_b

    with (
        _serve(root, "p", PLAYGROUND) as backend,
        BridgeClient(port=backend.port, timeout_s=10) as c,
    ):
        assert c.request("physics.layout").header["ids"] == ids
        c.subscribe(["poses"])
        step, at = _frames(c, ids)
        world = c.request("world.get").header["world"]
    assert step >= saved.tick >= step_b  # the simulation went on, it did not start over
    elapsed = (step - step_b) * dt
    for i, body in enumerate(ids):
        moved = np.linalg.norm(at[i] - at_b[i])
        if i in resting:
            assert moved < 0.02, (body, at_b[i], at[i])  # at rest where it was
        else:  # no body of this scene reaches 10 m/s
            assert moved <= 10 * elapsed + 0.05, (body, at_b[i], at[i], elapsed)
    expected = at_b[ball] + velocity * elapsed  # rolling on, on the flat floor
    assert np.linalg.norm(at[ball] - expected) < 0.1, (at[ball], expected)
    assert at[ball][0] - start["ball"][0] > 0.2  # pushed, and still pushed
    assert world["name"] == "p" and world["physics"] is not None


# -- two backends, one world -----------------------------------------------------------------------


def test_two_backends_never_serve_one_world(tmp_path):
    root = tmp_path / "worlds"
    with _serve(root, "w") as first:
        second = subprocess.run(
            _command(root, "w"), capture_output=True, text=True, timeout=30, cwd=REPO
        )
        assert second.returncode == 1, second.stderr
        assert "world 'w'" in second.stderr and f"process {first.proc.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        config = ServerConfig(port=0, worlds_dir=root, world="other")
        with (
            serve_in_thread(config, load_scene(HELLO)) as server,
            BridgeClient(port=server.port, timeout_s=10) as c,
        ):
            with pytest.raises(RemoteError) as info:
                c.request("world.open", {"name": "w"})
            assert info.value.code == "conflict"
            assert "'w'" in str(info.value) and f"process {first.proc.pid}" in str(info.value)
            assert c.request("world.get").header["world"]["name"] == "other"
            first.stop()  # the lock goes with the process
            assert c.request("world.open", {"name": "w"}).header["world"]["name"] == "w"


# -- a world that cannot be written ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("writable", "words"),
    [
        ((), "cannot open .*world.lock for writing: the file system is read-only or the folder"),
        (("world.lock",), "world.sqlite: cannot open the world: the database is read-only"),
    ],
    ids=["all", "database"],
)
def test_a_read_only_world_is_a_clear_error(tmp_path, writable, words):
    prefix = bound_by_permissions()
    root = tmp_path / "worlds"
    (root / ".assets").mkdir(parents=True)  # the shared asset folder is writable
    WorldStore.create(root, "w", load_scene(HELLO)).close()
    folder = root / "w"
    modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
    try:
        for p in modes:
            p.chmod(0o644 if p.name in writable else 0o555 if p.is_dir() else 0o444)
        run = subprocess.run(
            [*prefix, *_command(root, "w")], capture_output=True, text=True, timeout=30, cwd=REPO
        )
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("continuum: error: "), run.stderr
    assert re.search(words, run.stderr), run.stderr
    with WorldStore.open(root, "w") as store:  # undamaged
        assert len(store.state().entities) == len(load_scene(HELLO).entities)
