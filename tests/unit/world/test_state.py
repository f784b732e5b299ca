import dataclasses

import pytest

from continuum.errors import EventError
from continuum.world.events import (
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    PhysicsSet,
    TagsSet,
    TransformSet,
)
from continuum.world.state import WorldState, apply


def _build(events):
    state = WorldState()
    for event in events:
        state = apply(state, event)
    return state


def test_apply_builds_entities_in_scene_form():
    state = _build(
        [
            EntityAdded(entity={"id": "a"}, tick=1),
            EntityAdded(entity={"id": "b", "parent": "a", "tags": ["t"]}, tick=1),
            TransformSet(id="b", transform={"position": [1, 2, 3]}, tick=2, time=9.0),
            ComponentSet(id="b", name="light", value={"energy": 2}, tick=2),
            TagsSet(id="a", tags=["root"], tick=3),
            PhysicsSet(blob=[1, 2], tick=3),
        ]
    )
    assert state.seq == 6 and state.tick == 3
    b = state.entities["b"]
    assert b["name"] == "b" and b["parent"] == "a" and b["tags"] == ["t"]
    assert b["transform"] == {
        "position": [1.0, 2.0, 3.0],
        "rotation": [0.0, 0.0, 0.0, 1.0],
        "scale": [1.0, 1.0, 1.0],
    }
    assert b["components"] == {"light": {"energy": 2}}
    assert state.entities["a"]["tags"] == ["root"] and state.physics == [1, 2]
    state = _build(
        [
            EntityAdded(entity={"id": "a", "components": {"c": 1}}),
            ComponentRemoved(id="a", name="c"),
        ]
    )
    assert state.entities["a"]["components"] == {}


def test_apply_is_pure():
    before = _build([EntityAdded(entity={"id": "a"})])
    snapshot = WorldState.from_json(before.to_json())
    after = apply(before, TransformSet(id="a", transform={"scale": [2, 2, 2]}))
    assert before == snapshot
    assert after.entities["a"]["transform"]["scale"] == [2.0, 2.0, 2.0]
    assert after.seq == 2 and before.seq == 1


def test_state_json_round_trip():
    state = _build([EntityAdded(entity={"id": "z"}), EntityAdded(entity={"id": "a"})])
    assert WorldState.from_json(state.to_json()) == state


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (EntityAdded(entity={"id": "a"}), "already exists"),
        (EntityAdded(entity={"id": "c", "parent": "nope"}), "parent 'nope'"),
        (EntityAdded(entity={"name": "no id"}), "non-empty string id"),
        (EntityRemoved(id="a"), "has children"),
        (EntityRemoved(id="ghost"), "no entity 'ghost'"),
        (TransformSet(id="a", transform={"position": [1, 2]}), "position must be 3"),
        (TransformSet(id="a", transform={"skew": [1]}), "position, rotation and/or scale"),
        (TransformSet(id="a", transform={"scale": [1, float("nan"), 1]}), "finite"),
        (ComponentRemoved(id="a", name="none"), "has no 'none'"),
        (TagsSet(id="a", tags=[1]), "tags must be strings"),
        (TransformSet(id="a", transform={}, tick=4), "before the world's tick 5"),
    ],
)
def test_events_that_do_not_fit_are_refused_and_leave_the_state(event, message):
    state = _build(
        [
            EntityAdded(entity={"id": "a"}, tick=5),
            EntityAdded(entity={"id": "b", "parent": "a"}, tick=5),
        ]
    )
    before = WorldState.from_json(state.to_json())
    event = dataclasses.replace(event, tick=event.tick or 5)
    with pytest.raises(EventError, match=message):
        apply(state, event)
    assert state == before


def test_physics_blob_and_the_controls_since_it():
    impulse = {"op": "impulse", "entity": "a", "impulse": [0, 1, 0]}
    state = _build(
        [
            ControlApplied(step=3, op=impulse, tick=3),
            PhysicsSet(blob={"step": 5}, tick=5),
            ControlApplied(step=7, op=impulse, tick=7),
            ControlApplied(step=7, op={"op": "set", "gravity": [0, 0, 0]}, tick=7),
        ]
    )
    assert state.physics == {"step": 5}
    assert [s for s, _ in state.controls] == [7, 7]
    assert WorldState.from_json(state.to_json()) == state
    copied = apply(state, ControlApplied(step=9, op=impulse, tick=9))
    assert len(state.controls) == 2 and len(copied.controls) == 3  # apply stays pure
    assert _build([PhysicsSet(blob=1), ControlApplied(step=1, op=impulse)]).controls == [
        [1, impulse]
    ]
    for bad in (
        ControlApplied(step=-1, op=impulse, tick=9),
        ControlApplied(step=2, op={"x": 1}, tick=9),
        ControlApplied(step=6, op=impulse, tick=9),  # before the previous control's step
    ):
        with pytest.raises(EventError, match=r"control_applied"):
            apply(state, bad)


def test_identity_banks_memory_and_narrative_are_state_too(tmp_path):
    from continuum.world import (
        IdentityRemoved,
        IdentitySet,
        MemoryAdded,
        NarrativeSet,
        StoreConfig,
        WorldStore,
    )

    events = [
        IdentitySet(id="anna", bank={"embeddings": {"asset": "cd" * 32}, "count": 2}),
        IdentitySet(id="ben", bank={"count": 1}),
        MemoryAdded(record={"id": "m1", "said": "hi"}),
        NarrativeSet(key="act", value=1),
        IdentitySet(id="anna", bank={"count": 3}),
        IdentityRemoved(id="ben"),
        MemoryAdded(record={"id": "m2", "looked_at": "ball"}),
        NarrativeSet(key="act", value=2),
        NarrativeSet(key="door", value="open"),
        NarrativeSet(key="door", value=None),
    ]
    state = WorldState()
    for event in events:
        state = apply(state, event)
    assert state.identities == {"anna": {"count": 3}}
    assert [r["id"] for r in state.memory] == ["m1", "m2"]
    assert state.narrative == {"act": 2}
    for bad in (
        IdentityRemoved(id="nobody"),
        MemoryAdded(record={"said": "no id"}),
        NarrativeSet(key="", value=1),
    ):
        before = state.to_json()
        with pytest.raises(EventError):
            apply(state, bad)
        assert state.to_json() == before
    # stored, snapshotted and reopened as they were; a failed batch leaves them as they were
    config = StoreConfig(snapshot_every_events=4)
    with WorldStore.create(tmp_path, "w", config=config) as store:
        store.append(events[:5])
        with pytest.raises(EventError):
            store.append([*events[5:], IdentityRemoved(id="ben")])
        store.append(events[5:])
        assert store.state().to_json() == state.to_json()
        assert store.asset_refs() == {"cd" * 32: 1}
    with WorldStore.open(tmp_path, "w", config=config) as store:
        assert store.state().to_json() == state.to_json()
        assert store.state_at(seq=4).narrative == {"act": 1}


def test_memory_folded_replaces_records_by_their_summary(tmp_path):
    from continuum.world import MemoryAdded, MemoryFolded, WorldStore

    added = [MemoryAdded(record={"id": f"m{i}", "text": str(i)}) for i in range(4)]
    fold = MemoryFolded(ids=["m2", "m0"], summary={"id": "s1", "text": "0 and 2"})
    state = WorldState()
    for event in [*added, fold]:
        state = apply(state, event)
    assert [r["id"] for r in state.memory] == ["m1", "m3", "s1"]
    for bad, message in (
        (MemoryFolded(ids=["m1", "m0"], summary={"id": "s2"}), r"no memory records \['m0'\]"),
        (MemoryFolded(ids=["m1", "m1"], summary={"id": "s2"}), "distinct"),
        (MemoryFolded(ids=[], summary={"id": "s2"}), "distinct"),
        (MemoryFolded(ids=["m1"], summary={"text": "no id"}), "string id"),
        (MemoryFolded(ids=["m1"], summary={"id": "m3"}), "'m3' exists"),
    ):
        before = state.to_json()
        with pytest.raises(EventError, match=message):
            apply(state, bad)
        assert state.to_json() == before
    with WorldStore.create(tmp_path, "w") as store:
        store.append(added)
        with pytest.raises(EventError):  # all or nothing
            store.append([fold, MemoryFolded(ids=["m0"], summary={"id": "s2"})])
        store.append([fold])
    with WorldStore.open(tmp_path, "w") as store:
        assert store.state().memory == state.memory
