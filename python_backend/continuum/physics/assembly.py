"""Scene -> MuJoCo model: an MjSpec with one body per physics entity, edited in place later.

Bodies are named by entity id (MJCF bodies by ``mjcf/<name>``); internal elements carry a ``!``,
which entity ids cannot hold. Build order for a scene:

1. Options: ``dt``, the solver, gravity (glTF -> MuJoCo axes), implicitfast integration, and no
   automatic reset (the simulation resets diverged bodies itself, one tree at a time).
2. Internal elements: ``max_grabs`` mocap bodies with inactive welds (grabs switch them on) and a
   probe geom for nearest-body queries; neither collides.
3. Entities with a ``physics`` component, parents first: a dynamic body gets a free joint at its
   world pose, or, with a ``joint`` component, hangs from its parent's body by that joint; static
   bodies have no joint; kinematic bodies are mocap bodies. Geoms come from the shape component
   or from the convex parts of a mesh (``colliders``).
4. The scene's MJCF model, attached under the world with the prefix ``mjcf/``.

Contact parameters: friction is MuJoCo's (a contact takes the larger of the two geoms'); restitution
e becomes the damping ratio of the contact's spring (see ``contact_params``), and a bouncier geom
dominates the mix, so a contact bounces about as much as its bouncier body says.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from continuum.errors import PhysicsError, SceneError
from continuum.physics import _axes
from continuum.physics.colliders import ConvexPart, file_stamp, mesh_parts
from continuum.physics.components import BodyParams, JointParams, body_params, joint_params
from continuum.physics.config import PhysicsConfig
from continuum.world.scene import Entity, Scene

MJCF_PREFIX = "mjcf/"
GRAB_PREFIX = "!grab"
PROBE = "!probe"
HIDDEN_GROUP = 5  # geoms that never collide ("none" colliders, the probe); rays skip this group
PROBE_RADIUS = 1e-3  # m
_MIX_SHARPNESS = 30.0  # solmix = exp(30 e): the bouncier geom of a contact sets its restitution
_DEFAULT_TIMECONST = 0.02  # s, MuJoCo's default contact time constant
_SPRING_DT_RATIO = 0.5  # the contact spring's natural frequency stays below 0.5 / dt (stability)
FRICTIONLESS = 1e-3  # a sliding friction below this makes a geom's contacts frictionless
_TORSIONAL_FRICTION = 0.005
_ROLLING_FRICTION = 0.0001
_SOLVERS = {
    "newton": mujoco.mjtSolver.mjSOL_NEWTON,
    "cg": mujoco.mjtSolver.mjSOL_CG,
    "pgs": mujoco.mjtSolver.mjSOL_PGS,
}
_JOINTS = {
    "hinge": mujoco.mjtJoint.mjJNT_HINGE,
    "slide": mujoco.mjtJoint.mjJNT_SLIDE,
    "ball": mujoco.mjtJoint.mjJNT_BALL,
}

Resolver = Callable[[str], Path]


@dataclass(frozen=True)
class BodyRecord:
    """One entity's body as the spec holds it.

    Attributes:
        entity: the entity as added (its components hold the physics parameters).
        params: its physics component, checked.
        joint: its joint when it hangs from ``parent``; None for free, static and kinematic
            bodies.
        parent: the entity id of the body it hangs from, or None (a child of the world).
        meshes: names of the mesh assets its geoms use (removed with it).
    """

    entity: Entity
    params: BodyParams
    joint: JointParams | None
    parent: str | None
    meshes: tuple[str, ...]


def new_spec(config: PhysicsConfig) -> mujoco.MjSpec:
    """An empty world with the simulation's options, grab welds and probe (steps 1 and 2)."""
    spec = mujoco.MjSpec()
    spec.modelname = "continuum"
    spec.compiler.degree = False  # joint ranges in radians
    spec.compiler.autolimits = True
    opt = spec.option
    opt.timestep = config.dt
    opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    opt.solver = _SOLVERS[config.solver]
    opt.iterations = config.iterations
    opt.tolerance = config.tolerance
    opt.gravity = _axes.to_mj_vec(config.gravity)
    opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_AUTORESET
    for k in range(config.max_grabs):
        name = f"{GRAB_PREFIX}{k}"
        spec.worldbody.add_body(name=name, mocap=True)
        weld = spec.add_equality(
            type=mujoco.mjtEq.mjEQ_WELD, name1=name, objtype=mujoco.mjtObj.mjOBJ_BODY, active=False
        )
        weld.name = name
    probe = spec.worldbody.add_body(name=PROBE, mocap=True)
    probe.add_geom(
        name=PROBE,
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[PROBE_RADIUS, 0, 0],
        contype=0,
        conaffinity=0,
        group=HIDDEN_GROUP,
    )
    return spec


def build(scene: Scene, config: PhysicsConfig) -> tuple[mujoco.MjSpec, dict[str, BodyRecord]]:
    """The spec of ``scene`` (steps 1 to 4) and a record per physics entity.

    Raises:
        PhysicsError: a physics component, mesh or the MJCF model cannot be used; the message
            names the entity or file.
    """
    spec = new_spec(config)
    entities = {e.id: e for e in scene.entities}
    records: dict[str, BodyRecord] = {}
    resolve = scene_resolver(scene)
    for entity in sorted(scene.entities, key=lambda e: _depth(entities, e.id)):
        if "physics" in entity.components:
            records[entity.id] = add_entity(spec, entity, entities, records, resolve, config)
    if scene.mjcf is not None:
        attach_mjcf(spec, resolve(scene.mjcf))
    return spec, records


def scene_resolver(scene: Scene) -> Resolver:
    """A function from a scene-relative file name to its path, raising PhysicsError."""

    def resolve(relative: str) -> Path:
        try:
            return scene.resolve(relative)
        except SceneError as exc:
            raise PhysicsError(str(exc)) from None

    return resolve


def add_entity(
    spec: mujoco.MjSpec,
    entity: Entity,
    entities: Mapping[str, Entity],
    records: Mapping[str, BodyRecord],
    resolve: Resolver,
    config: PhysicsConfig,
    *,
    pose: tuple[np.ndarray, np.ndarray] | None = None,
) -> BodyRecord:
    """Add the body of ``entity`` (which has a physics component) to ``spec``.

    Everything that can fail is checked before the spec changes, so a PhysicsError leaves the
    spec as it was.

    Args:
        spec: the spec to add to.
        entity: the entity; its ancestors must be in ``entities``.
        entities: every entity of the world by id (for world transforms).
        records: the bodies already in the spec (a jointed body's parent must be one).
        resolve: scene-relative file name -> path (meshes).
        config: the simulation's settings (dt, decomposition settings).
        pose: a MuJoCo world pose (position [3], quaternion w, x, y, z [4]) to use instead of the
            entity's authored one (a body rebuilt while the simulation runs).

    Raises:
        PhysicsError: a bad component, a missing or degenerate mesh, a duplicate body, or a joint
            without a physics parent.
    """
    params = body_params(entity)
    if params is None:
        raise PhysicsError(f"entity {entity.id!r} has no physics component")
    if spec.body(entity.id) is not None:
        raise PhysicsError(f"entity {entity.id!r} is already simulated")
    joint = joint_params(entity)
    parent = None
    if joint is not None:
        parent = entity.parent
        if parent is None or parent not in records:
            raise PhysicsError(
                f"entity {entity.id!r}: a joint needs a parent entity with a physics component "
                f"(its parent is {parent!r})"
            )
        if params.body != "dynamic":
            raise PhysicsError(
                f"entity {entity.id!r}: a joint needs a dynamic body, got body {params.body!r}"
            )
        if records[parent].params.body == "kinematic":
            raise PhysicsError(
                f"entity {entity.id!r}: a joint cannot hang from the kinematic body {parent!r}"
            )
    position, rotation, scale = world_transform(entities, entity)
    parts = _collider_parts(entity, params, scale, resolve, config)

    # The spec changes from here on; nothing below raises on good input.
    if parent is not None:
        parent_pos, parent_rot, _ = world_transform(entities, entities[parent])
        inv = _axes.quat_conj(_axes.xyzw_to_wxyz(parent_rot))
        local_pos = _axes.quat_rotate(inv, np.subtract(position, parent_pos))
        local_rot = _axes.quat_mul(inv, _axes.xyzw_to_wxyz(rotation))
        body = spec.body(parent).add_body(name=entity.id, pos=local_pos, quat=local_rot)
    else:
        if pose is None:
            pose = (_axes.to_mj_vec(position), _axes.to_mj_quat(rotation))
        body = spec.worldbody.add_body(
            name=entity.id, pos=pose[0], quat=pose[1], mocap=params.body == "kinematic"
        )
    if joint is not None:
        _add_joint(body, entity.id, joint)
    elif params.body == "dynamic":
        _set_damping(body.add_freejoint(name=f"{entity.id}!joint"), params.damping)
    meshes = _add_geoms(spec, body, entity, params, scale, parts, config)
    return BodyRecord(entity, params, joint, parent, meshes)


def remove_entity(spec: mujoco.MjSpec, record: BodyRecord) -> None:
    """Delete the body of ``record`` (with every body hanging from it) and its meshes."""
    body = spec.body(record.entity.id)
    if body is not None:
        spec.delete(body)
    for name in record.meshes:
        mesh = spec.mesh(name)
        if mesh is not None:
            spec.delete(mesh)


def attach_mjcf(spec: mujoco.MjSpec, path: Path) -> None:
    """Merge the MJCF model at ``path`` under the world, its names prefixed with ``mjcf/``.

    The model keeps its bodies, joints, geoms, assets, defaults, actuators and compiler settings;
    its ``<option>``, ``<size>`` and ``<visual>`` give way to the simulation's. Unnamed bodies are
    named ``_<index>`` (so streamed as ``mjcf/_<index>``) and unnamed joints ``_j<index>``.

    Raises:
        PhysicsError: the file is missing or not a model MuJoCo can read.
    """
    try:
        child = mujoco.MjSpec.from_file(str(path))
    except ValueError as exc:
        raise PhysicsError(f"mjcf {str(path)!r} is not a valid MuJoCo model: {exc}") from None
    names = {b.name for b in child.bodies}
    for i, body in enumerate(child.bodies):
        if i > 0 and not body.name:
            name = f"_{i}"
            while name in names:
                name += "_"
            body.name = name
            names.add(name)
    for i, joint in enumerate(child.joints):
        if not joint.name:  # the state of a joint crosses recompiles by name
            joint.name = f"_j{i}"
    _align_globals(child, spec)
    frame = spec.worldbody.add_frame()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation notes of old models (settotalmass)
            spec.attach(child, prefix=MJCF_PREFIX, frame=frame)
    except ValueError as exc:
        spec.delete(frame)
        raise PhysicsError(f"mjcf {str(path)!r} cannot be merged: {exc}") from None


def compile_spec(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """Compile ``spec``; MuJoCo's complaint becomes a PhysicsError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return spec.compile()
    except ValueError as exc:
        raise PhysicsError(f"the physics model does not compile: {exc}") from None


def contact_params(restitution: float, dt: float) -> tuple[tuple[float, float], float]:
    """A geom's (solref, solmix) for a restitution coefficient in [0, 1].

    The contact is a damped spring; a damping ratio z gives a bounce of
    e = exp(-z pi / sqrt(1 - z^2)) (so z = 1, MuJoCo's default, for e = 0). MuJoCo's stiffness
    is 1 / (timeconst z)^2, so the time constant grows as z shrinks, keeping the natural
    frequency below 0.5 / dt for stability. e is capped at 0.99 (z > 0). solmix = exp(30 e) lets
    the bouncier geom of a contact set its parameters.
    """
    e = min(max(float(restitution), 0.0), 0.99)
    if e <= 0.0:
        zeta = 1.0
    else:
        log_e = math.log(e)
        zeta = -log_e / math.sqrt(math.pi**2 + log_e**2)
    timeconst = max(_DEFAULT_TIMECONST, dt / (_SPRING_DT_RATIO * zeta))
    return (timeconst, zeta), math.exp(_MIX_SHARPNESS * e)


def contact_dims(friction: float, current: int = 3) -> int:
    """A geom's contact dimensionality for a sliding friction: 1 (frictionless) below
    ``FRICTIONLESS``, else ``current`` (3, or an MJCF geom's own).

    A contact takes the larger condim and friction of its two geoms, so it is frictionless only
    when both are; a zero-friction pyramid cone would be degenerate for the solver.
    """
    if friction < FRICTIONLESS:
        return 1
    return 3 if current == 1 else current


def world_transform(
    entities: Mapping[str, Entity], entity: Entity
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entity's world position [3], rotation (x, y, z, w) [4] and scale [3], glTF axes.

    Composes the parent chain; scale multiplies per axis (shear from rotated non-uniform scales
    is dropped, as a rigid body cannot hold it).
    """
    chain = []
    current: Entity | None = entity
    while current is not None:
        chain.append(current)
        current = entities.get(current.parent) if current.parent is not None else None
    position = np.zeros(3)
    rotation = np.array([1.0, 0.0, 0.0, 0.0])  # w, x, y, z
    scale = np.ones(3)
    for e in reversed(chain):
        t = e.transform
        position = position + _axes.quat_rotate(rotation, scale * np.asarray(t.position, float))
        rotation = _axes.quat_mul(rotation, _axes.xyzw_to_wxyz(np.asarray(t.rotation, float)))
        rotation /= np.linalg.norm(rotation)
        scale = scale * np.asarray(t.scale, float)
    return position, np.concatenate([rotation[1:], rotation[:1]]), scale


# -- private ------------------------------------------------------------------------------------


def _depth(entities: Mapping[str, Entity], entity_id: str) -> int:
    depth, current = 0, entities[entity_id].parent
    while current is not None and current in entities and depth < 10000:
        depth += 1
        current = entities[current].parent
    return depth


def _collider_parts(
    entity: Entity, params: BodyParams, scale: np.ndarray, resolve: Resolver, config: PhysicsConfig
) -> tuple[ConvexPart, ...]:
    if params.collider not in ("hull", "decomposition"):
        return ()
    assert params.mesh is not None  # body_params checked it
    path = resolve(params.mesh)
    try:
        return mesh_parts(
            path,
            file_stamp(path),
            (float(scale[0]), float(scale[1]), float(scale[2])),
            params.collider,
            config.decomposition_threshold,
            config.decomposition_max_parts,
        )
    except PhysicsError as exc:
        raise PhysicsError(f"entity {entity.id!r}: {exc}") from None


def _add_joint(body: Any, entity_id: str, joint: JointParams) -> None:
    j = body.add_joint(name=f"{entity_id}!joint", type=_JOINTS[joint.type])
    j.axis = joint.axis
    j.pos = joint.anchor
    _set_damping(j, joint.damping)
    if joint.range is not None:
        j.limited = mujoco.mjtLimited.mjLIMITED_TRUE
        lo, hi = joint.range
        # A ball joint's range is a cone: MuJoCo takes [0, max angle].
        j.range = (0.0, max(abs(lo), abs(hi))) if joint.type == "ball" else (lo, hi)


def _set_damping(joint: Any, value: float) -> None:
    # MuJoCo 4 holds polynomial damping coefficients (linear first); 3.x one number.
    joint.damping = value if np.ndim(joint.damping) == 0 else [value, 0.0, 0.0]


def _add_geoms(
    spec: mujoco.MjSpec,
    body: Any,
    entity: Entity,
    params: BodyParams,
    scale: np.ndarray,
    parts: tuple[ConvexPart, ...],
    config: PhysicsConfig,
) -> tuple[str, ...]:
    (solref, solmix) = contact_params(params.restitution, config.dt)
    collides = params.collider != "none"
    geoms: list[tuple[dict[str, Any], float]] = []  # (geom attributes, volume)
    meshes: list[str] = []
    if parts:
        for k, part in enumerate(parts):
            name = f"{entity.id}!mesh{k}"
            spec.add_mesh(name=name, uservert=part.vertices.ravel(), userface=part.faces.ravel())
            meshes.append(name)
            geoms.append(({"type": mujoco.mjtGeom.mjGEOM_MESH, "meshname": name}, part.volume))
    elif "shape" in entity.components:
        geoms.append(_shape_geom(entity.components["shape"], np.abs(scale)))
    if not geoms:  # collider "none" without a shape: a point mass with a small sphere's inertia
        mass = params.mass if params.mass is not None else 1.0
        body.mass = mass
        body.inertia = [0.4 * mass * 0.05**2] * 3
        body.explicitinertial = True
        return ()
    total_volume = sum(volume for _, volume in geoms)
    for k, (attrs, volume) in enumerate(geoms):
        geom = body.add_geom(name=f"{entity.id}!{k}", **attrs)
        geom.friction = [params.friction, _TORSIONAL_FRICTION, _ROLLING_FRICTION]
        geom.condim = contact_dims(params.friction)
        geom.solref = solref
        geom.solmix = solmix
        if params.mass is not None and params.body == "dynamic":
            geom.mass = params.mass * (
                volume / total_volume if total_volume > 0 else 1 / len(geoms)
            )
        else:
            geom.density = params.density
        if not collides:
            geom.contype = 0
            geom.conaffinity = 0
            geom.group = HIDDEN_GROUP
    return tuple(meshes)


def _shape_geom(shape: dict[str, Any], scale: np.ndarray) -> tuple[dict[str, Any], float]:
    kind = shape["type"]
    if kind == "box":
        half = np.asarray(shape["size"], float) * scale / 2
        return {"type": mujoco.mjtGeom.mjGEOM_BOX, "size": half}, float(8 * np.prod(half))
    if kind == "sphere":
        r = float(shape["radius"]) * float(scale.max())
        return {"type": mujoco.mjtGeom.mjGEOM_SPHERE, "size": [r, 0, 0]}, 4 / 3 * math.pi * r**3
    if kind == "plane":
        w, d = (float(v) for v in shape["size"])
        size = [w * scale[0] / 2, d * scale[2] / 2, 0.1]
        return {"type": mujoco.mjtGeom.mjGEOM_PLANE, "size": size, "quat": _axes.Z_TO_Y}, 0.0
    r = float(shape["radius"]) * float(max(scale[0], scale[2]))
    height = float(shape["height"]) * float(scale[1])
    if kind == "capsule":  # height is the total height, caps included (as Godot draws it)
        half = max(height - 2 * r, 0.0) / 2
        if half <= 0.0:
            return {"type": mujoco.mjtGeom.mjGEOM_SPHERE, "size": [r, 0, 0]}, 4 / 3 * math.pi * r**3
        volume = math.pi * r**2 * 2 * half + 4 / 3 * math.pi * r**3
        attrs = {"type": mujoco.mjtGeom.mjGEOM_CAPSULE, "size": [r, half, 0], "quat": _axes.Z_TO_Y}
        return attrs, volume
    attrs = {
        "type": mujoco.mjtGeom.mjGEOM_CYLINDER,
        "size": [r, height / 2, 0],
        "quat": _axes.Z_TO_Y,
    }
    return attrs, math.pi * r**2 * height


def _align_globals(child: mujoco.MjSpec, parent: mujoco.MjSpec) -> None:
    # The parent's option, visual and size settings win; copying them into the child first
    # keeps MuJoCo from warning about every difference at attach time.
    _copy_fields(child.option, parent.option)
    _copy_fields(child.visual, parent.visual)
    for name in ("memory", "nstack", "nconmax", "njmax", "nkey", "nuserdata"):
        setattr(child, name, getattr(parent, name))
    for name in dir(parent):
        if name.startswith("nuser_"):
            setattr(child, name, getattr(parent, name))


def _copy_fields(dst: Any, src: Any, depth: int = 0) -> None:
    for name in dir(src):
        if name.startswith("_"):
            continue
        value = getattr(src, name)
        if callable(value):
            continue
        try:
            setattr(dst, name, value)
        except (AttributeError, TypeError):
            if depth < 2 and not isinstance(value, (int, float, str, np.ndarray)):
                _copy_fields(getattr(dst, name), value, depth + 1)
