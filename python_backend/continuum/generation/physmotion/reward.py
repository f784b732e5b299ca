"""How physical a generated motion is: terms measured against MuJoCo and the scenario's geometry.

For ``N`` generated trajectories of one scenario with one parameter setting (positions
[N, T, B, 3], scenario frame) and the MuJoCo re-simulation of the same setting
(``data.rollout``, [T, B, 3]), ``reward_terms`` measures, per trajectory:

- ``offset_m``: the mean distance (m) between generated and re-simulated positions, over frames
  and bodies.
- ``penetration_m``: the deepest penetration (m) of any body into the ground, the ramp (the
  ramp's top face as a segment: a box contains the ball of radius ``RADIUS`` about its centre,
  so its centre can never come closer to a surface than that) or the other ball.
  ``penetrates`` is ``penetration_m > penetration_tol``: MuJoCo's soft contacts themselves sink
  up to about 6 cm on the hardest impacts in range (11 m/s), so the tolerance is 7 cm.
- ``energy_gain``: J/kg, how far the mass-weighted mechanical energy per kg (g y + |v|^2 / 2,
  velocities by central differences) ever rises above its start value (the start velocity is
  the scenario's, exact). Rotation starts at zero, so translation and height alone can only
  lose energy; ``energy_tol`` (0.5 J/kg) absorbs the differences' error.
- ``freefall_accel_residual``: m/s^2, the mean norm of (second difference of position * fps^2
  - gravity) over free-fall frames: frames where the body, at that frame and both neighbours,
  is farther from every surface than ``contact_margin`` plus the distance it moves in a frame
  (so no contact can happen in between). NaN when a trajectory has no free-fall frame.
- with a ``target`` (x, y, z): ``target_distance``, the closest approach (m) of the first body
  to it, and ``target_success``: that distance is within ``target_radius`` (0.15 m: 1.5 ball
  radii). NaN and False without a target.

``reward`` combines them: minus the weighted sum of the offset, penetration beyond tolerance,
energy gain beyond tolerance, free-fall residual (NaN counts 0) and target distance beyond the
radius (weights in ``RewardConfig``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from continuum.generation.physmotion.data import RAMP_HEIGHT
from continuum.generation.physmotion.scenarios import (
    RADIUS,
    check_params,
    check_scenario,
    start_state,
)


@dataclass(frozen=True)
class RewardConfig:
    """Tolerances and weights of the reward (see the module docstring).

    Attributes:
        penetration_tol: m.
        energy_tol: J/kg.
        contact_margin: m.
        target_radius: m.
        w_offset: per metre of offset.
        w_penetration: per metre of penetration beyond the tolerance.
        w_energy: per J/kg of gain beyond the tolerance.
        w_freefall: per m/s^2 of free-fall residual.
        w_target: per metre of target distance beyond the radius.
    """

    penetration_tol: float = 0.07
    energy_tol: float = 0.5
    contact_margin: float = 0.05
    target_radius: float = 0.15
    w_offset: float = 1.0
    w_penetration: float = 5.0
    w_energy: float = 0.2
    w_freefall: float = 0.02
    w_target: float = 1.0


@dataclass(frozen=True)
class RewardTerms:
    """The terms of ``N`` trajectories, each an array [N] (see the module docstring)."""

    offset_m: np.ndarray
    penetration_m: np.ndarray
    penetrates: np.ndarray
    energy_gain: np.ndarray
    freefall_accel_residual: np.ndarray
    target_distance: np.ndarray
    target_success: np.ndarray
    reward: np.ndarray


def reward_terms(
    scenario: str,
    params: Mapping[str, float],
    positions: np.ndarray,
    reference: np.ndarray,
    *,
    fps: int,
    target: tuple[float, float, float] | None = None,
    config: RewardConfig = RewardConfig(),
) -> RewardTerms:
    """The terms of ``positions`` [N, T, B, 3] against the re-simulation ``reference``
    [T, B, 3] of ``scenario`` with ``params`` at ``fps``; ``target`` in the scenario frame."""
    p = check_params(scenario, params)
    bodies = check_scenario(scenario).bodies
    pos = np.asarray(positions, np.float64)[:, :, :bodies]  # [N, T, B, 3]
    ref = np.asarray(reference, np.float64)[:, :bodies]
    if pos.shape[1:] != ref.shape:
        raise ValueError(f"positions {pos.shape[1:]} and reference {ref.shape} differ in shape")
    offset = np.linalg.norm(pos - ref[None], axis=-1).mean(axis=(1, 2))
    clearance = surface_clearance(scenario, p, pos)  # [N, T, B]
    depth = np.maximum(-clearance, 0.0).max(axis=(1, 2))
    gain = energy_gain(scenario, p, pos, fps=fps)
    residual = freefall_residual(pos, clearance, gravity=p["gravity"], fps=fps, config=config)
    if target is None:
        distance = np.full(len(pos), np.nan)
    else:
        distance = np.linalg.norm(pos[:, :, 0] - np.asarray(target)[None, None], axis=-1).min(1)
    success = distance <= config.target_radius  # NaN compares False
    c = config
    reward = -(
        c.w_offset * offset
        + c.w_penetration * np.maximum(depth - c.penetration_tol, 0.0)
        + c.w_energy * np.maximum(gain - c.energy_tol, 0.0)
        + c.w_freefall * np.nan_to_num(residual)
        + c.w_target * np.maximum(np.nan_to_num(distance) - c.target_radius, 0.0)
    )
    return RewardTerms(
        offset, depth, depth > c.penetration_tol, gain, residual, distance, success, reward
    )


def passing_target(reference: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """A target the true motion reaches: the first body's position in ``reference`` [T, B, 3]
    at a frame drawn from the clip's middle half (what alignment and the benchmark ask for)."""
    frames = len(reference)
    frame = rng.integers(frames // 4, max(frames // 4 + 1, 3 * frames // 4))
    x, y, z = (float(v) for v in reference[frame, 0])
    return x, y, z


def surface_clearance(
    scenario: str, params: Mapping[str, float], positions: np.ndarray
) -> np.ndarray:
    """How far each body's centre is outside every surface, less ``RADIUS``, in metres (< 0:
    penetrating) for ``positions`` [N, T, B, 3]  # [N, T, B]"""
    clearance = positions[..., 1] - RADIUS  # the ground
    if scenario == "ramp":
        a = math.radians(params["angle"])
        length = RAMP_HEIGHT / math.sin(a)
        d = np.array([-math.cos(a), math.sin(a)])  # up the slope from its foot at the origin
        xy = positions[..., :2]
        s = np.clip(xy @ d, 0.0, length)
        closest = s[..., None] * d  # [N, T, B, 2]
        to_ramp = np.linalg.norm(xy - closest, axis=-1)
        # Below the slope's line (inside the ramp) counts as negative distance.
        inside = (xy @ np.array([math.sin(a), math.cos(a)])) < 0.0
        inside &= (xy @ d > 0.0) & (xy @ d < length)
        clearance = np.minimum(clearance, np.where(inside, -to_ramp, to_ramp) - RADIUS)
    if scenario == "collide":
        gap = np.linalg.norm(positions[:, :, 0] - positions[:, :, 1], axis=-1) - 2 * RADIUS
        clearance = np.minimum(clearance, gap[..., None])
    return clearance


def energy_gain(
    scenario: str, params: Mapping[str, float], positions: np.ndarray, *, fps: int
) -> np.ndarray:
    """J/kg: the largest rise of the mass-weighted energy per kg over its start value, for
    ``positions`` [N, T, B, 3]  # [N]"""
    g = params["gravity"]
    masses = np.array([params["mass"], params.get("mass2", 0.0)])[: positions.shape[2]]
    w = masses / masses.sum()
    start = start_state(scenario, params)  # [B, 6]
    e0 = float(w @ (g * start[:, 1] + 0.5 * (start[:, 3:] ** 2).sum(1)))
    if positions.shape[1] < 3:
        return np.zeros(len(positions))
    v = (positions[:, 2:] - positions[:, :-2]) * (fps / 2)  # [N, T-2, B, 3]
    e = g * positions[:, 1:-1, :, 1] + 0.5 * (v**2).sum(-1)  # [N, T-2, B]
    return np.maximum((e @ w).max(axis=1) - e0, 0.0)


def freefall_residual(
    positions: np.ndarray,
    clearance: np.ndarray,
    *,
    gravity: float,
    fps: int,
    config: RewardConfig = RewardConfig(),
) -> np.ndarray:
    """m/s^2: the mean |acceleration - gravity| over free-fall frames of ``positions``
    [N, T, B, 3] with their ``clearance`` [N, T, B]; NaN without free-fall frames  # [N]"""
    n = len(positions)
    if positions.shape[1] < 3:
        return np.full(n, np.nan)
    step = np.linalg.norm(np.diff(positions, axis=1), axis=-1)  # [N, T-1, B]
    moves = np.maximum(step[:, :-1], step[:, 1:])  # around each inner frame  # [N, T-2, B]
    clear = np.minimum(np.minimum(clearance[:, :-2], clearance[:, 1:-1]), clearance[:, 2:])
    free = clear > config.contact_margin + moves
    accel = (positions[:, 2:] - 2 * positions[:, 1:-1] + positions[:, :-2]) * fps**2
    error = np.linalg.norm(accel - np.array([0.0, -gravity, 0.0]), axis=-1)  # [N, T-2, B]
    count = free.sum(axis=(1, 2))
    total = np.where(free, error, 0.0).sum(axis=(1, 2))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
