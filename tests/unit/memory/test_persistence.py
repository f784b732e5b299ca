import numpy as np
import pytest

from continuum.errors import IdentityError, StoreError
from continuum.memory import Memory, MemoryConfig
from continuum.world import AssetStore, World, WorldState, WorldStore

NOW = 1_700_000_000.0
DAY = 86400.0


def _same(a: Memory, b: Memory) -> None:
    assert [r.to_json() for r in a.records()] == [r.to_json() for r in b.records()]
    for x, y in zip(a.records(), b.records(), strict=True):
        np.testing.assert_array_equal(x.embedding, y.embedding)


def _fill(memory: Memory) -> None:
    for i in range(6):
        who, text = ("anna" if i % 2 else "ben"), f"line {i} about the door"
        memory.add(who, "said", text, when=NOW - i * DAY, where=[float(i), 0.0, 0.0], tick=i)
    memory.summarize(1.5 * DAY, now=NOW)
    memory.add("cara", "said", "after the fold", when=NOW)


def test_memory_survives_closing_and_reopening_the_world(tmp_path, embed):
    assets = AssetStore(tmp_path / "assets")
    with WorldStore.create(tmp_path, "w") as store:
        world = World(None, assets, store=store)
        memory = Memory(embed_texts=embed, log=world.log)
        _fill(memory)
        assert len(memory) == 5  # 2 + 2 summaries + 1
        kinds = [e.kind for _, e in store.events()]
        assert kinds == ["memory_added"] * 6 + ["memory_folded"] * 2 + ["memory_added"]
    calls = []

    def counting(texts):
        calls.append(len(texts))
        return embed(texts)

    with WorldStore.open(tmp_path, "w") as store:
        again = Memory.from_state(store.state(), embed_texts=counting)
    _same(memory, again)
    assert calls == []  # embeddings are stored: nothing is embedded again
    found = again.query("door", who="anna", now=NOW)
    expected = memory.query("door", who="anna", now=NOW)
    assert [s.record.id for s in found] == [s.record.id for s in expected]


def test_a_world_in_memory_and_its_fork(tmp_path, embed):
    world = World(None, AssetStore(tmp_path / "assets"))
    memory = Memory(embed_texts=embed, log=world.log)
    _fill(memory)
    _same(memory, Memory.from_state(world.state(), embed_texts=embed))
    world.fork(tmp_path, "fork")
    with WorldStore.open(tmp_path, "fork") as store:
        _same(memory, Memory.from_state(store.state(), embed_texts=embed))


def test_records_stored_without_embeddings_are_embedded_once(embed):
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return embed(texts)

    memory = Memory(embed_texts=embed)
    a, b = memory.add("a", "said", "one"), memory.add("a", "said", "two")
    state = WorldState(memory=[a.to_json(embedding=False), b.to_json()])
    again = Memory.from_state(state, embed_texts=counting)
    assert calls == [["one"]]
    _same(memory, again)


def test_a_world_whose_store_fails_keeps_the_memory_as_it_was(tmp_path, embed):
    with WorldStore.create(tmp_path, "w") as store:
        world = World(None, AssetStore(tmp_path / "assets"), store=store)
        memory = Memory(embed_texts=embed, log=world.log)
        kept = [memory.add("a", "said", f"stored {i}", when=NOW - 2 * DAY) for i in range(2)]
        store._conn.execute("PRAGMA query_only = 1")  # what SQLite reports on a read-only disk
        with pytest.raises(StoreError, match="read-only"):
            memory.add("a", "said", "lost", when=NOW - 2 * DAY)
        with pytest.raises(StoreError, match="read-only"):
            memory.summarize(DAY, now=NOW)
        assert memory.records() == kept
        assert world.state().memory == [r.to_json() for r in kept]
        store._conn.execute("PRAGMA query_only = 0")  # the disk is back
        folded, _ = memory.summarize(DAY, now=NOW)
        assert folded == [r.id for r in kept]
        _same(memory, Memory.from_state(world.state(), embed_texts=embed))


def test_bad_states_are_refused(embed):
    memory = Memory(embed_texts=embed)
    record = memory.add("a", "said", "one").to_json()
    with pytest.raises(IdentityError, match=r"unexpected fields \['said'\]"):
        Memory.from_state(WorldState(memory=[{"id": "m1", "said": "hi"}]), embed_texts=embed)
    with pytest.raises(IdentityError, match="duplicate memory record ids"):
        Memory.from_state(WorldState(memory=[record, record]), embed_texts=embed)
    with pytest.raises(IdentityError, match="at most 1"):
        Memory.from_state(
            WorldState(memory=[record, {**record, "id": "m-2"}]),
            embed_texts=embed,
            config=MemoryConfig(max_records=1),
        )
