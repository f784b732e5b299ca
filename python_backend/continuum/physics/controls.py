"""Controls: checking an op from the engine, and applying it to the live state.

``check_control`` runs in the caller's thread and refuses anything malformed before the
simulation sees it (every number finite and bounded, every vector of the right length);
``apply_control`` runs between two steps and refuses what the current model cannot do (an unknown
entity, a static body to move). A refused control changes nothing.

Ops (positions and rotations in glTF world coordinates, quaternions x, y, z, w):

- teleport {entity, position, rotation?, velocity?, angular_velocity?} (a grab on the body goes
  on pulling it towards the grab's target)
- grab {entity, point?, target: {position, rotation?}} -> {"grab": entity}: the held point
  (default the body's origin) is carried to the target's position, and the body keeps the
  orientation it had relative to the target's at the grab (a target without rotation: the body's
  own); a kinematic body follows exactly, a dynamic one through a weld (soft, still colliding)
- move {entity, target: {position, rotation?}}
- release {entity, velocity?, angular_velocity?}
- impulse {entity, impulse, point?}; force {entity, force, point?, duration}
- set {entity, mass?, friction?, restitution?, damping?} or set {gravity}
- pause, resume, step {count?} (the Simulation handles these three itself)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np

from continuum.errors import PhysicsError
from continuum.physics import _axes
from continuum.physics._state import Grab, PhysicsState, TimedForce
from continuum.physics.assembly import contact_dims, contact_params
from continuum.physics.components import MAX_DAMPING, MAX_FRICTION, MAX_MASS
from continuum.physics.config import PhysicsConfig

OPS = ("teleport", "grab", "move", "release", "impulse", "force", "set", "pause", "resume", "step")
MAX_POSITION = 1e4  # m
MAX_IMPULSE = 1e4  # N s
MAX_FORCE = 1e5  # N
MAX_DURATION = 60.0  # s
MAX_STEP_COUNT = 100_000
MAX_GRAVITY = 1e3  # m/s^2
LIVE_PARAMETERS = ("mass", "friction", "restitution", "damping")


def check_control(op: Any, config: PhysicsConfig) -> dict[str, Any]:
    """The op with its values checked and converted (numpy float64 vectors, glTF axes).

    Unknown extra keys are ignored.

    Raises:
        PhysicsError: a missing, mistyped or out-of-range field; the message names it as
            ``<op>.<field>``.
    """
    if not isinstance(op, Mapping):
        raise PhysicsError(f"a control must be an object, got {type(op).__name__}")
    name = op.get("op")
    if name not in OPS:
        raise PhysicsError(f"op must be one of {', '.join(OPS)}, got {name!r:.40}")
    out: dict[str, Any] = {"op": name}
    if name == "step":
        count = op.get("count", 1)
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 1 <= count <= MAX_STEP_COUNT
        ):
            raise PhysicsError(
                f"step.count must be an int in [1, {MAX_STEP_COUNT}], got {count!r:.40}"
            )
        out["count"] = count
        return out
    if name in ("pause", "resume"):
        return out
    if name == "set" and "gravity" in op:
        if "entity" in op or any(k in op for k in LIVE_PARAMETERS):
            raise PhysicsError("set.gravity is global: send it alone, without entity or parameters")
        out["gravity"] = _vector(op, "set.gravity", "gravity", 3, limit=MAX_GRAVITY)
        return out
    entity = op.get("entity")
    if not isinstance(entity, str) or not entity:
        raise PhysicsError(f"{name}.entity must be an entity id (a string), got {entity!r:.60}")
    out["entity"] = entity
    speed, spin = config.max_speed, config.max_angular_speed
    if name == "teleport":
        out["position"] = _vector(op, "teleport.position", "position", 3, limit=MAX_POSITION)
        out["rotation"] = _quat(op, "teleport.rotation", "rotation", required=False)
        out["velocity"] = _vector(
            op, "teleport.velocity", "velocity", 3, limit=speed, required=False
        )
        out["angular_velocity"] = _vector(
            op, "teleport.angular_velocity", "angular_velocity", 3, limit=spin, required=False
        )
    elif name in ("grab", "move"):
        target = op.get("target")
        if not isinstance(target, Mapping):
            raise PhysicsError(
                f"{name}.target must be an object with position [3] and optional rotation [4], "
                f"got {target!r:.60}"
            )
        out["target_position"] = _vector(
            target, f"{name}.target.position", "position", 3, limit=MAX_POSITION
        )
        out["target_rotation"] = _quat(
            target, f"{name}.target.rotation", "rotation", required=False
        )
        if name == "grab":
            out["point"] = _vector(op, "grab.point", "point", 3, limit=MAX_POSITION, required=False)
    elif name == "release":
        out["velocity"] = _vector(
            op, "release.velocity", "velocity", 3, limit=speed, required=False
        )
        out["angular_velocity"] = _vector(
            op, "release.angular_velocity", "angular_velocity", 3, limit=spin, required=False
        )
    elif name == "impulse":
        out["impulse"] = _vector(op, "impulse.impulse", "impulse", 3, limit=MAX_IMPULSE)
        out["point"] = _vector(op, "impulse.point", "point", 3, limit=MAX_POSITION, required=False)
    elif name == "force":
        out["force"] = _vector(op, "force.force", "force", 3, limit=MAX_FORCE)
        out["point"] = _vector(op, "force.point", "point", 3, limit=MAX_POSITION, required=False)
        out["duration"] = _number(op, "force.duration", "duration", 0.0, MAX_DURATION, open_lo=True)
    else:  # set
        bounds = {
            "mass": (0.0, MAX_MASS, True),
            "friction": (0.0, MAX_FRICTION, False),
            "restitution": (0.0, 1.0, False),
            "damping": (0.0, MAX_DAMPING, False),
        }
        for key, (lo, hi, open_lo) in bounds.items():
            if key in op:
                out[key] = _number(op, f"set.{key}", key, lo, hi, open_lo=open_lo)
        if not any(k in out for k in LIVE_PARAMETERS):
            raise PhysicsError(
                f"set needs gravity, or entity with any of {', '.join(LIVE_PARAMETERS)}"
            )
    return out


def apply_control(state: PhysicsState, op: dict[str, Any]) -> dict[str, Any]:
    """Apply a checked op (from ``check_control``) to ``state``; returns the op's result.

    Raises:
        EntityNotFoundError: the entity is not a body of the simulation.
        PhysicsError: the body cannot do this (a static body to move, a jointed body to throw,
            no free grab slot, an impulse that would exceed max_speed).
    """
    name = op["op"]
    if name == "set" and "gravity" in op:
        state.gravity = _axes.to_mj_vec(op["gravity"])
        state.model.opt.gravity[:] = state.gravity
        return {}
    body = state.index.require(op["entity"])
    entity = op["entity"]
    if name == "teleport":
        _teleport(state, entity, body, op)
        return {}
    if name == "grab":
        _grab(state, entity, body, op)
        return {"grab": entity}
    if name == "move":
        _move(state, entity, op)
        return {}
    if name == "release":
        _release(state, entity, body, op)
        return {}
    if name == "impulse":
        _impulse(state, entity, body, op)
        return {}
    if name == "force":
        _movable(state, entity, body, "force")
        point = None
        if op["point"] is not None:
            d = state.data
            offset = _axes.to_mj_vec(op["point"]) - d.xpos[body]
            point = d.xmat[body].reshape(3, 3).T @ offset
        steps = max(1, round(op["duration"] / state.config.dt))
        state.forces.append(TimedForce(entity, _axes.to_mj_vec(op["force"]), point, steps))
        return {}
    values = {k: op[k] for k in LIVE_PARAMETERS if k in op}
    kind = state.index.kind[entity]
    if kind != "dynamic" and kind != "mjcf":
        raise PhysicsError(f"set: entity {entity!r} is {kind}; only moving bodies have parameters")
    _set_parameters(state, entity, body, values)
    state.overrides.setdefault(entity, {}).update(values)
    return {}


def reapply(state: PhysicsState) -> None:
    """Put gravity, live parameters and grabs back onto a freshly compiled model."""
    m, d = state.model, state.data
    m.opt.gravity[:] = state.gravity
    for entity, values in list(state.overrides.items()):
        body = state.index.body.get(entity)
        if body is None:
            del state.overrides[entity]
            continue
        _set_parameters(state, entity, body, values)
    used = set()
    for grab in state.grabs.values():
        if grab.slot is not None:
            used.add(grab.slot)
            _weld(state, grab, state.index.body[grab.entity])
    for slot, (eq, _mocap) in enumerate(state.index.grab_slots):
        if slot not in used:
            d.eq_active[eq] = 0


def release_all(state: PhysicsState, entities: set[str]) -> None:
    """End the grabs and timed forces on ``entities`` (a divergence reset)."""
    for entity in entities:
        grab = state.grabs.pop(entity, None)
        if grab is not None and grab.slot is not None:
            state.data.eq_active[state.index.grab_slots[grab.slot][0]] = 0
    state.forces = [f for f in state.forces if f.entity not in entities]


# -- the ops ------------------------------------------------------------------------------------


def _teleport(state: PhysicsState, entity: str, body: int, op: dict[str, Any]) -> None:
    m, d = state.model, state.data
    kind = state.index.kind[entity]
    position = _axes.to_mj_vec(op["position"])
    rotation = None if op["rotation"] is None else _axes.to_mj_quat(op["rotation"])
    if kind == "static":
        raise PhysicsError(
            f"teleport: entity {entity!r} is static and never moves; make it kinematic to move it"
        )
    if kind == "kinematic":
        if op["velocity"] is not None or op["angular_velocity"] is not None:
            raise PhysicsError(f"teleport: entity {entity!r} is kinematic and has no velocity")
        mocap = m.body_mocapid[body]
        d.mocap_pos[mocap] = position
        if rotation is not None:
            d.mocap_quat[mocap] = rotation
    elif body in state.index.free:
        qadr, _ = state.index.free[body]
        d.qpos[qadr : qadr + 3] = position
        if rotation is not None:
            d.qpos[qadr + 3 : qadr + 7] = rotation
        _set_velocity(state, body, op["velocity"], op["angular_velocity"], keep=False)
    else:
        raise PhysicsError(
            f"teleport: entity {entity!r} hangs from a joint; only free bodies can be teleported"
        )
    mujoco.mj_kinematics(m, d)


def _grab(state: PhysicsState, entity: str, body: int, op: dict[str, Any]) -> None:
    d = state.data
    kind = _movable(state, entity, body, "grab", kinematic_ok=True)
    body_pos, body_quat = d.xpos[body].copy(), d.xquat[body].copy()
    target_pos = _axes.to_mj_vec(op["target_position"])
    target_quat = (
        body_quat if op["target_rotation"] is None else _axes.to_mj_quat(op["target_rotation"])
    )
    point = body_pos if op["point"] is None else _axes.to_mj_vec(op["point"])
    inv_target = _axes.quat_conj(target_quat)
    # The held point is carried to the target's position; the body keeps the orientation it has
    # relative to the target's at the moment of the grab (turning the target turns the body).
    grab = Grab(
        entity=entity,
        slot=None,
        anchor=_axes.quat_rotate(_axes.quat_conj(body_quat), point - body_pos),
        rel_pos=np.zeros(3),  # the held point goes to the target's position
        rel_quat=_axes.quat_mul(inv_target, body_quat),
        target_pos=target_pos,
        target_quat=target_quat,
    )
    if kind != "kinematic":
        previous = state.grabs.get(entity)
        taken = {g.slot for g in state.grabs.values() if g.entity != entity}
        free = [s for s in range(len(state.index.grab_slots)) if s not in taken]
        if previous is not None and previous.slot is not None:
            free.insert(0, previous.slot)
        if not free:
            raise PhysicsError(
                f"grab: all {len(state.index.grab_slots)} grab slots are in use; release a body "
                "first (or raise PhysicsConfig.max_grabs)"
            )
        grab.slot = free[0]
        _weld(state, grab, body)
    state.grabs[entity] = grab
    _follow(state, grab, body)


def _move(state: PhysicsState, entity: str, op: dict[str, Any]) -> None:
    grab = state.grabs.get(entity)
    if grab is None:
        raise PhysicsError(f"move: entity {entity!r} is not grabbed; grab it first")
    grab.target_pos = _axes.to_mj_vec(op["target_position"])
    if op["target_rotation"] is not None:
        grab.target_quat = _axes.to_mj_quat(op["target_rotation"])
    _follow(state, grab, state.index.body[entity])


def _release(state: PhysicsState, entity: str, body: int, op: dict[str, Any]) -> None:
    grab = state.grabs.get(entity)
    if grab is None:
        raise PhysicsError(f"release: entity {entity!r} is not grabbed")
    throwing = op["velocity"] is not None or op["angular_velocity"] is not None
    if throwing and body not in state.index.free:
        raise PhysicsError(
            f"release: entity {entity!r} is not a free body, so it cannot be thrown with a velocity"
        )
    del state.grabs[entity]
    if grab.slot is not None:
        state.data.eq_active[state.index.grab_slots[grab.slot][0]] = 0
    if throwing:
        _set_velocity(state, body, op["velocity"], op["angular_velocity"], keep=True)


def _impulse(state: PhysicsState, entity: str, body: int, op: dict[str, Any]) -> None:
    from continuum.physics import divergence

    m, d = state.model, state.data
    _movable(state, entity, body, "impulse")
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    mujoco.mj_crb(m, d)
    mujoco.mj_factorM(m, d)
    point = d.xipos[body].copy() if op["point"] is None else _axes.to_mj_vec(op["point"])
    jacp = np.zeros((3, m.nv))
    mujoco.mj_jac(m, d, jacp, None, point, body)
    qfrc = (jacp.T @ _axes.to_mj_vec(op["impulse"])).reshape(1, m.nv)
    dqvel = np.zeros_like(qfrc)
    mujoco.mj_solveM(m, d, dqvel, qfrc)
    before = d.qvel.copy()
    d.qvel[:] += dqvel[0]
    reason = divergence.too_fast(state, int(m.body_rootid[body]))
    if reason is not None:
        d.qvel[:] = before
        raise PhysicsError(
            f"impulse: refused, it would make entity {entity!r} move too fast ({reason}); "
            "use a smaller impulse"
        )


def _set_parameters(state: PhysicsState, entity: str, body: int, values: dict[str, float]) -> None:
    m = state.model
    geoms = np.flatnonzero(m.geom_bodyid == body)
    if "mass" in values:
        if m.body_mass[body] <= 0:
            raise PhysicsError(f"set: entity {entity!r} has no mass to change")
        ratio = values["mass"] / m.body_mass[body]
        m.body_mass[body] = values["mass"]
        m.body_inertia[body] *= ratio
        mujoco.mj_setConst(m, mujoco.MjData(m))  # derived masses; a scratch data, state untouched
    if "friction" in values:
        m.geom_friction[geoms, 0] = values["friction"]
        for g in geoms:
            m.geom_condim[g] = contact_dims(values["friction"], int(m.geom_condim[g]))
    if "restitution" in values:
        solref, solmix = contact_params(values["restitution"], state.config.dt)
        m.geom_solref[geoms] = solref
        m.geom_solmix[geoms] = solmix
    if "damping" in values:
        adr, num = m.body_dofadr[body], m.body_dofnum[body]
        if num > 0:
            m.dof_damping[adr : adr + num] = values["damping"]


# -- helpers ------------------------------------------------------------------------------------


def _movable(
    state: PhysicsState, entity: str, body: int, what: str, *, kinematic_ok: bool = False
) -> str:
    kind = state.index.kind[entity]
    if kind == "static" or (kind == "kinematic" and not kinematic_ok):
        raise PhysicsError(
            f"{what}: entity {entity!r} is {kind}; forces move only dynamic bodies"
            if kind == "kinematic"
            else f"{what}: entity {entity!r} is static and never moves"
        )
    if kind == "mjcf" and state.model.body_weldid[body] == 0:
        raise PhysicsError(f"{what}: body {entity!r} is welded to the world and cannot move")
    return kind


def _weld(state: PhysicsState, grab: Grab, body: int) -> None:
    m, d = state.model, state.data
    assert grab.slot is not None
    eq, mocap = state.index.grab_slots[grab.slot]
    m.eq_obj2id[eq] = body
    m.eq_data[eq, 0:3] = grab.anchor
    m.eq_data[eq, 3:6] = grab.rel_pos
    m.eq_data[eq, 6:10] = grab.rel_quat
    m.eq_data[eq, 10] = 1.0  # torque scale
    d.mocap_pos[mocap] = grab.target_pos
    d.mocap_quat[mocap] = grab.target_quat
    d.eq_active[eq] = 1


def _follow(state: PhysicsState, grab: Grab, body: int) -> None:
    m, d = state.model, state.data
    if grab.slot is not None:
        _eq, mocap = state.index.grab_slots[grab.slot]
        d.mocap_pos[mocap] = grab.target_pos
        d.mocap_quat[mocap] = grab.target_quat
        return
    # A kinematic body: its own mocap takes the pose that keeps the held point on the target.
    quat = _axes.quat_mul(grab.target_quat, grab.rel_quat)
    point = grab.target_pos + _axes.quat_rotate(grab.target_quat, grab.rel_pos)
    mocap = m.body_mocapid[body]
    d.mocap_pos[mocap] = point - _axes.quat_rotate(quat, grab.anchor)
    d.mocap_quat[mocap] = quat / np.linalg.norm(quat)
    mujoco.mj_kinematics(m, d)


def _set_velocity(
    state: PhysicsState,
    body: int,
    velocity: np.ndarray | None,
    angular_velocity: np.ndarray | None,
    *,
    keep: bool,
) -> None:
    """Set a free body's world-frame velocities; a None part is kept (keep) or zeroed."""
    d = state.data
    qadr, dadr = state.index.free[body]
    if velocity is not None or not keep:
        d.qvel[dadr : dadr + 3] = 0.0 if velocity is None else _axes.to_mj_vec(velocity)
    if angular_velocity is not None or not keep:
        # A free joint's angular velocity is in the body's frame.
        quat = d.qpos[qadr + 3 : qadr + 7]
        spin = np.zeros(3) if angular_velocity is None else _axes.to_mj_vec(angular_velocity)
        d.qvel[dadr + 3 : dadr + 6] = _axes.quat_rotate(_axes.quat_conj(quat), spin)
    d.qacc_warmstart[dadr : dadr + 6] = 0.0


def _vector(
    op: Mapping[str, Any], where: str, key: str, n: int, *, limit: float, required: bool = True
) -> np.ndarray | None:
    if key not in op or op[key] is None:
        if required:
            raise PhysicsError(f"{where} is required: {n} numbers")
        return None
    value = op[key]
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise PhysicsError(f"{where} must be a list of {n} numbers, got {value!r:.80}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise PhysicsError(f"{where} must hold {n} numbers, got {value!r:.80}")
    out = np.asarray(value, dtype=np.float64)
    if not np.isfinite(out).all():
        raise PhysicsError(f"{where} must be finite (no NaN or infinity), got {value!r:.80}")
    norm = float(np.linalg.norm(out))
    if norm > limit:
        raise PhysicsError(f"{where} has magnitude {norm:.4g}, over the limit of {limit:g}")
    return out


def _quat(op: Mapping[str, Any], where: str, key: str, *, required: bool) -> np.ndarray | None:
    out = _vector(op, where, key, 4, limit=math.inf, required=required)
    if out is None:
        return None
    norm = float(np.linalg.norm(out))
    if not 1e-6 < norm < 1e6:
        raise PhysicsError(f"{where} must be a non-zero quaternion [x, y, z, w], got {list(out)}")
    return out / norm


def _number(
    op: Mapping[str, Any], where: str, key: str, lo: float, hi: float, *, open_lo: bool = False
) -> float:
    value = op.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PhysicsError(f"{where} must be a number, got {value!r:.40}")
    if not math.isfinite(value):
        raise PhysicsError(f"{where} must be finite, got {value!r}")
    if value < lo or (open_lo and value <= lo) or value > hi:
        bracket = "(" if open_lo else "["
        raise PhysicsError(f"{where} must be in {bracket}{lo:g}, {hi:g}], got {value!r}")
    return float(value)
