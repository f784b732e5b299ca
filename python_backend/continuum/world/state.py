"""The world state W as plain data, and ``apply``: the pure, deterministic step W' = f(W, event).

Entities are dicts in scene.schema.json form, keyed by id. ``physics`` is an opaque JSON value
reserved for the simulation's own state (the latest ``PhysicsSet`` blob: ``Simulation.save_state``),
and ``controls`` the ``[step, op]`` of each ``ControlApplied`` since it, in order, so that the
physics at a later tick is the blob plus the controls replayed (``continuum.physics.replay``).
``identities`` holds the identity banks by id, ``memory`` the interaction memory records in order
(a ``MemoryFolded`` replaces some by their summary, appended) and ``narrative`` the narrative
state by key, each as the backend's subsystems write them (JSON, large arrays as asset
references). ``seq`` is the number of the last event applied, ``tick`` and
``time`` its tick and time.

The entity dicts inside a state are never changed in place: ``apply`` replaces the dict of the
entity an event touches. A state is therefore cheap to copy (``copy``: a new entities mapping
that shares the unchanged entities), and callers must treat the dicts as read-only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from continuum.errors import EventError
from continuum.world.events import (
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    Event,
    IdentityRemoved,
    IdentitySet,
    MemoryAdded,
    MemoryFolded,
    NarrativeSet,
    PhysicsSet,
    TagsSet,
    TransformSet,
)
from continuum.world.scene import Entity, Scene

TRANSFORM_SIZES = {"position": 3, "rotation": 4, "scale": 3}
DEFAULT_TRANSFORM = {
    "position": [0.0, 0.0, 0.0],
    "rotation": [0.0, 0.0, 0.0, 1.0],
    "scale": [1.0, 1.0, 1.0],
}


@dataclass
class WorldState:
    """A world at one event: its entities by id and the physics blob."""

    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    physics: Any = None
    controls: list[list[Any]] = field(default_factory=list)  # [step, op] since ``physics``
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)  # bank id -> bank
    memory: list[dict[str, Any]] = field(default_factory=list)  # records, oldest first
    narrative: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    tick: int = 0
    time: float = 0.0

    def copy(self) -> WorldState:
        return replace(
            self,
            entities=dict(self.entities),
            controls=list(self.controls),
            identities=dict(self.identities),
            memory=list(self.memory),
            narrative=dict(self.narrative),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "tick": self.tick,
            "time": self.time,
            "entities": list(self.entities.values()),  # in the order they were added
            "physics": self.physics,
            "controls": self.controls,
            "identities": self.identities,
            "memory": self.memory,
            "narrative": self.narrative,
        }

    def to_scene(self, info: dict[str, Any]) -> Scene:
        """The entities as a Scene, with ``info``'s name, description, folder and mjcf (a
        store's ``scene_info``): what the physics assembles."""
        path = info.get("path")
        return Scene(
            info.get("name", ""),
            info.get("description", ""),
            tuple(Entity.from_json(e) for e in self.entities.values()),
            Path(path) if path else None,
            info.get("mjcf"),
        )

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WorldState:
        return cls(
            entities={e["id"]: e for e in doc["entities"]},
            physics=doc["physics"],
            controls=list(doc.get("controls", [])),
            identities=dict(doc.get("identities", {})),
            memory=list(doc.get("memory", [])),
            narrative=dict(doc.get("narrative", {})),
            seq=doc["seq"],
            tick=doc["tick"],
            time=doc["time"],
        )


def apply(state: WorldState, event: Event, *, seq: int | None = None) -> WorldState:
    """The state after ``event``; ``state`` is left as it was.

    ``seq`` is the event's number (default ``state.seq + 1``).

    Raises:
        EventError: the event does not fit the state (an unknown entity, a duplicate id, a tick
            before the state's tick, a malformed transform).
    """
    out = state.copy()
    apply_in_place(out, event, seq=state.seq + 1 if seq is None else seq)
    return out


def apply_in_place(state: WorldState, event: Event, *, seq: int) -> None:
    """``apply`` on ``state`` itself (the store's replay loop). On EventError ``state`` is
    unchanged."""
    if event.tick < state.tick:
        raise EventError(
            f"event {seq} ({event.kind}) has tick {event.tick}, before the world's tick "
            f"{state.tick}; ticks never go back"
        )
    entities = state.entities
    if isinstance(event, TransformSet):
        e = _entity(entities, event.id, event)
        entities[event.id] = {**e, "transform": {**e["transform"], **_transform(event.transform)}}
    elif isinstance(event, EntityAdded):
        e = _new_entity(event.entity)
        if e["id"] in entities:
            raise EventError(f"event {event.kind}: entity {e['id']!r} already exists")
        if e.get("parent") is not None and e["parent"] not in entities:
            raise EventError(f"event {event.kind}: parent {e['parent']!r} does not exist")
        entities[e["id"]] = e
    elif isinstance(event, EntityRemoved):
        _entity(entities, event.id, event)
        children = [k for k, v in entities.items() if v.get("parent") == event.id]
        if children:
            raise EventError(
                f"event {event.kind}: entity {event.id!r} has children {sorted(children)[:5]}; "
                "remove them first"
            )
        del entities[event.id]
    elif isinstance(event, ComponentSet):
        e = _entity(entities, event.id, event)
        entities[event.id] = {**e, "components": {**e["components"], event.name: event.value}}
    elif isinstance(event, ComponentRemoved):
        e = _entity(entities, event.id, event)
        if event.name not in e["components"]:
            raise EventError(f"event {event.kind}: entity {event.id!r} has no {event.name!r}")
        components = dict(e["components"])
        del components[event.name]
        entities[event.id] = {**e, "components": components}
    elif isinstance(event, TagsSet):
        e = _entity(entities, event.id, event)
        if not all(isinstance(t, str) for t in event.tags):
            raise EventError(f"event {event.kind}: tags must be strings, got {event.tags!r}")
        entities[event.id] = {**e, "tags": list(event.tags)}
    elif isinstance(event, PhysicsSet):
        state.physics = event.blob
        state.controls = []
    elif isinstance(event, ControlApplied):
        step = event.step
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise EventError(f"event {event.kind}: step must be an integer >= 0, got {step!r}")
        if not isinstance(event.op, dict) or not isinstance(event.op.get("op"), str):
            raise EventError(f"event {event.kind}: op must be an object with an 'op' string")
        if state.controls and step < state.controls[-1][0]:
            raise EventError(
                f"event {event.kind}: step {step} is before the previous control's step "
                f"{state.controls[-1][0]}; controls come in step order"
            )
        state.controls.append([step, event.op])
    elif isinstance(event, IdentitySet):
        if not isinstance(event.id, str) or not event.id or not isinstance(event.bank, dict):
            raise EventError(f"event {event.kind}: needs a string id and a bank object")
        state.identities = {**state.identities, event.id: event.bank}
    elif isinstance(event, IdentityRemoved):
        if event.id not in state.identities:
            raise EventError(f"event {event.kind}: no identity bank {event.id!r}")
        state.identities = {k: v for k, v in state.identities.items() if k != event.id}
    elif isinstance(event, MemoryAdded):
        record = event.record
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise EventError(f"event {event.kind}: a record is an object with a string id")
        state.memory.append(record)  # copies have lists of their own
    elif isinstance(event, MemoryFolded):
        state.memory = _fold(state.memory, event)
    elif isinstance(event, NarrativeSet):
        if not isinstance(event.key, str) or not event.key:
            raise EventError(f"event {event.kind}: key must be a non-empty string")
        narrative = {k: v for k, v in state.narrative.items() if k != event.key}
        if event.value is not None:
            narrative[event.key] = event.value
        state.narrative = narrative
    else:
        raise EventError(f"not a world event: {event!r}")
    state.seq = seq
    state.tick = event.tick
    state.time = event.time


def _entity(entities: dict[str, dict[str, Any]], entity_id: str, event: Event) -> dict[str, Any]:
    try:
        return entities[entity_id]
    except (KeyError, TypeError):
        raise EventError(f"event {event.kind}: no entity {entity_id!r} in the world") from None


def _fold(memory: list[dict[str, Any]], event: MemoryFolded) -> list[dict[str, Any]]:
    ids, summary = event.ids, event.summary
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, str) for i in ids)
        or len(set(ids)) != len(ids)
    ):
        raise EventError(f"event {event.kind}: ids must be distinct record ids, got {ids!r:.80}")
    if not isinstance(summary, dict) or not isinstance(summary.get("id"), str):
        raise EventError(f"event {event.kind}: a summary is an object with a string id")
    folded, kept, found = set(ids), [], set()
    for record in memory:  # one pass: the new list, the ids found, the summary's id unused
        if record["id"] in folded:
            found.add(record["id"])
        else:
            kept.append(record)
        if record["id"] == summary["id"]:
            raise EventError(f"event {event.kind}: memory record {summary['id']!r} exists")
    if found != folded:
        raise EventError(f"event {event.kind}: no memory records {sorted(folded - found)[:5]}")
    return [*kept, summary]


def _transform(raw: Any) -> dict[str, list[float]]:
    if not isinstance(raw, dict) or not set(raw) <= set(TRANSFORM_SIZES):
        raise EventError(
            f"a transform is an object with position, rotation and/or scale, got {raw!r}"
        )
    out = {}
    for key, value in raw.items():
        size = TRANSFORM_SIZES[key]
        if (
            not isinstance(value, list | tuple)
            or len(value) != size
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)
        ):
            raise EventError(f"transform {key} must be {size} finite numbers, got {value!r}")
        out[key] = [float(v) for v in value]
    return out


def _new_entity(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise EventError(f"an added entity needs a non-empty string id, got {raw!r}")
    components = raw.get("components", {})
    if not isinstance(components, dict):
        raise EventError(f"entity {raw['id']!r}: components must be an object")
    tags = raw.get("tags", [])
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise EventError(f"entity {raw['id']!r}: tags must be a list of strings")
    out = {
        "id": raw["id"],
        "name": raw.get("name", raw["id"]),
        "transform": {**DEFAULT_TRANSFORM, **_transform(raw.get("transform", {}))},
        "tags": list(tags),
        "components": dict(components),
    }
    if raw.get("parent") is not None:
        out["parent"] = raw["parent"]
    return out
