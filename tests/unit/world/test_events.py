import json

import pytest

from continuum.errors import EventError
from continuum.world.events import (
    EVENT_TYPES,
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    IdentityRemoved,
    IdentitySet,
    MemoryAdded,
    MemoryFolded,
    NarrativeSet,
    PhysicsSet,
    TagsSet,
    TransformSet,
    event_from_json,
)

EXAMPLES = [
    EntityAdded(entity={"id": "a", "name": "A"}, tick=1, time=2.5),
    EntityRemoved(id="a", tick=3),
    TransformSet(id="a", transform={"position": [1.0, 2.0, 3.0]}, tick=4),
    ComponentSet(id="a", name="light", value={"kind": "omni"}),
    ComponentRemoved(id="a", name="light"),
    TagsSet(id="a", tags=["x", "y"]),
    PhysicsSet(blob={"qpos": [0.0, 1.0]}),
    ControlApplied(step=7, op={"op": "impulse", "entity": "a", "impulse": [0.0, 1.0, 0.0]}),
    IdentitySet(id="anna", bank={"embeddings": {"asset": "ab" * 32}, "count": 3}),
    IdentityRemoved(id="anna"),
    MemoryAdded(record={"id": "m1", "said": "hello", "gaze": "ball"}, tick=9),
    MemoryFolded(ids=["m1", "m2"], summary={"id": "m3", "text": "2 records"}, tick=10),
    NarrativeSet(key="act", value=2),
]


def test_every_kind_has_an_example():
    assert {e.kind for e in EXAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.kind)
def test_json_round_trip(event):
    doc = json.loads(json.dumps(event.to_json()))
    assert doc["kind"] == event.kind and doc["version"] == 1
    assert doc["tick"] == event.tick and doc["time"] == event.time
    assert event_from_json(doc) == event


def test_unknown_version_is_a_clear_error():
    doc = EXAMPLES[1].to_json() | {"version": 7}
    with pytest.raises(EventError, match=r"version 7.*reads version 1"):
        event_from_json(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "teleport", "version": 1}, "unknown event kind 'teleport'"),
        ([], "must be a JSON object"),
        ({"kind": "entity_removed", "version": 1}, "entity_removed"),
        ({"kind": "entity_removed", "version": 1, "id": "a", "extra": 1}, "extra"),
        ({"kind": "entity_removed", "version": 1, "id": "a", "tick": -1}, "tick"),
        ({"kind": "entity_removed", "version": 1, "id": "a", "time": "now"}, "time"),
    ],
)
def test_malformed_events_are_refused(doc, message):
    with pytest.raises(EventError, match=message):
        event_from_json(doc)
