"""State I/O: a simulation's full state as a JSON-ready dict, and back.

The dict holds the step count, MuJoCo's integration state (``mjSTATE_INTEGRATION``: time,
qpos, qvel, act, warm start, ctrl, applied forces, mocap poses, weld activity) as base64 of the
float64 array, and what controls keep on top of it (gravity, live parameters, grabs, timed
forces, the divergence bookkeeping), so a restored simulation continues bitwise as the saved
one would have. Floats outside the base64 arrays are JSON numbers, which round-trip exactly.

A saved state only fits a simulation of the same model: the same streamed bodies in the same
order and the same state size; ``load_state`` refuses anything else.
"""

from __future__ import annotations

import base64
from typing import Any

import mujoco
import numpy as np

from continuum.errors import PhysicsError
from continuum.physics._state import Grab, PhysicsState, TimedForce

FORMAT = "continuum.physics.state"
VERSION = 1
_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION


def dump_state(state: PhysicsState) -> dict[str, Any]:
    """``state`` as a JSON-ready dict (run between two steps)."""
    m, d = state.model, state.data
    integration = np.empty(mujoco.mj_stateSize(m, _SPEC), dtype=np.float64)
    mujoco.mj_getState(m, d, integration, _SPEC)
    return {
        "format": FORMAT,
        "version": VERSION,
        "step": state.step_count,
        "sim_time": state.sim_time,
        "dt": state.config.dt,
        "layout": list(state.index.layout_ids),
        "bodies": sorted(state.index.body),
        "nq": int(m.nq),
        "nv": int(m.nv),
        "integration": _encode(integration),
        "initial_qpos": _encode(state.initial_qpos),
        "last_good": _encode(state.last_good),
        "gravity": [float(g) for g in state.gravity],
        "overrides": {k: dict(v) for k, v in sorted(state.overrides.items())},
        "grabs": [_grab_json(g) for g in state.grabs.values()],
        "forces": [_force_json(f) for f in state.forces],
        "forced": [int(b) for b in state._forced],
        "resets": [[int(t), int(s)] for t, s in sorted(state.resets.items())],
    }


def load_state(state: PhysicsState, doc: Any) -> None:
    """Put a ``dump_state`` dict into ``state`` (run between two steps).

    Raises:
        PhysicsError: not a saved state, or one saved from another model (the message says
            what differs); ``state`` is left unchanged.
    """
    # 1. Check everything before changing anything.
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PhysicsError(
            f"load_state needs a dict from Simulation.save_state (format {FORMAT!r}), "
            f"got {type(doc).__name__}"
        )
    if doc.get("version") != VERSION:
        raise PhysicsError(
            f"saved physics state version {doc.get('version')!r}; this Continuum reads {VERSION}"
        )
    m = state.model
    try:
        layout, bodies = list(doc["layout"]), list(doc["bodies"])
        if layout != list(state.index.layout_ids):
            raise PhysicsError(
                "load_state: the saved state is of another model: its streamed bodies are "
                f"{layout[:8]}{'...' if len(layout) > 8 else ''}, this simulation's are "
                f"{list(state.index.layout_ids)[:8]}; load it into a simulation of the same scene"
            )
        if bodies != sorted(state.index.body):
            raise PhysicsError(
                "load_state: the saved state is of another model (its bodies differ); load it "
                "into a simulation of the same scene"
            )
        if (doc["nq"], doc["nv"]) != (m.nq, m.nv):
            raise PhysicsError(
                f"load_state: the saved state has nq={doc['nq']}, nv={doc['nv']}, this model "
                f"nq={m.nq}, nv={m.nv}; load it into a simulation of the same scene"
            )
        if doc["dt"] != state.config.dt:
            raise PhysicsError(
                f"load_state: the state was saved with dt={doc['dt']}, this simulation steps "
                f"at dt={state.config.dt}; use the same PhysicsConfig"
            )
        integration = _decode(doc["integration"], mujoco.mj_stateSize(m, _SPEC), "integration")
        initial_qpos = _decode(doc["initial_qpos"], m.nq, "initial_qpos")
        last_good = _decode(doc["last_good"], m.nq, "last_good")
        step = doc["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise PhysicsError(f"load_state: step must be an int >= 0, got {step!r:.40}")
        gravity = np.asarray(doc["gravity"], dtype=np.float64).reshape(3)
        overrides = {
            str(k): {str(p): float(x) for p, x in v.items()} for k, v in doc["overrides"].items()
        }
        grabs = [_grab_from(g) for g in doc["grabs"]]
        forces = [_force_from(f) for f in doc["forces"]]
        forced = [int(b) for b in doc["forced"]]
        resets = {int(t): int(s) for t, s in doc["resets"]}
    except PhysicsError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PhysicsError(
            f"load_state: a malformed saved state ({type(exc).__name__}: {exc})"
        ) from None
    for entity in [*overrides, *(g.entity for g in grabs), *(f.entity for f in forces)]:
        if entity not in state.index.body:
            raise PhysicsError(f"load_state: the saved state names {entity!r}, not a body here")
    if state.overrides and state.overrides != overrides:
        raise PhysicsError(
            "load_state: this simulation has live parameters set (set mass, friction...); load "
            "the state into a fresh Simulation of the scene"
        )
    if any(g.slot is not None and not 0 <= g.slot < len(state.index.grab_slots) for g in grabs):
        raise PhysicsError("load_state: a saved grab uses a grab slot this model lacks")

    # 2. Put the model back as the controls left it: gravity, live parameters, grab welds.
    from continuum.physics import controls

    state.gravity = gravity
    state.overrides = overrides
    state.grabs = {g.entity: g for g in grabs}
    controls.reapply(state)

    # 3. The integration state, then the bookkeeping, then the derived quantities.
    d = state.data
    mujoco.mj_setState(m, d, integration, _SPEC)
    state.forces, state._forced, state.resets = forces, forced, resets
    state.step_count = step
    state.initial_qpos, state.last_good = initial_qpos, last_good
    mujoco.mj_kinematics(m, d)
    state.snapshot()


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f8").tobytes()).decode("ascii")


def _decode(text: Any, size: int, name: str) -> np.ndarray:
    if not isinstance(text, str):
        raise PhysicsError(f"load_state: {name} must be a base64 string, got {type(text).__name__}")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 8 * size:
        raise PhysicsError(
            f"load_state: {name} holds {len(raw) // 8} numbers, this model needs {size}; the "
            "state is of another model"
        )
    return np.frombuffer(raw, dtype="<f8").astype(np.float64)


def _vec(values: Any, n: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(n)


def _grab_json(g: Grab) -> dict[str, Any]:
    return {
        "entity": g.entity,
        "slot": g.slot,
        "anchor": g.anchor.tolist(),
        "rel_pos": g.rel_pos.tolist(),
        "rel_quat": g.rel_quat.tolist(),
        "target_pos": g.target_pos.tolist(),
        "target_quat": g.target_quat.tolist(),
    }


def _grab_from(doc: dict[str, Any]) -> Grab:
    slot = doc["slot"]
    return Grab(
        entity=str(doc["entity"]),
        slot=None if slot is None else int(slot),
        anchor=_vec(doc["anchor"], 3),
        rel_pos=_vec(doc["rel_pos"], 3),
        rel_quat=_vec(doc["rel_quat"], 4),
        target_pos=_vec(doc["target_pos"], 3),
        target_quat=_vec(doc["target_quat"], 4),
    )


def _force_json(f: TimedForce) -> dict[str, Any]:
    return {
        "entity": f.entity,
        "force": f.force.tolist(),
        "point": None if f.point is None else f.point.tolist(),
        "steps_left": f.steps_left,
    }


def _force_from(doc: dict[str, Any]) -> TimedForce:
    point = doc["point"]
    return TimedForce(
        entity=str(doc["entity"]),
        force=_vec(doc["force"], 3),
        point=None if point is None else _vec(point, 3),
        steps_left=int(doc["steps_left"]),
    )
