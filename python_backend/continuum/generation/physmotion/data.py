"""Rollouts of the scenarios with real MuJoCo, and data sets of them.

``rollout`` builds the scenario as scene entities (``continuum.physics.body_entity``,
``ground``), assembles them through the project's physics (``Simulation``, never started: it
steps synchronously in the caller's thread, as fast as it can) and records every body's position
once per frame. Steps are ``1 / (fps * substeps)`` seconds with ``substeps = ceil(300 / fps)``
(at most 1/300 s per step). The end velocity is the finite difference over the last step (off by
at most g dt / 2, about 0.016 m/s at 30 fps).

``make_dataset`` draws parameters uniformly from their ranges (``scenarios.sample_params``),
one scenario after the other, and rolls each out (with a progress bar).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from continuum.generation.physmotion.scenarios import (
    MAX_BODIES,
    RADIUS,
    SCENARIO_NAMES,
    check_params,
    condition,
    sample_params,
    start_state,
)
from continuum.physics import PhysicsConfig, Simulation, body_entity, ground
from continuum.world.scene import Entity, Scene

MAX_STEP = 1.0 / 300.0  # s: the longest physics step a rollout takes
RAMP_THICKNESS = 0.1  # m
RAMP_WIDTH = 2.0  # m
RAMP_HEIGHT = 1.5 + RAMP_THICKNESS  # m: the top face's upper end, above the highest start


@dataclass(frozen=True)
class Rollout:
    """A simulated motion, scenario frame, glTF axes.

    Attributes:
        positions: each body's centre per frame, metres  # [T, B, 3]
        end_velocity: each body's velocity at the last frame, m/s  # [B, 3]
        fps: frames per second.
    """

    positions: np.ndarray
    end_velocity: np.ndarray
    fps: int


@dataclass(frozen=True)
class Dataset:
    """Rollouts with what they were rolled out from.

    Attributes:
        scenarios: each sample's scenario name.
        params: each sample's checked parameters.
        conditions: ``scenarios.condition`` of each sample  # [N, C]
        starts: each body's start state, zero rows for absent bodies  # [N, MAX_BODIES, 6]
        positions: each body's positions, zero for absent bodies  # [N, T, MAX_BODIES, 3]
        fps: frames per second.
    """

    scenarios: tuple[str, ...]
    params: tuple[dict[str, float], ...]
    conditions: np.ndarray
    starts: np.ndarray
    positions: np.ndarray
    fps: int


def rollout(
    scenario: str,
    params: Mapping[str, float],
    *,
    frames: int = 64,
    fps: int = 30,
    progress: Callable[[int, int], None] | None = None,
) -> Rollout:
    """``scenario`` with ``params`` simulated for ``frames`` frames (frame 0 is the start).

    Args:
        scenario: a name of ``SCENARIOS``.
        params: its physical parameters by name (defaults fill the missing ones).
        frames: how many frames (>= 1).
        fps: frames per second (>= 1).
        progress: called with (frames done, frames) every 64 frames and at the end.

    Raises:
        GenerationError: an unknown scenario, a bad parameter.
    """
    p = check_params(scenario, params)
    if frames < 1 or fps < 1:
        raise ValueError(f"rollout: frames and fps must be >= 1, got {frames}, {fps}")
    substeps = math.ceil(1.0 / (fps * MAX_STEP) - 1e-9)
    dt = 1.0 / (fps * substeps)
    starts = start_state(scenario, p)  # [B, 6]
    ids = [f"body{k}" for k in range(len(starts))]
    config = PhysicsConfig(
        dt=dt, realtime=False, gravity=(0.0, -p["gravity"], 0.0), max_grabs=0, max_speed=1e3
    )
    positions = np.empty((frames, len(ids), 3), np.float32)
    with Simulation(_scene(scenario, p, starts), config=config) as sim:
        for body, start in zip(ids, starts, strict=True):
            if np.any(start[3:]):
                sim.control(
                    {
                        "op": "teleport",
                        "entity": body,
                        "position": [*map(float, start[:3])],
                        "velocity": [*map(float, start[3:])],
                    }
                )
        order = [sim.poses().ids.index(body) for body in ids]
        positions[0] = sim.poses().poses[order, :3]
        before = positions[0].astype(np.float64)
        for t in range(1, frames):
            if substeps > 1:
                sim.step(substeps - 1)
            before = sim.poses().poses[order, :3].astype(np.float64)
            sim.step(1)
            positions[t] = sim.poses().poses[order, :3]
            if progress is not None and (t % 64 == 0 or t == frames - 1):
                progress(t + 1, frames)
    # One frame only: the start velocity is the end velocity.
    end_velocity = (positions[-1] - before) / dt if frames > 1 else starts[:, 3:]
    if progress is not None and frames == 1:
        progress(1, 1)
    return Rollout(positions, end_velocity.astype(np.float32), fps)


def make_dataset(
    samples: int,
    *,
    frames: int = 64,
    fps: int = 30,
    seed: int = 0,
    scenarios: Sequence[str] = SCENARIO_NAMES,
    show_progress: bool = True,
) -> Dataset:
    """``samples`` rollouts with parameters drawn uniformly, the scenarios taken in turn."""
    rng = np.random.default_rng(seed)
    names, all_params, conds = [], [], []
    starts = np.zeros((samples, MAX_BODIES, 6), np.float32)
    positions = np.zeros((samples, frames, MAX_BODIES, 3), np.float32)
    for i in tqdm(range(samples), desc="rollouts", disable=not show_progress):
        name = scenarios[i % len(scenarios)]
        p = sample_params(name, rng)
        r = rollout(name, p, frames=frames, fps=fps)
        s = start_state(name, p)
        names.append(name)
        all_params.append(p)
        conds.append(condition(name, p))
        starts[i, : len(s)] = s
        positions[i, :, : len(s)] = r.positions
    return Dataset(tuple(names), tuple(all_params), np.stack(conds), starts, positions, fps)


def _scene(scenario: str, p: Mapping[str, float], starts: np.ndarray) -> Scene:
    surface = {"friction": p["friction"], "restitution": 0.0}  # the body's restitution rules
    entities: list[Entity] = [ground(**surface)]
    ball = {"type": "sphere", "radius": RADIUS}
    own = {"friction": p["friction"], "restitution": p["restitution"]}
    if scenario == "ramp":
        a = math.radians(p["angle"])
        length = RAMP_HEIGHT / math.sin(a)
        tilt = (0.0, 0.0, math.sin(-a / 2), math.cos(-a / 2))  # falls along +x
        # The ramp's top face ends at the origin: centre = -R (length / 2, thickness / 2).
        centre = (
            -(length / 2 * math.cos(a) + RAMP_THICKNESS / 2 * math.sin(a)),
            length / 2 * math.sin(a) - RAMP_THICKNESS / 2 * math.cos(a),
            0.0,
        )
        size = [length, RAMP_THICKNESS, RAMP_WIDTH]
        entities.append(
            body_entity(
                "ramp",
                {"type": "box", "size": size},
                position=centre,
                rotation=tilt,
                body="static",
                **surface,
            )
        )
        box = {"type": "box", "size": [2 * RADIUS] * 3}
        entities.append(
            body_entity(
                "body0", box, position=tuple(starts[0, :3]), rotation=tilt, mass=p["mass"], **own
            )
        )
        return Scene(scenario, scenario, tuple(entities))
    masses = [p["mass"], p.get("mass2", 1.0)]
    for k, start in enumerate(starts):
        entities.append(
            body_entity(f"body{k}", ball, position=tuple(start[:3]), mass=masses[k], **own)
        )
    return Scene(scenario, scenario, tuple(entities))
