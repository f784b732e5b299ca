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
radius (weights in ``RewardConfig``). The offset weighs most (5 per metre: 10 cm count as
much as a free-fall residual of 25 m/s^2): it is the term that says the motion is the one
MuJoCo makes, where the others only say it is a possible one. At 1 per metre, alignment by the
reward's gradient bought smoothness with offset (held-out 0.105 -> 0.116 m).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

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
    w_offset: float = 5.0
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
    pos = torch.as_tensor(np.asarray(positions, np.float64))
    terms = _terms(scenario, params, pos, reference, fps=fps, target=target, config=config)
    return RewardTerms(**{name: value.numpy() for name, value in terms.items()})


def reward_tensor(
    scenario: str,
    params: Mapping[str, float],
    positions: torch.Tensor,
    reference: np.ndarray,
    *,
    fps: int,
    target: tuple[float, float, float] | None = None,
    config: RewardConfig = RewardConfig(),
) -> torch.Tensor:
    """``reward_terms(...).reward`` as a tensor that carries the gradient of ``positions``
    [N, T, B, 3] (alignment differentiates it): every term is a piecewise smooth function of the
    positions, and which frames count as free fall is held fixed  # [N]"""
    return _terms(scenario, params, positions, reference, fps=fps, target=target, config=config)[
        "reward"
    ]


def _terms(
    scenario: str,
    params: Mapping[str, float],
    positions: torch.Tensor,
    reference: np.ndarray,
    *,
    fps: int,
    target: tuple[float, float, float] | None,
    config: RewardConfig,
) -> dict[str, torch.Tensor]:
    p = check_params(scenario, params)
    bodies = check_scenario(scenario).bodies
    pos = positions[:, :, :bodies]  # [N, T, B, 3]
    ref = torch.as_tensor(np.asarray(reference)[:, :bodies], dtype=pos.dtype)
    if pos.shape[1:] != ref.shape:
        raise ValueError(
            f"positions {tuple(pos.shape[1:])} and reference {tuple(ref.shape)} differ in shape"
        )
    offset = torch.linalg.vector_norm(pos - ref[None], dim=-1).mean(dim=(1, 2))
    clearance = surface_clearance(scenario, p, pos)  # [N, T, B]
    depth = torch.relu(-clearance).amax(dim=(1, 2))
    gain = energy_gain(scenario, p, pos, fps=fps)
    residual = freefall_residual(pos, clearance, gravity=p["gravity"], fps=fps, config=config)
    if target is None:
        distance = torch.full((len(pos),), math.nan, dtype=pos.dtype)
    else:
        aim = torch.tensor(target, dtype=pos.dtype)
        distance = torch.linalg.vector_norm(pos[:, :, 0] - aim, dim=-1).amin(dim=1)
    c = config
    reward = -(
        c.w_offset * offset
        + c.w_penetration * torch.relu(depth - c.penetration_tol)
        + c.w_energy * torch.relu(gain - c.energy_tol)
        + c.w_freefall * torch.nan_to_num(residual)
        + c.w_target * torch.relu(torch.nan_to_num(distance) - c.target_radius)
    )
    return {
        "offset_m": offset.detach(),
        "penetration_m": depth.detach(),
        "penetrates": (depth > c.penetration_tol).detach(),
        "energy_gain": gain.detach(),
        "freefall_accel_residual": residual.detach(),
        "target_distance": distance.detach(),
        "target_success": (distance <= c.target_radius).detach(),  # NaN compares False
        "reward": reward,
    }


def passing_target(reference: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """A target the true motion reaches: the first body's position in ``reference`` [T, B, 3]
    at a frame drawn from the clip's middle half (what alignment and the benchmark ask for)."""
    frames = len(reference)
    frame = rng.integers(frames // 4, max(frames // 4 + 1, 3 * frames // 4))
    x, y, z = (float(v) for v in reference[frame, 0])
    return x, y, z


def surface_clearance(
    scenario: str, params: Mapping[str, float], positions: torch.Tensor
) -> torch.Tensor:
    """How far each body's centre is outside every surface, less ``RADIUS``, in metres (< 0:
    penetrating) for ``positions`` [N, T, B, 3]  # [N, T, B]"""
    clearance = positions[..., 1] - RADIUS  # the ground
    if scenario == "ramp":
        a = math.radians(params["angle"])
        length = RAMP_HEIGHT / math.sin(a)
        d = positions.new_tensor([-math.cos(a), math.sin(a)])  # up the slope from its foot
        xy = positions[..., :2]
        along = xy @ d
        closest = along.clamp(0.0, length)[..., None] * d  # [N, T, B, 2]
        to_ramp = torch.linalg.vector_norm(xy - closest, dim=-1)
        # Below the slope's line (inside the ramp) counts as negative distance.
        inside = (xy @ positions.new_tensor([math.sin(a), math.cos(a)])) < 0.0
        inside &= (along > 0.0) & (along < length)
        clearance = torch.minimum(clearance, torch.where(inside, -to_ramp, to_ramp) - RADIUS)
    if scenario == "collide":
        gap = torch.linalg.vector_norm(positions[:, :, 0] - positions[:, :, 1], dim=-1)
        clearance = torch.minimum(clearance, (gap - 2 * RADIUS)[..., None])
    return clearance


def energy_gain(
    scenario: str, params: Mapping[str, float], positions: torch.Tensor, *, fps: int
) -> torch.Tensor:
    """J/kg: the largest rise of the mass-weighted energy per kg over its start value, for
    ``positions`` [N, T, B, 3]  # [N]"""
    g = params["gravity"]
    masses = np.array([params["mass"], params.get("mass2", 0.0)])[: positions.shape[2]]
    w = masses / masses.sum()
    start = start_state(scenario, params)  # [B, 6]
    e0 = float(w @ (g * start[:, 1] + 0.5 * (start[:, 3:] ** 2).sum(1)))
    if positions.shape[1] < 3:
        return positions.new_zeros(len(positions))
    v = (positions[:, 2:] - positions[:, :-2]) * (fps / 2)  # [N, T-2, B, 3]
    e = g * positions[:, 1:-1, :, 1] + 0.5 * (v**2).sum(-1)  # [N, T-2, B]
    return torch.relu((e @ positions.new_tensor(w)).amax(dim=1) - e0)


def freefall_residual(
    positions: torch.Tensor,
    clearance: torch.Tensor,
    *,
    gravity: float,
    fps: int,
    config: RewardConfig = RewardConfig(),
) -> torch.Tensor:
    """m/s^2: the mean |acceleration - gravity| over free-fall frames of ``positions``
    [N, T, B, 3] with their ``clearance`` [N, T, B]; NaN without free-fall frames  # [N]"""
    n = len(positions)
    if positions.shape[1] < 3:
        return positions.new_full((n,), math.nan)
    with torch.no_grad():  # which frames are free is a selection, not a term
        step = torch.linalg.vector_norm(torch.diff(positions, dim=1), dim=-1)  # [N, T-1, B]
        moves = torch.maximum(step[:, :-1], step[:, 1:])  # around each inner frame
        clear = torch.minimum(
            torch.minimum(clearance[:, :-2], clearance[:, 1:-1]), clearance[:, 2:]
        )
        free = clear > config.contact_margin + moves  # [N, T-2, B]
    accel = (positions[:, 2:] - 2 * positions[:, 1:-1] + positions[:, :-2]) * fps**2
    down = positions.new_tensor([0.0, -gravity, 0.0])
    error = torch.linalg.vector_norm(accel - down, dim=-1)  # [N, T-2, B]
    count = free.sum(dim=(1, 2))
    total = torch.where(free, error, 0.0).sum(dim=(1, 2))
    return torch.where(count > 0, total / count.clamp(min=1), math.nan)
