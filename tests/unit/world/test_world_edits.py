"""The served world's edits: ``World.edit``, ``undo``, ``redo``, ``log`` and ``fork``, in memory
and persistent (a real SQLite store under tmp_path), its listeners, a store that cannot be
written, and the shared assets that worlds name and ``collect_assets`` frees."""

import json
import os
import threading
import time

import pytest

from continuum.cli import main
from continuum.errors import AssetNotFoundError, EventError, StoreError
from continuum.world import (
    AssetStore,
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    IdentitySet,
    MemoryAdded,
    NarrativeSet,
    PhysicsSet,
    SplatChanged,
    StoreConfig,
    TagsSet,
    TransformSet,
    World,
    WorldChange,
    WorldStore,
    collect_assets,
    load_scene,
)
from continuum.world.history import Step
from continuum.world.state import apply
from continuum.world.store import ASSETS_DIR
from tests.conftest import HELLO

HELLO_IDS = {"floor", "cube", "ball", "pillar", "sign", "sun", "camera"}
MOVE = TransformSet(id="cube", transform={"position": [3, 2, 1]})


@pytest.fixture
def assets():
    with AssetStore() as store:
        yield store


@pytest.fixture(params=["memory", "persistent"])
def world(request, tmp_path, assets):
    """scenes/hello served in memory, or as the persistent world ``w`` under tmp_path."""
    if request.param == "memory":
        yield World(load_scene(HELLO), assets)
        return
    store = WorldStore.create(tmp_path, "w", load_scene(HELLO))
    yield World(None, assets, store=store)
    store.close()


def _pack(assets: AssetStore, seed: int) -> dict:
    """A stored 'splat pack' (any octets do) and its splat component."""
    info = assets.put(os.urandom(64) + bytes([seed]), kind="splat-pack", meta={"count": seed})
    return {"asset": info.hash, "bytes": info.bytes, "count": seed}


def _reopened(world: World, tmp_path, assets) -> World:
    world.store.close()
    return World(None, assets, store=WorldStore.open(tmp_path, world.name))


def _cube(world: World) -> dict:
    return next(e for e in world.entities_json() if e["id"] == "cube")


# -- edits -----------------------------------------------------------------------------------------


def test_an_edit_applies_its_events_as_one_undoable_step(world):
    start = world.seq
    assert start == len(HELLO_IDS) and {e["id"] for e in world.entities_json()} == HELLO_IDS
    before = time.time()
    change = world.edit([MOVE, TagsSet(id="ball", tags=["round"])])
    assert [seq for seq, _ in change.events] == [start + 1, start + 2]
    assert change.seq == world.seq == start + 2 and change.splats == ()
    assert [type(e) for _, e in change.events] == [TransformSet, TagsSet]
    assert all(e.time >= before and e.tick == 0 for _, e in change.events)  # stamped now
    assert _cube(world)["transform"]["position"] == [3.0, 2.0, 1.0]
    assert world.describe() == {
        "name": world.name,
        "persistent": world.store is not None,
        "seq": start + 2,
        "tick": 0,
        "undo": 1,
        "redo": 0,
    }
    if world.store is not None:
        assert world.store.seq == start + 2
        assert world.store.state().entities == world.state().entities


@pytest.mark.parametrize(
    "bad",
    [
        TransformSet(id="nobody", transform={"position": [1, 2, 3]}),
        EntityAdded(entity={"id": "ball"}),
        TransformSet(id="cube", transform={"position": [1, 2]}),
        EntityRemoved(id="pillar"),  # it has a child
        ComponentRemoved(id="cube", name="nothing"),
        EntityAdded(entity={"id": "orphan", "parent": "nobody"}),
        PhysicsSet(blob={}),
    ],
    ids=["unknown", "duplicate", "bad-transform", "children", "no-component", "orphan", "physics"],
)
def test_a_bad_event_in_the_middle_changes_nothing(world, tmp_path, assets, bad):
    heard: list[WorldChange] = []
    world.add_listener(heard.append)
    before, described = world.state(), world.describe()
    good = [EntityAdded(entity={"id": "new"}), MOVE, ComponentSet(id="new", name="c", value=1)]
    with pytest.raises(EventError):
        world.edit([good[0], good[1], bad, good[2]])
    assert world.state() == before and world.describe() == described and heard == []
    if world.store is not None:
        assert world.store.seq == before.seq
        assert list(world.store.events(after=before.seq - 1))[-1][0] == before.seq
        again = _reopened(world, tmp_path, assets)
        assert again.state().entities == before.entities and again.seq == before.seq
        world = again
    change = world.edit(good)  # and the world goes on
    assert change.seq == before.seq + 3
    if world.store is not None:
        world.store.close()


def test_an_empty_edit_is_refused(world):
    with pytest.raises(EventError, match="at least one event"):
        world.edit([])


def test_undo_and_redo_walk_the_history(world):
    states = [world.state().entities]
    world.edit([EntityAdded(entity={"id": "lamp", "parent": "pillar"})])
    states.append(world.state().entities)
    world.edit([MOVE, ComponentSet(id="lamp", name="light", value={"energy": 2})])
    states.append(world.state().entities)
    world.edit([EntityRemoved(id="lamp"), EntityRemoved(id="sign"), EntityRemoved(id="pillar")])
    states.append(world.state().entities)
    seq = world.seq
    for i in (2, 1, 0):
        change = world.undo()
        assert world.state().entities == states[i]
        assert change.events and change.seq == world.seq > seq  # undo appends events
        assert [s for s, _ in change.events] == list(range(seq + 1, world.seq + 1))
        seq = world.seq
    assert (world.describe()["undo"], world.describe()["redo"]) == (0, 3)
    for i in (1, 2, 3):
        world.redo()
        assert world.state().entities == states[i]
    assert (world.describe()["undo"], world.describe()["redo"]) == (3, 0)
    world.undo()
    world.edit([TagsSet(id="cube", tags=["new"])])  # a new edit: nothing to redo any more
    assert world.describe()["redo"] == 0
    with pytest.raises(EventError, match="nothing to redo"):
        world.redo()
    if world.store is not None:  # every undo and redo is stored like any edit
        assert world.store.state().entities == world.state().entities
        assert world.store.seq == world.seq


def test_nothing_to_undo_or_redo(world):
    described = world.describe()
    with pytest.raises(EventError, match="nothing to undo"):
        world.undo()
    with pytest.raises(EventError, match="nothing to redo"):
        world.redo()
    assert world.describe() == described


def test_the_history_depth_bounds_undo(assets):
    world = World(load_scene(HELLO), assets, history_depth=2)
    for x in range(4):
        world.edit([TransformSet(id="cube", transform={"position": [x, 0, 0]})])
    world.undo()
    world.undo()
    assert _cube(world)["transform"]["position"] == [1.0, 0.0, 0.0]
    with pytest.raises(EventError, match="nothing to undo"):
        world.undo()


def test_an_undo_that_no_longer_fits_is_dropped(world):
    """The world's history is shared and stack-ordered, so through the public calls every step
    fits; a step whose events do not (as after a bug, or a history restored wrongly) must be
    refused without a change and dropped."""
    world.edit([MOVE])
    world.history.edited(Step(undo=(EntityRemoved(id="ghost"),), redo=(MOVE,)))
    before, seq = world.state(), world.seq
    with pytest.raises(EventError, match="cannot be undone any more"):
        world.undo()
    assert world.state() == before and world.seq == seq
    assert world.describe()["undo"] == 1  # dropped: the edit before it is next
    world.undo()
    assert _cube(world)["transform"]["position"] == [-1.5, 0.5, 0.0]
    # the same for a redo
    world.history.undone(Step(undo=(MOVE,), redo=(EntityRemoved(id="ghost"),)))
    with pytest.raises(EventError, match="cannot be redone any more"):
        world.redo()
    assert world.describe()["redo"] == 1
    world.redo()
    assert _cube(world)["transform"]["position"] == [3.0, 2.0, 1.0]


# -- listeners -------------------------------------------------------------------------------------


def test_listeners_hear_every_change_in_order(world):
    heard: list[WorldChange] = []
    remove = world.add_listener(heard.append)
    start = world.seq
    world.edit([MOVE])
    world.edit([TagsSet(id="cube", tags=["x"]), TagsSet(id="ball", tags=["y"])])
    world.undo()
    world.redo()
    assert [c.seq for c in heard] == [start + 1, start + 3, start + 5, start + 7]
    seqs = [seq for c in heard for seq, _ in c.events]
    assert seqs == list(range(start + 1, start + 8))
    assert [e.kind for c in heard for _, e in c.events] == ["transform_set"] + ["tags_set"] * 6
    remove()
    world.edit([MOVE])
    assert len(heard) == 4


def test_listeners_hear_edits_from_many_threads_in_seq_order(world):
    seqs: list[int] = []
    world.add_listener(lambda change: seqs.extend(seq for seq, _ in change.events))
    start = world.seq

    def edit(n: int) -> None:
        for i in range(10):
            world.edit([TransformSet(id="cube", transform={"position": [n, i, 0]})])

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seqs == list(range(start + 1, start + 41))
    assert world.describe()["undo"] == 40


# -- persistence -----------------------------------------------------------------------------------


def test_a_reopened_world_has_the_same_entities(tmp_path, assets):
    store = WorldStore.create(tmp_path, "w", load_scene(HELLO))
    world = World(None, assets, store=store)
    world.edit([MOVE, EntityAdded(entity={"id": "lamp", "parent": "cube", "tags": ["t"]})])
    world.edit([EntityRemoved(id="sign")])
    world.undo()
    world.edit([ComponentSet(id="lamp", name="light", value={"energy": 3})])
    world.log([PhysicsSet(blob={"saved": 1})])
    entities, seq = world.entities_json(), world.seq
    again = _reopened(world, tmp_path, assets)
    assert again.entities_json() == entities and again.seq == seq
    assert again.state() == world.state()
    assert again.describe()["undo"] == 0  # the history lives as long as the world is served
    assert again.scene.name == "hello" and again.name == "w"
    again.store.close()


def test_log_stores_physics_events_unannounced_and_not_undoable(world):
    heard: list[WorldChange] = []
    world.add_listener(heard.append)
    world.set_physics(None, lambda: 40)  # the simulation's step count
    seq = world.log(
        [PhysicsSet(blob={"s": 1}), ControlApplied(step=41, op={"op": "pause"}, tick=41)]
    )
    assert seq == world.seq == len(HELLO_IDS) + 2
    state = world.state()
    assert state.physics == {"s": 1} and state.controls == [[41, {"op": "pause"}]]
    assert state.tick == 41  # stamped with the clock, or the event's later tick
    assert heard == [] and world.describe()["undo"] == 0
    if world.store is not None:
        assert world.store.state() == state
    change = world.edit([MOVE])
    assert all(e.tick == 41 for _, e in change.events)  # ticks never go back


@pytest.mark.parametrize("event", [MOVE, EntityAdded(entity={"id": "x"}), TagsSet(id="cube")])
def test_log_refuses_entity_events(world, event):
    before = world.state()
    with pytest.raises(EventError, match="the backend's own events only"):
        world.log([PhysicsSet(blob=1), event])
    assert world.state() == before


# -- splat references ------------------------------------------------------------------------------


def test_splat_components_must_name_stored_packs(world, assets):
    missing = {"asset": "0" * 64, "bytes": 10, "count": 1}
    before = world.state()
    for events in (
        [ComponentSet(id="ball", name="splat", value=missing)],
        [EntityAdded(entity={"id": "s", "components": {"splat": missing}})],
        [MOVE, ComponentSet(id="cube", name="splat", value=missing)],
    ):
        with pytest.raises(AssetNotFoundError, match="0000000000"):
            world.edit(events)
    for value in ({"file": "cloud.ply"}, {"asset": "XYZ"}, "pack"):
        with pytest.raises(EventError, match="splat pack by hash"):
            world.edit([ComponentSet(id="ball", name="splat", value=value)])
    assert world.state() == before
    pack = _pack(assets, 1)
    change = world.edit([ComponentSet(id="ball", name="splat", value=pack)])
    assert change.splats == (SplatChanged("ball", assets.info(pack["asset"])),)
    assert world.splat("ball") == assets.info(pack["asset"])
    world.undo()  # its undo changes no splat to another pack
    assert world.splat("ball") is None


# -- a store that cannot be written ----------------------------------------------------------------


def test_a_full_store_raises_and_changes_nothing(tmp_path, assets):
    store = WorldStore.create(tmp_path, "w", load_scene(HELLO), config=StoreConfig(max_pages=40))
    world = World(None, assets, store=store)
    heard: list[WorldChange] = []
    world.add_listener(heard.append)
    big = "x" * 3000
    with pytest.raises(StoreError, match="full"):
        for i in range(200):
            before, stored, described = world.state(), store.state(), world.describe()
            n = len(heard)
            world.edit([ComponentSet(id="cube", name=f"c{i}.{j}", value=big) for j in range(3)])
    assert i > 0, "the store was full from the start: nothing was tested"
    assert len(heard) == n  # nobody heard of the failed edit
    assert world.state() == before and store.state() == stored == before
    assert world.describe() == described
    # still readable, and what it holds is what was acknowledged
    assert [seq for seq, _ in store.events()][-1] == before.seq
    assert {e["id"] for e in world.entities_json()} == HELLO_IDS
    store.close()
    with WorldStore.open(tmp_path, "w") as again:
        assert again.state() == before


def test_a_read_only_store_refuses_every_change_and_keeps_the_history(tmp_path, assets):
    store = WorldStore.create(tmp_path, "w", load_scene(HELLO))
    world = World(None, assets, store=store)
    world.edit([MOVE])
    world.edit([TagsSet(id="cube", tags=["a"])])
    world.undo()
    heard: list[WorldChange] = []
    world.add_listener(heard.append)
    before, described = world.state(), world.describe()
    assert (described["undo"], described["redo"]) == (1, 1)
    store._conn.execute("PRAGMA query_only = 1")  # what SQLite reports on a read-only disk
    for change in (lambda: world.edit([MOVE]), world.undo, world.redo):
        with pytest.raises(StoreError, match="read-only"):
            change()
        assert world.state() == before and world.describe() == described and heard == []
    with pytest.raises(StoreError, match="read-only"):
        world.log([PhysicsSet(blob=1)])
    assert world.state() == before and store.state() == before
    store._conn.execute("PRAGMA query_only = 0")  # the disk is back: the steps were kept
    world.redo()
    assert _cube(world)["tags"] == ["a"]
    world.undo()
    world.undo()
    assert _cube(world)["transform"]["position"] == [-1.5, 0.5, 0.0]
    assert [c.seq for c in heard] == [before.seq + 1, before.seq + 2, before.seq + 3]
    store.close()


# -- forks -----------------------------------------------------------------------------------------


def test_fork_a_world_in_memory_as_it_is_now(tmp_path, assets):
    world = World(load_scene(HELLO), assets)
    world.edit([MOVE, EntityRemoved(id="sign")])
    world.log(
        [
            IdentitySet(id="anna", bank={"count": 2}),
            MemoryAdded(record={"id": "m1", "said": "hi"}),
            NarrativeSet(key="act", value=3),
        ]
    )
    with pytest.raises(StoreError, match="as it is now"):
        world.fork(tmp_path, "early", at=3)
    world.fork(tmp_path, "copy")
    world.fork(tmp_path, "copy2", at=world.seq)
    with WorldStore.open(tmp_path, "copy") as fork:
        copied, served = fork.state(), world.state()
        assert copied.entities == served.entities and copied.identities == served.identities
        assert (copied.memory, copied.narrative) == (served.memory, served.narrative)
        assert fork.scene_info["name"] == "hello"
    with pytest.raises(StoreError, match="already exists"):
        world.fork(tmp_path, "copy")
    with pytest.raises(StoreError, match="world name"):
        world.fork(tmp_path, ".hidden")


def test_fork_a_persistent_world_at_an_event(tmp_path, assets):
    store = WorldStore.create(tmp_path, "w", load_scene(HELLO))
    world = World(None, assets, store=store)
    world.edit([MOVE])
    middle, entities = world.seq, world.state().entities
    world.edit([EntityRemoved(id="sign")])
    world.fork(tmp_path, "then", at=middle)
    world.fork(tmp_path, "now")
    with WorldStore.open(tmp_path, "then") as fork:
        assert fork.seq == middle and fork.state().entities == entities
    with WorldStore.open(tmp_path, "now") as fork:
        assert fork.seq == world.seq and fork.state() == world.state()
    with pytest.raises(StoreError, match="out of range"):
        world.fork(tmp_path, "later", at=world.seq + 1)
    assert world.state().entities == store.state().entities  # the world is untouched
    store.close()


# -- shared assets ---------------------------------------------------------------------------------


def _age(assets: AssetStore, digest: str, seconds: float) -> None:
    """Make asset ``digest`` look ``seconds`` old to ``collect``."""
    then = time.time() - seconds
    path = assets.root / digest[:2] / f"{digest}.json"
    os.utime(path, (then, then))


def test_collect_assets_frees_what_no_world_names_after_compaction(tmp_path):
    root = tmp_path / "worlds"
    assets = AssetStore(root / ASSETS_DIR)
    first, second, kept_by_other, young = (_pack(assets, n) for n in (1, 2, 3, 4))
    store = WorldStore.create(root, "w", load_scene(HELLO))
    world = World(None, assets, store=store)
    world.edit([ComponentSet(id="ball", name="splat", value=first)])
    world.edit([ComponentSet(id="ball", name="splat", value=second)])
    with WorldStore.create(root, "other") as other:
        other.append([EntityAdded(entity={"id": "e", "components": {"splat": kept_by_other}})])
    for pack in (first, second, kept_by_other, young):
        _age(assets, pack["asset"], 7200)
    _age(assets, young["asset"], 10)
    hashes = [p["asset"] for p in (first, second, kept_by_other, young)]
    orphan = assets.put(b"orphan", kind="blob", meta={})
    _age(assets, orphan.hash, 7200)

    refs = store.asset_refs()
    assert refs == {first["asset"]: 1, second["asset"]: 1}
    # the first pack is still named by an event: only the orphan goes
    assert collect_assets(root, grace_s=3600) == {"kept": 4, "removed": 1, "freed": 6}
    # asked of a fresh store: an AssetStore remembers what it has seen, and another one's
    # collect does not tell it
    assert orphan.hash not in AssetStore(root / ASSETS_DIR)
    assert all(h in AssetStore(root / ASSETS_DIR) for h in hashes)

    store.compact(keep_snapshots=1)  # the events naming the first pack are gone
    assert store.asset_refs() == {second["asset"]: 1}  # from the base snapshot
    store.close()
    freed = collect_assets(root, grace_s=3600)
    assert freed == {"kept": 3, "removed": 1, "freed": first["bytes"]}
    assert first["asset"] not in AssetStore(root / ASSETS_DIR)
    assert all(h in AssetStore(root / ASSETS_DIR) for h in hashes[1:])
    # a world served since still opens with every pack it shows
    with WorldStore.open(root, "w") as again:
        served = World(None, AssetStore(root / ASSETS_DIR), store=again)
        assert served.splat("ball").hash == second["asset"]


def test_collect_assets_cli(tmp_path, capsys):
    root = tmp_path / "worlds"
    assets = AssetStore(root / ASSETS_DIR)
    kept, dropped = _pack(assets, 1), _pack(assets, 2)
    with WorldStore.create(root, "w") as store:
        store.append([EntityAdded(entity={"id": "e", "components": {"splat": kept}})])
    for pack in (kept, dropped):
        _age(assets, pack["asset"], 100)
    assert main(["world", "--root", str(root), "gc", "--grace-s", "50"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {"kept": 1, "removed": 1, "freed": dropped["bytes"]}
    fresh = AssetStore(root / ASSETS_DIR)
    assert kept["asset"] in fresh and dropped["asset"] not in fresh


def test_collect_assets_reads_no_world_it_cannot_open(tmp_path):
    root = tmp_path / "worlds"
    assets = AssetStore(root / ASSETS_DIR)
    pack = _pack(assets, 1)
    _age(assets, pack["asset"], 7200)
    with WorldStore.create(root, "w") as store:
        store.append([EntityAdded(entity={"id": "e", "components": {"splat": pack}})])
    (root / "w" / "world.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        collect_assets(root, grace_s=0)
    assert pack["asset"] in assets  # nothing removed


def test_asset_store_collect_counts_and_leftovers(tmp_path):
    with AssetStore(tmp_path / "a") as assets:
        infos = [assets.put(bytes([n]) * (n + 1), kind="blob", meta={}) for n in range(4)]
        for info in infos:
            _age(assets, info.hash, 600)
        _age(assets, infos[3].hash, 5)  # young
        leftover = assets.root / "ab" / ".tmp-crashed"
        leftover.parent.mkdir(exist_ok=True)
        leftover.write_bytes(b"half")
        os.utime(leftover, (time.time() - 600, time.time() - 600))
        with pytest.raises(ValueError, match="grace_s"):
            assets.collect(set(), grace_s=-1)
        counts = assets.collect({infos[0].hash}, grace_s=60)
        assert counts == {"kept": 2, "removed": 2, "freed": 2 + 3}
        assert [i.hash in assets for i in infos] == [True, False, False, True]
        assert not leftover.exists()
        assert assets.collect({infos[0].hash}, grace_s=60)["removed"] == 0
        # a put of collected octets stores them again
        again = assets.put(bytes([1]) * 2, kind="blob", meta={})
        assert again.hash == infos[1].hash and assets.read(again.hash, 0, 2) == b"\x01\x01"


def test_a_put_makes_a_stored_asset_young_again(tmp_path):
    with AssetStore(tmp_path / "a") as assets:
        info = assets.put(b"data", kind="blob", meta={})
        _age(assets, info.hash, 600)
        assets.put(b"data", kind="blob", meta={})  # a writer about to name it
        assert assets.collect(set(), grace_s=60) == {"kept": 1, "removed": 0, "freed": 0}


def test_world_state_replays_to_what_the_world_holds(world):
    """The events the world announces rebuild its state: the log is the truth."""
    changes: list[WorldChange] = []
    world.add_listener(changes.append)
    start = world.state()
    world.edit([MOVE, EntityAdded(entity={"id": "n", "parent": "ball"})])
    world.edit([EntityRemoved(id="n")])
    world.undo()
    world.redo()
    state = start
    for change in changes:
        for _, event in change.events:
            state = apply(state, event)
    assert state.entities == world.state().entities
