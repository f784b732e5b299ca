"""Small physics scenes built in code, for benchmarks and tests (no files needed)."""

from __future__ import annotations

import math

import numpy as np

from continuum.world.scene import Entity, Scene, Transform

GROUND = "ground"


def body_entity(
    entity_id: str,
    shape: dict,
    *,
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
    parent: str | None = None,
    **physics: object,
) -> Entity:
    """An entity with a shape and a physics component (keyword arguments: physics fields)."""
    return Entity(
        id=entity_id,
        name=entity_id,
        transform=Transform(position=position, rotation=rotation),
        parent=parent,
        components={"shape": shape, "physics": dict(physics)},
    )


def ground(*, friction: float = 0.8, restitution: float = 0.0) -> Entity:
    """A static ground plane at y = 0 (infinite for collisions)."""
    return body_entity(
        GROUND,
        {"type": "plane", "size": [100.0, 100.0]},
        body="static",
        friction=friction,
        restitution=restitution,
    )


def make_pile(n: int, *, size: float = 0.2, seed: int = 0) -> Scene:
    """A ground and ``n`` free bodies stacked in contact: boxes, every third one a ball.

    The bodies stand in layers of a square grid about four layers high, each layer offset by half
    a body and slightly turned (seeded), so every body rests on others or on the ground from the
    first step and the pile settles with many contacts. Body ids are ``body-<i>``.

    Args:
        n: the number of free bodies (>= 0).
        size: the box edge and ball diameter in metres.
        seed: the small random turns about the vertical.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"make_pile: n must be an int >= 0, got {n!r}")
    rng = np.random.default_rng(seed)
    side = max(1, math.ceil(math.sqrt(n / 4)))
    half = size / 2
    entities = [ground()]
    for i in range(n):
        layer, cell = divmod(i, side * side)
        row, col = divmod(cell, side)
        offset = half if layer % 2 else 0.0
        position = (
            (col - side / 2) * size + offset,
            half + layer * (size + 0.001),
            (row - side / 2) * size + offset,
        )
        yaw = float(rng.uniform(-0.1, 0.1))
        rotation = (0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2))
        if i % 3 == 2:
            shape = {"type": "sphere", "radius": half}
        else:
            shape = {"type": "box", "size": [0.98 * size] * 3}
        entities.append(
            body_entity(f"body-{i}", shape, position=position, rotation=rotation, density=500.0)
        )
    return Scene(f"pile-{n}", f"{n} free bodies piled in contact", tuple(entities))
