"""What a simulation gives out: pose frames (the state stream) and events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PoseFrame:
    """One consistent snapshot of every streamed body's pose.

    Attributes:
        layout: the layout version: it changes whenever bodies are added or removed.
        ids: body ids in pose order (the layout's order).
        sim_time: simulated seconds at the snapshot (= step * dt).
        step: steps taken since the simulation started.
        poses: float32 rows (px, py, pz, qx, qy, qz, qw): each body's origin and orientation,
            world frame, glTF axes  # [N, 7]
    """

    layout: int
    ids: list[str]
    sim_time: float
    step: int
    poses: np.ndarray


@dataclass(frozen=True)
class PhysicsEvent:
    """Something the simulation did on its own that clients may want to know.

    Attributes:
        kind: "diverged": ``entities`` went NaN, infinite or faster than the configured limits
            and were reset to their last good (or initial) pose at rest; the others went on.
        entities: the body ids concerned.
        sim_time: simulated seconds when it happened.
        message: a human-readable account.
    """

    kind: str
    entities: list[str]
    sim_time: float
    message: str
