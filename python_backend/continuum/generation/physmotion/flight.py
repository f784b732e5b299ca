"""The guide: every body's free flight from its start, kept out of the scenario's surfaces.

``free_flight`` gives, per frame, where each body would be if gravity were the only force, from
the scenario's start state (x0 + v0 t + g t^2 / 2), moved out of the ramp (along the slope's
normal, to ``RADIUS`` above its top face) and then out of the ground (to ``RADIUS`` above it).
Moving a falling point out of a slope along its normal keeps the drop's component along the
slope, g sin(angle) t^2 / 2: the frictionless slide, so on the ramp the guide is that slide, on
the ground a slide at the start's horizontal velocity, and in the air the exact flight. The
other ball is not a surface here: the guide ignores collisions between bodies.

The motion model takes it as a second input channel per frame (``model``): physics it need not
learn, so the network spends itself on what the guide leaves out (bounces, friction, tumbling,
collisions). On held-out settings it cut the mean offset from MuJoCo from 0.25 to 0.17 m and the
penetrating samples from 33 % to 6 % at the same training cost (``model``'s docstring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from continuum.generation.physmotion.data import RAMP_HEIGHT
from continuum.generation.physmotion.scenarios import MAX_BODIES, RADIUS, check_params, start_state


def free_flight(scenario: str, params: Mapping[str, float], *, frames: int, fps: int) -> np.ndarray:
    """Each body's guided position per frame, scenario frame; zero rows for absent bodies
    # [frames, MAX_BODIES, 3]

    Raises:
        GenerationError: an unknown scenario, a bad parameter.
    """
    p = check_params(scenario, params)
    starts = start_state(scenario, p)  # [B, 6]
    t = np.arange(frames, dtype=np.float64)[:, None, None] / fps  # [T, 1, 1]
    gravity = np.array([0.0, -p["gravity"], 0.0])
    pos = starts[None, :, :3] + starts[None, :, 3:] * t + 0.5 * gravity * t**2  # [T, B, 3]
    if scenario == "ramp":
        a = math.radians(p["angle"])
        up = np.array([-math.cos(a), math.sin(a)])  # up the slope from its foot at the origin
        normal = np.array([math.sin(a), math.cos(a)])  # out of the top face
        xy = pos[..., :2]
        along, height = xy @ up, xy @ normal
        over = (along > 0.0) & (along < RAMP_HEIGHT / math.sin(a)) & (height < RADIUS)
        pos[..., :2] = np.where(over[..., None], xy + (RADIUS - height)[..., None] * normal, xy)
    pos[..., 1] = np.maximum(pos[..., 1], RADIUS)
    out = np.zeros((frames, MAX_BODIES, 3), np.float32)
    out[:, : len(starts)] = pos
    return out
