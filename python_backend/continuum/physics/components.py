"""An entity's ``physics`` and ``joint`` components, read and checked (scene.schema.json).

The schema already checks scenes loaded from files; entities that arrive at run time (the server's
add or modify) are checked here again, so every value the assembly uses is known good.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from continuum.errors import PhysicsError
from continuum.world.scene import Entity

BODY_TYPES = ("dynamic", "static", "kinematic")
COLLIDERS = ("shape", "hull", "decomposition", "none")
JOINT_TYPES = ("hinge", "slide", "ball")
SHAPE_TYPES = ("box", "sphere", "capsule", "cylinder", "plane")
_PHYSICS_KEYS = {
    "body",
    "mass",
    "density",
    "friction",
    "restitution",
    "damping",
    "collider",
    "mesh",
}
_JOINT_KEYS = {"type", "axis", "anchor", "range", "damping"}
MAX_MASS = 1e6  # kg
MAX_DENSITY = 1e5  # kg/m^3
MAX_FRICTION = 100.0
MAX_DAMPING = 1e6


@dataclass(frozen=True)
class BodyParams:
    """A ``physics`` component with its defaults filled in.

    Attributes:
        body: "dynamic" (free), "static" (never moves) or "kinematic" (moved by controls only).
        mass: kg, or None to take ``density`` times the collider's volume.
        density: kg/m^3.
        friction: sliding friction coefficient (a contact takes the larger of its two).
        restitution: 0 (dead) to 1 (elastic); a contact takes about the larger of its two.
        damping: linear (N s/m) and angular (N m s/rad) damping of the body's own motion.
        collider: "shape", "hull", "decomposition" or "none".
        mesh: the collider's mesh file relative to the scene folder, or None.
    """

    body: str = "dynamic"
    mass: float | None = None
    density: float = 1000.0
    friction: float = 0.8
    restitution: float = 0.0
    damping: float = 0.0
    collider: str = "shape"
    mesh: str | None = None


@dataclass(frozen=True)
class JointParams:
    """A ``joint`` component: how a body hangs from its parent's body.

    Attributes:
        type: "hinge", "slide" or "ball".
        axis: unit axis in the entity's frame (glTF axes), for hinge and slide.
        anchor: the joint's position in the entity's frame (the pivot), metres.
        range: (lo, hi) in radians or metres, or None for no limit.
        damping: N m s/rad (hinge, ball) or N s/m (slide).
    """

    type: str
    axis: tuple[float, float, float] = (0.0, 1.0, 0.0)
    anchor: tuple[float, float, float] = (0.0, 0.0, 0.0)
    range: tuple[float, float] | None = None
    damping: float = 0.0


def _component(
    entity: Entity, name: str, known: frozenset[str] | set[str]
) -> tuple[dict, str] | None:
    """The entity's component ``name`` and the prefix its errors use, or None when absent; a
    component that is not an object or has unknown fields raises PhysicsError."""
    raw = entity.components.get(name)
    if raw is None:
        return None
    where = f"entity {entity.id!r}: {name}"
    if not isinstance(raw, dict):
        raise PhysicsError(f"{where} must be an object, got {type(raw).__name__}")
    unknown = set(raw) - known
    if unknown:
        raise PhysicsError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    return raw, where


def body_params(entity: Entity) -> BodyParams | None:
    """The entity's physics parameters, or None when it has no ``physics`` component.

    Raises:
        PhysicsError: a value of the component (or a shape it needs) is missing or wrong; the
            message names the entity and the field.
    """
    found = _component(entity, "physics", _PHYSICS_KEYS)
    if found is None:
        return None
    raw, where = found
    body = _choice(raw, "body", BODY_TYPES, "dynamic", where)
    collider = _choice(raw, "collider", COLLIDERS, "shape", where)
    if "mass" in raw and "density" in raw:
        raise PhysicsError(f"{where}: give mass or density, not both")
    mass = _number(raw, "mass", None, where, lo=0.0, hi=MAX_MASS, open_lo=True)
    density = _number(raw, "density", 1000.0, where, lo=0.0, hi=MAX_DENSITY, open_lo=True)
    mesh = raw.get("mesh")
    if mesh is not None and (not isinstance(mesh, str) or not 0 < len(mesh) <= 1024):
        raise PhysicsError(f"{where}.mesh must be a file name (1 to 1024 characters), got {mesh!r}")
    params = BodyParams(
        body=body,
        mass=mass,
        density=float(density),  # type: ignore[arg-type]
        friction=float(_number(raw, "friction", 0.8, where, lo=0.0, hi=MAX_FRICTION)),  # type: ignore[arg-type]
        restitution=float(_number(raw, "restitution", 0.0, where, lo=0.0, hi=1.0)),  # type: ignore[arg-type]
        damping=float(_number(raw, "damping", 0.0, where, lo=0.0, hi=MAX_DAMPING)),  # type: ignore[arg-type]
        collider=collider,
        mesh=mesh,
    )
    if collider in ("hull", "decomposition") and mesh is None:
        raise PhysicsError(f"{where}.collider {collider!r} needs physics.mesh (a mesh file)")
    shape = entity.components.get("shape")
    if collider == "shape" and shape is None:
        raise PhysicsError(
            f"{where}.collider is 'shape' (the default) but the entity has no shape component; "
            "add one, or use collider 'hull' with a mesh, or 'none'"
        )
    if shape is not None:
        check_shape(entity.id, shape)
        if shape["type"] == "plane" and body != "static" and collider in ("shape", "none"):
            raise PhysicsError(
                f"{where}: a plane collider can only be static (body 'static'); use a thin box "
                "for a moving slab"
            )
    return params


def joint_params(entity: Entity) -> JointParams | None:
    """The entity's joint, or None when it has no ``joint`` component.

    Raises:
        PhysicsError: a value of the component is missing or wrong.
    """
    found = _component(entity, "joint", _JOINT_KEYS)
    if found is None:
        return None
    raw, where = found
    if "type" not in raw:
        raise PhysicsError(f"{where}.type is required: one of {', '.join(JOINT_TYPES)}")
    kind = _choice(raw, "type", JOINT_TYPES, "hinge", where)
    axis = _vector(raw.get("axis", (0.0, 1.0, 0.0)), 3, f"{where}.axis")
    norm = math.sqrt(sum(a * a for a in axis))
    if norm < 1e-9:
        raise PhysicsError(f"{where}.axis must be non-zero, got {list(axis)}")
    anchor = _vector(raw.get("anchor", (0.0, 0.0, 0.0)), 3, f"{where}.anchor")
    if max(abs(a) for a in anchor) > 1e4:
        raise PhysicsError(f"{where}.anchor must lie within 10000 m, got {list(anchor)}")
    limits = None
    if "range" in raw:
        lo, hi = _vector(raw["range"], 2, f"{where}.range")
        if not lo < hi or max(abs(lo), abs(hi)) > 1e4:
            raise PhysicsError(f"{where}.range must be [lo, hi] with lo < hi, got {[lo, hi]}")
        limits = (lo, hi)
    damping = _number(raw, "damping", 0.0, where, lo=0.0, hi=MAX_DAMPING)
    return JointParams(
        type=kind,
        axis=(axis[0] / norm, axis[1] / norm, axis[2] / norm),
        anchor=(anchor[0], anchor[1], anchor[2]),
        range=limits,
        damping=float(damping),  # type: ignore[arg-type]
    )


def check_shape(entity_id: str, shape: Any) -> None:
    """Raise PhysicsError naming the field when ``shape`` is not a valid shape component."""
    where = f"entity {entity_id!r}: shape"
    if not isinstance(shape, dict) or shape.get("type") not in SHAPE_TYPES:
        got = shape.get("type") if isinstance(shape, dict) else shape
        raise PhysicsError(f"{where}.type must be one of {', '.join(SHAPE_TYPES)}, got {got!r}")
    kind = shape["type"]
    if kind == "box":
        size = _vector(shape.get("size"), 3, f"{where}.size")
        if min(size) <= 0:
            raise PhysicsError(f"{where}.size must be 3 numbers > 0, got {list(size)}")
    elif kind == "plane":
        size = _vector(shape.get("size"), 2, f"{where}.size")
        if min(size) <= 0:
            raise PhysicsError(f"{where}.size must be 2 numbers > 0, got {list(size)}")
    else:
        keys = ("radius",) if kind == "sphere" else ("radius", "height")
        for key in keys:
            _number(shape, key, None, where, lo=0.0, hi=1e4, open_lo=True, required=True)


# -- private ------------------------------------------------------------------------------------


def _choice(
    raw: dict[str, Any], key: str, options: tuple[str, ...], default: str, where: str
) -> str:
    value = raw.get(key, default)
    if value not in options:
        raise PhysicsError(f"{where}.{key} must be one of {', '.join(options)}, got {value!r}")
    return value


def _number(
    raw: dict[str, Any],
    key: str,
    default: float | None,
    where: str,
    *,
    lo: float,
    hi: float,
    open_lo: bool = False,
    required: bool = False,
) -> float | None:
    if key not in raw:
        if required:
            raise PhysicsError(f"{where}.{key} is required")
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PhysicsError(f"{where}.{key} must be a finite number, got {value!r}")
    if value < lo or (open_lo and value <= lo) or value > hi:
        bracket = "(" if open_lo else "["
        raise PhysicsError(f"{where}.{key} must be in {bracket}{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _vector(value: Any, n: int, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise PhysicsError(f"{where} must be a list of {n} numbers, got {value!r:.80}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise PhysicsError(f"{where} must hold {n} finite numbers, got {list(value)!r:.80}")
        out.append(float(v))
    return tuple(out)
