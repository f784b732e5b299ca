import json
import os
import sqlite3
import subprocess
import sys
import warnings

import pytest

from continuum.errors import EventError, StoreError, WorldLockedError
from continuum.world import load_scene
from continuum.world.events import (
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    PhysicsSet,
    TagsSet,
    TransformSet,
)
from continuum.world.state import WorldState, apply
from continuum.world.store import (
    DB_FILE,
    CorruptSnapshotWarning,
    StoreConfig,
    WorldStore,
    list_worlds,
)
from tests.conftest import HELLO
from tests.permissions import bound_by_permissions

SMALL = StoreConfig(snapshot_every_events=10, snapshot_every_s=1e9)


def _events(n, *, start_tick=1):
    """A mixed, valid stream: adds, moves, components, tags, removals, physics."""
    out = []
    for i in range(n):
        tick = start_tick + i // 3
        k = i % 7
        if i < 4:
            out.append(EntityAdded(entity={"id": f"e{i}", "name": f"E{i}"}, tick=tick, time=i))
        elif k == 0:
            out.append(ComponentSet(id=f"e{i % 4}", name="n", value=i, tick=tick, time=i))
        elif k == 1:
            out.append(TagsSet(id=f"e{i % 4}", tags=[str(i)], tick=tick, time=i))
        elif k == 2:
            out.append(PhysicsSet(blob={"i": i}, tick=tick, time=i))
        elif k == 3:
            out.append(EntityAdded(entity={"id": f"t{i}"}, tick=tick, time=i))
        elif k == 4 and i > 7:
            out.append(EntityRemoved(id=f"t{i - 1}", tick=tick, time=i))
        else:
            move = {"position": [i, -i, 0.5 * i]}
            out.append(TransformSet(id=f"e{i % 4}", transform=move, tick=tick, time=i))
    return out


def _reference(events):
    state = WorldState()
    for event in events:
        state = apply(state, event)
    return state


@pytest.fixture
def world(tmp_path):
    with WorldStore.create(tmp_path, "w", config=SMALL) as store:
        yield store


def test_reopen_restores_the_state_exactly(tmp_path):
    events = _events(95)
    with WorldStore.create(tmp_path, "w", config=SMALL) as store:
        for i in range(0, 95, 10):
            assert store.append(events[i : i + 10]) == min(i + 10, 95)
        live = store.state()
    assert live == _reference(events)
    with WorldStore.open(tmp_path, "w", config=SMALL) as store:
        assert store.state() == live
        assert store.info()["snapshots"] >= 9
        # snapshot + replay equals a full replay of the stored events
        assert store.state() == _reference([e for _, e in store.events()])
    assert list_worlds(tmp_path) == ["w"]


def test_create_from_a_scene(tmp_path):
    scene = load_scene(HELLO)
    with WorldStore.create(tmp_path, "hello", scene) as store:
        state = store.state()
    assert list(state.entities) == [e.id for e in scene.entities]
    assert state.entities["cube"] == scene.entity("cube").to_json()


def test_state_at_any_seq_or_tick_equals_applying_the_prefix(world):
    events = _events(60)
    world.append(events[:25])
    world.append(events[25:])
    for k in (0, 1, 9, 10, 11, 33, 60):
        assert world.state_at(seq=k) == _reference(events[:k]), k
    for tick in (1, 5, 12, 99):
        expected = _reference([e for e in events if e.tick <= tick])
        assert world.state_at(tick=tick) == expected, tick
    with pytest.raises(StoreError, match="out of range"):
        world.state_at(seq=61)
    with pytest.raises(StoreError, match="exactly one"):
        world.state_at()


def test_fork_at_a_seq_then_diverge(world, tmp_path):
    events = _events(40)
    world.append(events)
    world.fork("f", at=23)
    with WorldStore.open(tmp_path, "f", config=SMALL) as fork:
        assert fork.state() == _reference(events[:23])
        assert fork.info()["forked_from"] == {"world": "w", "seq": 23}
        fork.append([TransformSet(id="e0", transform={"scale": [3, 3, 3]}, tick=50)])
        assert fork.seq == 24
    assert world.state() == _reference(events)
    assert list_worlds(tmp_path) == ["f", "w"]
    with pytest.raises(StoreError, match="already exists"):
        world.fork("f")


def test_append_is_all_or_nothing(world):
    world.append(_events(5))
    before = world.state()
    bad = [
        TransformSet(id="e0", transform={"scale": [2, 2, 2]}, tick=9),
        EntityRemoved(id="x", tick=9),
    ]
    with pytest.raises(EventError, match="no entity 'x'"):
        world.append(bad)
    assert world.state() == before and world.seq == 5
    assert [s for s, _ in world.events()] == [1, 2, 3, 4, 5]


def test_append_rolls_back_the_physics_controls_too(world):
    impulse = {"op": "impulse", "entity": "e0", "impulse": [0, 1, 0]}
    world.append([PhysicsSet(blob={"step": 1}, tick=1), ControlApplied(step=1, op=impulse, tick=1)])
    before = world.state()
    for bad in (
        [ControlApplied(step=2, op=impulse, tick=2), EntityRemoved(id="x", tick=2)],
        [PhysicsSet(blob=None, tick=2), EntityRemoved(id="x", tick=2)],
    ):
        with pytest.raises(EventError, match="no entity 'x'"):
            world.append(bad)
        assert world.state() == before and world.state().controls == [[1, impulse]]


def _damage_newest_snapshot(path, how):
    conn = sqlite3.connect(path / DB_FILE)
    seq = conn.execute("SELECT max(seq) FROM snapshots").fetchone()[0]
    if how == "truncated":
        conn.execute("UPDATE snapshots SET body = substr(body, 1, 7) WHERE seq = ?", (seq,))
    else:
        body = bytearray(
            conn.execute("SELECT body FROM snapshots WHERE seq=?", (seq,)).fetchone()[0]
        )
        body[len(body) // 2] ^= 0xFF
        conn.execute("UPDATE snapshots SET body = ? WHERE seq = ?", (bytes(body), seq))
    conn.commit()
    conn.close()
    return seq


@pytest.mark.parametrize("how", ["truncated", "corrupted"])
def test_a_damaged_snapshot_falls_back_to_the_previous_one(tmp_path, how):
    events = _events(45)
    with WorldStore.create(tmp_path, "w", config=SMALL) as store:
        store.append(events)
    seq = _damage_newest_snapshot(tmp_path / "w", how)
    with (
        pytest.warns(CorruptSnapshotWarning, match=f"snapshot at seq {seq} is unusable"),
        WorldStore.open(tmp_path, "w", config=SMALL) as store,
    ):
        assert store.state() == _reference(events)


def test_a_damaged_snapshot_with_no_events_to_replay_is_an_error_after_compaction(tmp_path):
    with WorldStore.create(tmp_path, "w", config=SMALL) as store:
        store.append(_events(30))
        store.compact(keep_snapshots=1)
    _damage_newest_snapshot(tmp_path / "w", "truncated")
    with (
        pytest.warns(CorruptSnapshotWarning),
        pytest.raises(StoreError, match="cannot be rebuilt"),
    ):
        WorldStore.open(tmp_path, "w")


def test_second_writer_is_refused_naming_the_holder(world, tmp_path):
    world.append(_events(5))
    with pytest.raises(WorldLockedError, match=f"process {os.getpid()}") as caught:
        WorldStore.open(tmp_path, "w")
    assert caught.value.pid == os.getpid()
    with WorldStore.open(tmp_path, "w", read_only=True) as view:
        assert view.state() == world.state() and view.read_only
        with pytest.raises(StoreError, match="read-only"):
            view.append(_events(1))
    world.close()
    with WorldStore.open(tmp_path, "w") as again:  # the lock went with the close
        assert again.seq == 5


def test_a_read_only_database_is_a_clear_error_without_damage(world, tmp_path):
    world.append(_events(5))
    world._conn.execute("PRAGMA query_only = 1")  # what SQLite reports on a read-only disk
    with pytest.raises(StoreError, match="read-only"):
        world.append(_events(8)[5:])
    assert world.seq == 5
    world.close()
    with WorldStore.open(tmp_path, "w") as again:
        assert again.state() == _reference(_events(5))


_OPEN = """
import sys
from continuum.errors import StoreError
from continuum.world.store import WorldStore
try:
    WorldStore.open(sys.argv[1], "w")
except StoreError as exc:
    print("StoreError:", exc)
"""


def test_a_read_only_folder_is_a_clear_error(tmp_path):
    with WorldStore.create(tmp_path, "w") as store:
        store.append(_events(5))
    folder = tmp_path / "w"
    modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
    try:
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        # in a child that the permissions bind (root's is stripped of what bypasses them)
        command = [*bound_by_permissions(), sys.executable, "-c", _OPEN, str(tmp_path)]
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert run.returncode == 0 and run.stdout.startswith("StoreError: "), run.stdout + run.stderr
    assert "read-only" in run.stdout
    with WorldStore.open(tmp_path, "w") as store:
        assert store.seq == 5


def test_a_full_disk_is_a_clear_error_without_damage(tmp_path):
    big = "x" * 3000
    with WorldStore.create(tmp_path, "w", config=StoreConfig(max_pages=40)) as store:
        store.append([EntityAdded(entity={"id": "a"})])
        acked = 1
        with pytest.raises(StoreError, match="full"):
            for i in range(200):
                acked = store.append(
                    [ComponentSet(id="a", name=f"c{i}.{j}", value=big) for j in range(3)]
                )
        assert store.seq == acked
        state = store.state()
    with WorldStore.open(tmp_path, "w") as store:
        assert store.seq == acked and store.state() == state
        store.append([TagsSet(id="a", tags=["after"])])  # without the cap it writes again


def test_compact_keeps_replay_after_the_cut(world, tmp_path):
    events = _events(57)
    for i in range(0, 57, 10):
        world.append(events[i : i + 10])
    result = world.compact(keep_snapshots=2)
    cut = result["compacted_through"]
    assert result["events_dropped"] == cut and 0 < cut < 57
    assert world.state() == _reference(events)
    assert world.state_at(seq=cut + 3) == _reference(events[: cut + 3])
    with pytest.raises(StoreError, match="compacted"):
        world.state_at(seq=cut - 1)
    out = tmp_path / "w.jsonl"
    assert world.export(out) == 57 - cut
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["name"] == "w" and "snapshot" in lines[1]
    assert lines[2]["seq"] == cut + 1
    world.close()
    with WorldStore.open(tmp_path, "w") as again:
        assert again.state() == _reference(events)


def test_an_unknown_event_version_in_the_log_is_a_clear_error(tmp_path):
    with WorldStore.create(tmp_path, "w") as store:
        store.append(_events(3))
    conn = sqlite3.connect(tmp_path / "w" / DB_FILE)
    body = json.loads(conn.execute("SELECT body FROM events WHERE seq = 3").fetchone()[0])
    conn.execute("UPDATE events SET body = ? WHERE seq = 3", (json.dumps(body | {"version": 9}),))
    conn.commit()
    conn.close()
    with pytest.raises(EventError, match=r"event 3.*version 9"):
        WorldStore.open(tmp_path, "w")


def test_names_and_missing_worlds(tmp_path):
    with pytest.raises(StoreError, match="no world named 'nope'"):
        WorldStore.open(tmp_path, "nope")
    with pytest.raises(StoreError, match="world name"):
        WorldStore.create(tmp_path, "../escape")
    WorldStore.create(tmp_path, "w").close()
    with pytest.raises(StoreError, match="already exists"):
        WorldStore.create(tmp_path, "w")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert WorldStore.open(tmp_path, "w").info()["seq"] == 0


def test_snapshots_by_time(tmp_path):
    config = StoreConfig(snapshot_every_events=10**6, snapshot_every_s=0.0)
    with WorldStore.create(tmp_path, "w", config=config) as store:
        for i in range(0, 12, 4):
            store.append(_events(12)[i : i + 4])
        assert store.info()["snapshots"] == 3


def test_state_at_a_tick_after_compaction(world):
    events = _events(40)
    for i in range(0, 40, 10):
        world.append(events[i : i + 10])
    cut = world.compact(keep_snapshots=2)["compacted_through"]
    cut_tick = events[cut - 1].tick
    last_tick_events = [e for e in events if e.tick <= cut_tick]
    assert world.state_at(tick=cut_tick) == _reference(last_tick_events)
    assert world.state_at(tick=10**6) == _reference(events)
    with pytest.raises(StoreError, match="compacted"):
        world.state_at(tick=0)
