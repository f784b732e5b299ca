"""A simulation kept in step with a world's event log.

- ``restore``: a fresh simulation of the world's scene brought to the world's physics: the newest
  saved state (``PhysicsSet``) with the controls logged after it replayed, up to the world's tick.
- ``apply_edits``: entity edits made to the world, made to the simulation too (bodies added,
  removed, rebuilt or moved), returning the events that log its new state: a ``PhysicsSet`` after
  a change of bodies (stored in the same transaction as the edit, so a reopened world never
  pairs a saved state with other bodies), the teleports as ``ControlApplied`` otherwise.
- ``saved_state``, ``control_event``: the events the server logs periodically and per control.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from continuum.physics.simulation import Simulation
from continuum.world.events import (
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    Event,
    PhysicsSet,
    TransformSet,
)
from continuum.world.history import inverse
from continuum.world.scene import Entity
from continuum.world.state import WorldState, apply_in_place

MOVABLE = ("dynamic", "kinematic")


def restore(sim: Simulation, state: WorldState) -> int:
    """Bring a fresh (not started) ``sim`` of ``state``'s scene to ``state``'s physics; returns
    the step it is at.

    Raises:
        PhysicsError: the saved state is of another model, or a logged control fails on replay;
            ``sim`` may then be part way (make a fresh one to start over).
    """
    if state.physics is not None:
        sim.load_state(state.physics)
    controls = [(int(step), op) for step, op in state.controls]
    last = max([state.tick, sim.step_count, *(step for step, _ in controls)])
    sim.replay(last, controls)
    return sim.step_count


def saved_state(sim: Simulation) -> PhysicsSet:
    """The simulation's whole state as an event (taken between two steps)."""
    return PhysicsSet(blob=sim.save_state(), tick=sim.step_count)


def control_event(op: Mapping[str, Any], result: Mapping[str, Any]) -> ControlApplied | None:
    """The event that logs a control applied with ``result``; None for pause, resume and step
    (their effect is in the step counts)."""
    if op.get("op") in ("pause", "resume", "step"):
        return None
    return ControlApplied(step=int(result["step"]), op=dict(op), tick=int(result["step"]))


def apply_edits(sim: Simulation, events: Sequence[Event], before: WorldState) -> list[Event]:
    """Make ``events`` (entity edits applied to the world in state ``before``) to ``sim``.

    Returns the events to log with them: ``[saved_state]`` when bodies changed, else the
    teleports of moved bodies as ``ControlApplied`` (none for edits the physics ignores).

    Raises:
        PhysicsError: the simulation refused an edit (a bad physics component); the edits
            before it are taken back, so the simulation is as it was.
    """
    state = before.copy()
    try:
        return _apply(sim, events, state)
    except BaseException:
        done = state.seq - before.seq - 1  # the failing event was applied to ``state`` first
        if done > 0:
            mid = before.copy()
            for event in events[:done]:
                apply_in_place(mid, event, seq=mid.seq + 1)
            # stamped at the tick reached: an event's tick never goes back
            undo = [dataclasses.replace(e, tick=mid.tick) for e in inverse(before, events[:done])]
            _apply(sim, undo, mid)
        raise


def _apply(sim: Simulation, events: Sequence[Event], state: WorldState) -> list[Event]:
    structural = False
    moves: list[Event] = []
    for event in events:
        old = state.entities.get(getattr(event, "id", ""))
        apply_in_place(state, event, seq=state.seq + 1)
        if isinstance(event, EntityAdded):
            sim.add_entity(Entity.from_json(state.entities[event.entity["id"]]))
            structural = True
        elif isinstance(event, EntityRemoved):
            sim.remove_entity(event.id)
            structural = True
        elif isinstance(event, ComponentSet | ComponentRemoved) and event.name == "physics":
            _rebuild(sim, old or {}, state.entities[event.id])
            structural = True
        elif isinstance(event, TransformSet):
            entity = state.entities[event.id]
            physics = entity["components"].get("physics")
            if not isinstance(physics, dict):
                continue
            if entity.get("parent") is None and physics.get("body", "dynamic") in MOVABLE:
                op = _teleport(entity)
                moves.append(control_event(op, sim.control(op)))  # type: ignore[arg-type]
            else:  # a static body, or one placed under a parent: rebuild it where it is now
                sim.remove_entity(event.id)
                sim.add_entity(Entity.from_json(entity))
                structural = True
    return [saved_state(sim)] if structural else moves


def _rebuild(sim: Simulation, old: dict[str, Any], new: dict[str, Any]) -> None:
    before = old.get("components", {}).get("physics") or {}
    after = new["components"].get("physics")
    if after is None:  # no physics any more: the entity stays, without a body
        sim.remove_entity(new["id"])
        sim.add_entity(Entity.from_json(new))
        return
    changes = {key: None for key in before if key not in after}
    sim.modify_entity(new["id"], {**changes, **after})


def _teleport(entity: dict[str, Any]) -> dict[str, Any]:
    transform = entity["transform"]
    rotation = transform["rotation"]
    norm = math.sqrt(sum(v * v for v in rotation)) or 1.0
    return {
        "op": "teleport",
        "entity": entity["id"],
        "position": list(transform["position"]),
        "rotation": [v / norm for v in rotation],
    }
