"""Undo as events: ``inverse`` of every edit kind (and of groups whose later events depend on
earlier ones), checked by applying the edit and then its inverse; and the ``History`` stacks."""

import copy
import random

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
from continuum.world.history import History, Step, inverse
from continuum.world.state import WorldState, apply

PACK = {"asset": "ab" * 32, "bytes": 1234, "count": 10, "sh_degree": 1, "aabb": [0] * 6}
BODY = {"mass": 2.0, "friction": 0.4}


def _state() -> WorldState:
    """A small world: a parent with a child, and a leaf with splat, physics and tags."""
    state = WorldState()
    for event in (
        EntityAdded(entity={"id": "root", "transform": {"position": [1, 2, 3]}}),
        EntityAdded(entity={"id": "child", "parent": "root", "components": {"light": {}}}),
        EntityAdded(
            entity={
                "id": "leaf",
                "name": "Leaf",
                "tags": ["a", "b"],
                "transform": {"rotation": [0, 0.6, 0, 0.8], "scale": [2, 2, 2]},
                "components": {"splat": PACK, "physics": BODY, "shape": {"type": "box"}},
            }
        ),
        PhysicsSet(blob={"step": 0}),
    ):
        state = apply(state, event)
    return state


def _after(state: WorldState, events) -> WorldState:
    for event in events:
        state = apply(state, event)
    return state


def _undoes(state: WorldState, events) -> list:
    """Apply ``events``, then their inverse: the entities must be back exactly; ``inverse``
    must leave ``state`` as it was. Returns the inverse."""
    before = copy.deepcopy(state)
    undo = inverse(state, events)
    assert state == before, "inverse changed the state it was given"
    done = _after(state, events)
    assert done.entities != state.entities or not events, "the edit changed nothing"
    back = _after(done, undo)
    assert back.entities == before.entities
    assert list(back.entities) == list(before.entities) or any(
        isinstance(e, EntityRemoved) for e in events
    )
    return undo


# -- one event of each kind ------------------------------------------------------------------------


def test_an_added_entity_is_removed():
    undo = _undoes(_state(), [EntityAdded(entity={"id": "new", "parent": "leaf"})])
    assert undo == [EntityRemoved(id="new")]


def test_a_removed_entity_comes_back_whole_with_its_splat_and_physics():
    state = _state()
    undo = _undoes(state, [EntityRemoved(id="leaf")])
    assert undo == [EntityAdded(entity=state.entities["leaf"])]
    restored = undo[0].entity
    assert restored["components"]["splat"] == PACK and restored["components"]["physics"] == BODY
    assert restored["tags"] == ["a", "b"] and restored["name"] == "Leaf"


def test_a_partial_transform_is_taken_back_field_by_field():
    state = _state()
    undo = _undoes(state, [TransformSet(id="leaf", transform={"position": [9, 9, 9]})])
    # only the field that changed: an undo must not overwrite rotation or scale
    assert undo == [TransformSet(id="leaf", transform={"position": [0.0, 0.0, 0.0]})]
    undo = _undoes(
        state, [TransformSet(id="leaf", transform={"rotation": [0, 0, 0, 1], "scale": [1, 1, 1]})]
    )
    assert undo == [
        TransformSet(
            id="leaf", transform={"rotation": [0.0, 0.6, 0.0, 0.8], "scale": [2.0, 2.0, 2.0]}
        )
    ]


def test_setting_an_existing_component_restores_its_value():
    undo = _undoes(_state(), [ComponentSet(id="leaf", name="physics", value={"body": "static"})])
    assert undo == [ComponentSet(id="leaf", name="physics", value=BODY)]


def test_setting_a_missing_component_removes_it():
    undo = _undoes(_state(), [ComponentSet(id="root", name="label", value={"text": "hi"})])
    assert undo == [ComponentRemoved(id="root", name="label")]


def test_a_removed_component_is_set_again():
    undo = _undoes(_state(), [ComponentRemoved(id="leaf", name="splat")])
    assert undo == [ComponentSet(id="leaf", name="splat", value=PACK)]


def test_tags_are_restored():
    undo = _undoes(_state(), [TagsSet(id="leaf", tags=["c"])])
    assert undo == [TagsSet(id="leaf", tags=["a", "b"])]


# -- groups ----------------------------------------------------------------------------------------


def test_a_group_whose_events_build_on_each_other():
    state = _state()
    group = [
        EntityAdded(entity={"id": "p"}),
        EntityAdded(entity={"id": "q", "parent": "p", "components": {"c": 1}}),
        ComponentSet(id="q", name="c", value=2),  # over a component added in this group
        ComponentSet(id="q", name="c", value=3),  # twice: the undo must pass through 2 to 1
        TransformSet(id="p", transform={"position": [5, 5, 5]}),
        TagsSet(id="q", tags=["x"]),
        EntityRemoved(id="child"),  # then its parent: children first
        EntityRemoved(id="root"),
        ComponentRemoved(id="leaf", name="physics"),
        ComponentSet(id="leaf", name="physics", value={"body": "kinematic"}),
    ]
    undo = _undoes(state, group)
    assert len(undo) == len(group)
    # the undo runs backwards: the parent comes back before its child, the last change first
    assert undo[0] == ComponentRemoved(id="leaf", name="physics")
    assert undo[2:4] == [
        EntityAdded(entity=state.entities["root"]),
        EntityAdded(entity=state.entities["child"]),
    ]
    assert undo[-2:] == [EntityRemoved(id="q"), EntityRemoved(id="p")]


def test_a_group_that_adds_and_removes_the_same_entity():
    state = _state()
    group = [
        EntityAdded(entity={"id": "t"}),
        ComponentSet(id="t", name="c", value=1),
        EntityRemoved(id="t"),
    ]
    undo = inverse(state, group)
    assert undo == [
        EntityAdded(entity=_after(state, group[:2]).entities["t"]),
        ComponentRemoved(id="t", name="c"),
        EntityRemoved(id="t"),
    ]
    assert _after(_after(state, group), undo).entities == state.entities


def _random_edit(rng: random.Random, state: WorldState, n: int) -> list:
    """A random group of ``n`` edits that fit ``state`` one after the other."""
    group = []
    for i in range(n):
        ids = list(state.entities)
        leaves = [k for k in ids if not any(e.get("parent") == k for e in state.entities.values())]
        pick = rng.choice(["add", "remove", "move", "set", "unset", "tags"] if ids else ["add"])
        target = rng.choice(ids) if ids else None
        if pick == "add":
            parent = rng.choice([None, *ids])
            entity = {"id": f"n{len(ids)}-{i}-{rng.random():.6f}", "parent": parent}
            event = EntityAdded(entity={k: v for k, v in entity.items() if v is not None})
        elif pick == "remove" and leaves:
            event = EntityRemoved(id=rng.choice(leaves))
        elif pick == "move":
            size = {"position": 3, "rotation": 4, "scale": 3}
            fields = rng.sample(sorted(size), rng.randint(1, 3))
            move = {f: [round(rng.uniform(-5, 5), 3) for _ in range(size[f])] for f in fields}
            event = TransformSet(id=target, transform=move)
        elif pick == "unset" and state.entities[target]["components"]:
            name = rng.choice(sorted(state.entities[target]["components"]))
            event = ComponentRemoved(id=target, name=name)
        elif pick == "tags":
            event = TagsSet(id=target, tags=[str(rng.randint(0, 9))])
        else:
            value = rng.choice([1, "s", None, [1, 2], {"k": rng.random()}])
            event = ComponentSet(id=target, name=rng.choice("abc"), value=value)
        group.append(event)
        state = apply(state, event)
    return group


def test_random_groups_are_undone_exactly():
    rng = random.Random(3)
    state = _state()
    for _ in range(300):
        group = _random_edit(rng, state, rng.randint(1, 6))
        undo = inverse(state, group)
        done = _after(state, group)
        assert _after(done, undo).entities == state.entities
        # and the undo's own inverse does the edit again
        assert _after(_after(done, undo), inverse(done, undo)).entities == done.entities
        state = done


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [PhysicsSet(blob={"x": 1}), ControlApplied(step=1, op={"op": "pause"})],
    ids=["physics_set", "control_applied"],
)
def test_physics_events_are_not_undoable(event):
    state = _state()
    with pytest.raises(EventError, match="cannot be undone"):
        inverse(state, [event])
    with pytest.raises(EventError, match="cannot be undone"):
        inverse(state, [TransformSet(id="leaf", transform={"scale": [3, 3, 3]}), event])


@pytest.mark.parametrize(
    "events",
    [
        [TransformSet(id="nobody", transform={"position": [1, 2, 3]})],
        [EntityAdded(entity={"id": "leaf"})],
        [EntityRemoved(id="root")],  # it has a child
        [ComponentRemoved(id="root", name="none")],
        [EntityAdded(entity={"id": "x"}), EntityAdded(entity={"id": "x"})],
        [TransformSet(id="leaf", transform={"position": [1, 2]})],
    ],
    ids=["unknown", "duplicate", "has-children", "no-component", "duplicate-in-group", "bad"],
)
def test_events_that_do_not_fit_are_refused_and_the_state_kept(events):
    state = _state()
    before = copy.deepcopy(state)
    with pytest.raises(EventError):
        inverse(state, events)
    assert state == before


# -- History ---------------------------------------------------------------------------------------


def _step(n: int) -> Step:
    return Step(undo=(TagsSet(id="e", tags=[f"u{n}"]),), redo=(TagsSet(id="e", tags=[f"r{n}"]),))


def test_history_undo_then_redo_in_order():
    history = History()
    assert (history.can_undo, history.can_redo) == (0, 0)
    assert history.pop_undo() is None and history.pop_redo() is None
    for n in range(3):
        history.edited(_step(n))
    assert (history.can_undo, history.can_redo) == (3, 0)
    undone = [history.pop_undo() for _ in range(2)]
    assert undone == [_step(2), _step(1)]
    for step in undone:
        history.undone(step)
    assert (history.can_undo, history.can_redo) == (1, 2)
    again = history.pop_redo()
    assert again == _step(1)  # the last undone comes back first
    history.redone(again)
    assert (history.can_undo, history.can_redo) == (2, 1)  # the rest of the redo stays


def test_a_new_edit_clears_the_redo():
    history = History()
    history.edited(_step(0))
    history.edited(_step(1))
    history.undone(history.pop_undo())
    assert history.can_redo == 1
    history.edited(_step(2))
    assert (history.can_undo, history.can_redo) == (2, 0)
    assert history.pop_redo() is None


def test_the_history_keeps_the_newest_edits_up_to_its_depth():
    history = History(depth=3)
    for n in range(5):
        history.edited(_step(n))
    assert history.can_undo == 3
    assert [history.pop_undo() for _ in range(4)] == [_step(4), _step(3), _step(2), None]
    for n in range(5):
        history.undone(_step(n))
    assert history.can_redo == 3


def test_history_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        History(depth=0)
