"""Divergence: finding bodies whose state blew up, and resetting only them.

A kinematic tree (a free body, or a whole articulated MJCF model) diverges when any of its
positions or velocities is NaN or infinite, or a linear speed exceeds ``max_speed`` or an angular
speed ``max_angular_speed``. The tree goes back to the last good state (snapshots every
``good_state_interval`` steps; its initial pose if it diverges again within a second), at rest,
its grabs and timed forces ended; every other tree goes on untouched. MuJoCo's own automatic reset
of the whole simulation is switched off (assembly), so this is the one recovery path.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from continuum.physics._state import PhysicsState
from continuum.physics.stream import PhysicsEvent

_RECENT_S = 1.0  # a second divergence within this much simulated time resets to the initial pose


def check(state: PhysicsState) -> PhysicsEvent | None:
    """Reset the diverged trees of ``state`` and describe them; None when all is well.

    The common case costs one max over |qvel| and one sum over qpos.
    """
    d, cfg = state.data, state.config
    fast = min(cfg.max_speed, cfg.max_angular_speed) / math.sqrt(3.0)
    if (d.qvel.size == 0 or float(np.abs(d.qvel).max()) <= fast) and math.isfinite(
        float(d.qpos.sum())
    ):
        return None
    reasons = diverged_trees(state)
    if not reasons:
        return None
    return reset(state, reasons)


def diverged_trees(state: PhysicsState) -> dict[int, str]:
    """Tree id -> why it counts as diverged, for every diverged tree."""
    d, idx, cfg = state.data, state.index, state.config
    reasons: dict[int, str] = {}
    bad_q = np.flatnonzero(~np.isfinite(d.qpos))
    for tree in set(idx.qpos_tree[bad_q].tolist()) - {-1}:
        reasons[tree] = "a position is NaN or infinite"
    bad_v = np.flatnonzero(~np.isfinite(d.qvel))
    for tree in set(idx.dof_tree[bad_v].tolist()) - {-1}:
        reasons.setdefault(tree, "a velocity is NaN or infinite")
    for tree, reason in _speeding(state, cfg.max_speed, cfg.max_angular_speed).items():
        reasons.setdefault(tree, reason)
    return reasons


def too_fast(state: PhysicsState, tree: int) -> str | None:
    """Why tree ``tree`` is over the speed limits (or not finite) now, or None."""
    d, idx = state.data, state.index
    dofs = idx.tree_dofs.get(tree)
    if dofs is None:
        return None
    if not np.isfinite(d.qvel[dofs]).all():
        return "a velocity is not finite"
    return _speeding(state, state.config.max_speed, state.config.max_angular_speed).get(tree)


def reset(state: PhysicsState, reasons: dict[int, str]) -> PhysicsEvent:
    """Put each tree of ``reasons`` back to its last good (or initial) pose at rest."""
    from continuum.physics import controls

    m, d, idx = state.model, state.data, state.index
    recent = round(_RECENT_S / state.config.dt)
    ids: list[str] = []
    parts: list[str] = []
    for tree, reason in sorted(reasons.items()):
        qpos = idx.tree_qpos[tree]
        dofs = idx.tree_dofs[tree]
        again = state.step_count - state.resets.get(tree, -recent - 1) <= recent
        source = state.initial_qpos if again else state.last_good
        if not np.isfinite(source[qpos]).all():
            source = state.initial_qpos
        d.qpos[qpos] = source[qpos]
        d.qvel[dofs] = 0.0
        d.qacc[dofs] = 0.0
        d.qacc_warmstart[dofs] = 0.0
        d.xfrc_applied[idx.tree_bodies[tree]] = 0.0
        state.resets[tree] = state.step_count
        tree_ids = idx.tree_ids(tree)
        controls.release_all(state, set(tree_ids))
        ids.extend(tree_ids)
        where = "initial" if source is state.initial_qpos else "last good"
        parts.append(
            f"{', '.join(tree_ids) or f'tree {tree}'}: {reason}; reset to its {where} pose"
        )
    mujoco.mj_kinematics(m, d)
    order = {name: i for i, name in enumerate(idx.layout_ids)}
    ids.sort(key=lambda name: order.get(name, len(order)))
    return PhysicsEvent(
        kind="diverged",
        entities=ids,
        sim_time=state.sim_time,
        message="diverged and reset at rest (the others went on): " + "; ".join(parts),
    )


def _speeding(state: PhysicsState, max_speed: float, max_spin: float) -> dict[int, str]:
    d, idx = state.data, state.index
    out: dict[int, str] = {}
    groups = (
        (idx.lin3, max_speed, "m/s", True),
        (idx.ang3, max_spin, "rad/s", True),
        (idx.lin1, max_speed, "m/s", False),
        (idx.ang1, max_spin, "rad/s", False),
    )
    for dofs, limit, unit, vector in groups:
        if dofs.size == 0:
            continue
        speed = np.linalg.norm(d.qvel[dofs], axis=1) if vector else np.abs(d.qvel[dofs])
        for k in np.flatnonzero(speed > limit):
            first = dofs[k][0] if vector else dofs[k]
            tree = int(idx.dof_tree[first])
            if tree >= 0:
                out.setdefault(tree, f"speed {speed[k]:.4g} {unit} over the limit of {limit:g}")
    return out
