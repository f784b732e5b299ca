"""Small scenes and probes shared by the physics tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from continuum.physics import Simulation, body_entity, ground
from continuum.world import Entity, Scene

G = 9.81
DT = 0.002


def scene(*entities: Entity, mjcf: str | None = None, path: Path | None = None) -> Scene:
    """A scene of ``entities`` (and an MJCF model in the folder ``path``)."""
    return Scene("test", "", tuple(entities), path, mjcf)


def ball(entity_id: str, position: tuple[float, float, float], radius: float = 0.1, **physics):
    return body_entity(
        entity_id, {"type": "sphere", "radius": radius}, position=position, **physics
    )


def box(entity_id: str, position: tuple[float, float, float], size=(0.2, 0.2, 0.2), **physics):
    return body_entity(entity_id, {"type": "box", "size": list(size)}, position=position, **physics)


def floor(**physics) -> Entity:
    return ground(**physics)


def exact_state(sim: Simulation, ids: list[str]) -> dict[str, np.ndarray]:
    """Per body id, its float64 world pose and free-joint velocity in MuJoCo's own terms (for
    bitwise comparisons): xpos [3], xquat [4], qvel [6]."""

    def read(state):
        out = {}
        for entity_id in ids:
            body = state.index.body[entity_id]
            _, dadr = state.index.free[body]
            out[entity_id] = np.concatenate(
                [state.data.xpos[body], state.data.xquat[body], state.data.qvel[dadr : dadr + 6]]
            )
        return out

    return sim._run(read)


def position(sim: Simulation, entity_id: str) -> np.ndarray:
    """The body's position from the latest pose frame (glTF axes), float64  # [3]"""
    frame = sim.poses()
    return frame.poses[frame.ids.index(entity_id), :3].astype(np.float64)


def velocity(sim: Simulation, entity_id: str) -> np.ndarray:
    """A free body's linear velocity in glTF world axes, from the live state  # [3]"""

    def read(state):
        body = state.index.body[entity_id]
        _, dadr = state.index.free[body]
        v = state.data.qvel[dadr : dadr + 3]
        return np.array([v[0], v[2], -v[1]])

    return sim._run(read)
