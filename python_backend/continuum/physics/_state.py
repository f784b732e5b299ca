"""The live simulation state: spec, model and data, and what controls put on top of them.

One thread at a time works on a PhysicsState (the Simulation's stepping thread, or the caller
while no thread runs). Edits (add, remove, modify) are prepared on a copy of the spec, compiled
outside that thread, and committed between two steps: the new data takes every joint's position,
velocity and solver warm start, every mocap pose and every weld's state over by name, so the
other bodies go on exactly as before. Grabs, timed forces and live parameters are re-applied to
each new model.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from continuum.errors import EntityNotFoundError, PhysicsError
from continuum.physics import _axes, assembly
from continuum.physics.assembly import GRAB_PREFIX, HIDDEN_GROUP, MJCF_PREFIX, PROBE, BodyRecord
from continuum.physics.components import body_params
from continuum.physics.config import PhysicsConfig
from continuum.physics.stream import PhysicsEvent, PoseFrame
from continuum.world.scene import Entity, Scene

MOVING = ("dynamic", "kinematic", "mjcf")  # the kinds of bodies that are streamed
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # scene.schema.json's entity ids


@dataclass
class Grab:
    """A held body: a weld from grab slot ``slot``'s mocap body, or (kinematic) its own mocap.

    Positions and quaternions are MuJoCo world (w, x, y, z) or body-frame quantities.
    """

    entity: str
    slot: int | None
    anchor: np.ndarray  # the held point in the body's frame  # [3]
    rel_pos: np.ndarray  # where the held point goes in the target's frame (its origin)  # [3]
    rel_quat: np.ndarray  # the body's orientation in the target's frame  # [4]
    target_pos: np.ndarray  # [3]
    target_quat: np.ndarray  # [4]


@dataclass
class TimedForce:
    """A force applied every step until ``steps_left`` reaches 0."""

    entity: str
    force: np.ndarray  # N, MuJoCo world  # [3]
    point: np.ndarray | None  # in the body's frame; None: the centre of mass  # [3]
    steps_left: int


@dataclass
class Edit:
    """An edit compiled on a copy of the spec, waiting to be committed between two steps."""

    spec: mujoco.MjSpec
    model: mujoco.MjModel
    records: dict[str, BodyRecord]
    entities: dict[str, Entity]
    removed: set[str] = field(default_factory=set)  # ids whose bodies are gone
    changed: set[str] = field(default_factory=set)  # ids whose bodies were (re)built
    cleared: dict[str, set[str]] = field(default_factory=dict)  # live parameters now authored


class ModelIndex:
    """Names and ids of one compiled model.

    Attributes:
        body: every controllable id (entities of any kind, MJCF bodies) -> MuJoCo body id.
        kind: id -> "dynamic", "static", "kinematic" or "mjcf".
        layout_ids, layout_bodies: the streamed bodies in pose order (MuJoCo body order).
        geom_body_id: per geom, the streamed body id it belongs to, or None (static geometry,
            internal geoms).
        free: MuJoCo body id -> (qpos address, dof address) of its free joint.
        grab_slots: per grab slot, (weld equality id, mocap index).
        probe_geom: the nearest-query probe's geom id.
        pick_geoms: geoms of streamed bodies that collide  # [G]
        trees, tree_*: the kinematic trees (named by root body) with dofs, and per tree its
            bodies, dofs and qpos addresses (divergence resets).
    """

    def __init__(self, model: mujoco.MjModel, records: Mapping[str, BodyRecord]) -> None:
        names = [model.body(i).name for i in range(model.nbody)]
        self.body: dict[str, int] = {}
        self.kind: dict[str, str] = {}
        for i, name in enumerate(names):
            record = records.get(name)
            if record is not None:
                self.body[name], self.kind[name] = i, record.params.body
            elif name.startswith(MJCF_PREFIX):
                self.body[name], self.kind[name] = i, "mjcf"
        layout = [i for i, name in enumerate(names) if self.kind.get(name) in MOVING]
        self.layout_ids: tuple[str, ...] = tuple(names[i] for i in layout)
        self.layout_bodies = np.asarray(layout, dtype=np.int64)
        self.body_name = names
        streamed = set(self.layout_ids)
        self.geom_body_id: list[str | None] = [
            names[b] if names[b] in streamed else None for b in model.geom_bodyid
        ]
        self.pick_geoms = np.asarray(
            [
                g
                for g in range(model.ngeom)
                if self.geom_body_id[g] is not None and model.geom_group[g] != HIDDEN_GROUP
            ],
            dtype=np.int64,
        )
        self.free: dict[int, tuple[int, int]] = {}
        for j in range(model.njnt):
            if int(model.jnt_type[j]) == _FREE:
                self.free[int(model.jnt_bodyid[j])] = (
                    int(model.jnt_qposadr[j]),
                    int(model.jnt_dofadr[j]),
                )
        self.grab_slots: list[tuple[int, int]] = []
        k = 0
        while (
            eq := mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_EQUALITY, f"{GRAB_PREFIX}{k}")
        ) >= 0:
            mocap = int(model.body_mocapid[model.body(f"{GRAB_PREFIX}{k}").id])
            self.grab_slots.append((eq, mocap))
            k += 1
        self.probe_geom = int(model.geom(PROBE).id)
        self._index_trees(model)
        self._index_speeds(model)

    def require(self, entity_id: Any, *, field_name: str = "entity") -> int:
        """The MuJoCo body id of a controllable ``entity_id``.

        Raises:
            PhysicsError: not a string.
            EntityNotFoundError: no such body in the simulation.
        """
        if not isinstance(entity_id, str):
            raise PhysicsError(
                f"{field_name} must be an entity id (a string), got {entity_id!r:.60}"
            )
        body = self.body.get(entity_id)
        if body is None:
            raise EntityNotFoundError(f"{field_name} {entity_id!r} is not a body of the simulation")
        return body

    def tree_ids(self, tree: int) -> list[str]:
        """The streamed ids of the bodies of kinematic tree ``tree``."""
        return [
            self.body_name[b]
            for b in self.tree_bodies[tree]
            if self.kind.get(self.body_name[b]) in MOVING
        ]

    def _index_trees(self, model: mujoco.MjModel) -> None:
        # A tree is named by its root body (the world's child it hangs from); trees with dofs
        # are the units of divergence resets.
        root = np.asarray(model.body_rootid, dtype=np.int64)
        self.body_tree = root
        self.dof_tree = root[np.asarray(model.dof_bodyid, dtype=np.int64)]
        qpos_tree = np.full(model.nq, -1, dtype=np.int64)
        for j in range(model.njnt):
            adr = model.jnt_qposadr[j]
            qpos_tree[adr : adr + _QPOS_SIZE[int(model.jnt_type[j])]] = root[model.jnt_bodyid[j]]
        self.qpos_tree = qpos_tree
        self.trees = sorted(set(self.dof_tree.tolist()))
        self.tree_bodies = {t: np.flatnonzero(root == t) for t in self.trees}
        self.tree_dofs = {t: np.flatnonzero(self.dof_tree == t) for t in self.trees}
        self.tree_qpos = {t: np.flatnonzero(qpos_tree == t) for t in self.trees}

    def _index_speeds(self, model: mujoco.MjModel) -> None:
        # Dof groups whose speed is one vector: free linear and angular triples, ball triples.
        lin3, ang3, lin1, ang1 = [], [], [], []
        for j in range(model.njnt):
            adr, kind = int(model.jnt_dofadr[j]), int(model.jnt_type[j])
            if kind == _FREE:
                lin3.append([adr, adr + 1, adr + 2])
                ang3.append([adr + 3, adr + 4, adr + 5])
            elif kind == _BALL:
                ang3.append([adr, adr + 1, adr + 2])
            elif kind == _SLIDE:
                lin1.append(adr)
            else:
                ang1.append(adr)
        self.lin3 = np.asarray(lin3, dtype=np.int64).reshape(-1, 3)
        self.ang3 = np.asarray(ang3, dtype=np.int64).reshape(-1, 3)
        self.lin1 = np.asarray(lin1, dtype=np.int64)
        self.ang1 = np.asarray(ang1, dtype=np.int64)


_FREE, _BALL, _SLIDE, _HINGE = (
    int(mujoco.mjtJoint.mjJNT_FREE),
    int(mujoco.mjtJoint.mjJNT_BALL),
    int(mujoco.mjtJoint.mjJNT_SLIDE),
    int(mujoco.mjtJoint.mjJNT_HINGE),
)
_QPOS_SIZE = {_FREE: 7, _BALL: 4, _SLIDE: 1, _HINGE: 1}
_DOF_SIZE = {_FREE: 6, _BALL: 3, _SLIDE: 1, _HINGE: 1}


class PhysicsState:
    """A scene's MuJoCo simulation and the controls' additions to it (see the module docstring).

    Raises:
        PhysicsError: the scene's physics cannot be assembled or compiled.
    """

    def __init__(self, scene: Scene, config: PhysicsConfig) -> None:
        self.config = config
        self.resolve = assembly.scene_resolver(scene)
        self.spec, self.records = assembly.build(scene, config)
        self.entities: dict[str, Entity] = {e.id: e for e in scene.entities}
        self.model = assembly.compile_spec(self.spec)
        self.data = mujoco.MjData(self.model)
        self.index = ModelIndex(self.model, self.records)
        self.layout_version = 1
        self.step_count = 0
        self.gravity = _axes.to_mj_vec(config.gravity)
        self.grabs: dict[str, Grab] = {}
        self.forces: list[TimedForce] = []
        self.overrides: dict[str, dict[str, float]] = {}
        self.resets: dict[int, int] = {}  # tree -> step of its last divergence reset
        self._forced: list[int] = []  # bodies whose xfrc_applied the last step set
        mujoco.mj_kinematics(self.model, self.data)
        self.initial_qpos = self.data.qpos.copy()
        self.last_good = self.data.qpos.copy()
        self.frame = self.snapshot()

    @property
    def sim_time(self) -> float:
        return self.step_count * self.config.dt

    # -- stepping ---------------------------------------------------------------------------

    def step(self, count: int = 1) -> list[PhysicsEvent]:
        """Take ``count`` steps (timed forces, mj_step, kinematics, divergence check)."""
        from continuum.physics import divergence

        events: list[PhysicsEvent] = []
        m, d = self.model, self.data
        interval = self.config.good_state_interval
        for _ in range(count):
            self._apply_forces()
            mujoco.mj_step(m, d)
            mujoco.mj_kinematics(m, d)
            self.step_count += 1
            event = divergence.check(self)
            if event is not None:
                events.append(event)
            elif self.step_count % interval == 0:
                np.copyto(self.last_good, d.qpos)
        return events

    def snapshot(self) -> PoseFrame:
        """The streamed bodies' poses now, glTF axes (also kept as ``frame``)."""
        d, idx = self.data, self.index
        poses = np.empty((len(idx.layout_ids), 7), dtype=np.float32)
        poses[:, :3] = _axes.from_mj_vec(d.xpos[idx.layout_bodies])
        poses[:, 3:] = _axes.from_mj_quat(d.xquat[idx.layout_bodies])
        self.frame = PoseFrame(
            self.layout_version, list(idx.layout_ids), self.sim_time, self.step_count, poses
        )
        return self.frame

    def _apply_forces(self) -> None:
        d = self.data
        for body in self._forced:
            d.xfrc_applied[body] = 0.0
        self._forced = []
        if not self.forces:
            return
        kept = []
        for f in self.forces:
            body = self.index.body.get(f.entity)
            if body is None:
                continue
            com = d.xipos[body]
            point = com if f.point is None else d.xpos[body] + d.xmat[body].reshape(3, 3) @ f.point
            d.xfrc_applied[body, :3] += f.force
            d.xfrc_applied[body, 3:] += np.cross(point - com, f.force)
            self._forced.append(body)
            f.steps_left -= 1
            if f.steps_left > 0:
                kept.append(f)
        self.forces = kept

    # -- edits (prepared in any thread under the simulation's edit lock) ---------------------

    def prepare_add(self, entity: Entity) -> Edit:
        """A compiled edit that adds ``entity`` (and its body, if it has physics)."""
        if not isinstance(entity, Entity):
            raise PhysicsError(f"add_entity needs an Entity, got {type(entity).__name__}")
        if not isinstance(entity.id, str) or not _ID.fullmatch(entity.id):
            raise PhysicsError(
                f"entity id must be 1 to 64 letters, digits, '_', '.' or '-', got {entity.id!r:.80}"
            )
        if entity.id in self.entities:
            raise PhysicsError(f"entity {entity.id!r} is already in the world; remove it first")
        if entity.parent is not None and entity.parent not in self.entities:
            raise PhysicsError(
                f"entity {entity.id!r}: its parent {entity.parent!r} is not in the world"
            )
        entities = {**self.entities, entity.id: entity}
        if "physics" not in entity.components:  # no body: nothing to compile
            return Edit(self.spec, self.model, dict(self.records), entities)
        spec = self.spec.copy()
        records = dict(self.records)
        records[entity.id] = assembly.add_entity(
            spec, entity, entities, records, self.resolve, self.config
        )
        return Edit(spec, assembly.compile_spec(spec), records, entities, changed={entity.id})

    def prepare_remove(self, entity_id: str) -> Edit:
        """A compiled edit that removes ``entity_id``, with the bodies that hang from it."""
        if not isinstance(entity_id, str) or entity_id not in self.entities:
            raise EntityNotFoundError(f"entity {entity_id!r} is not in the world")
        entities = dict(self.entities)
        del entities[entity_id]
        removed = {entity_id} | self._hanging_from(entity_id)
        if entity_id not in self.records:  # no body of its own; bodies hang only from bodies
            return Edit(self.spec, self.model, dict(self.records), entities)
        spec = self.spec.copy()
        records = dict(self.records)
        if entity_id in records:
            assembly.remove_entity(spec, records[entity_id])
        for rid in removed:
            records.pop(rid, None)
        return Edit(spec, assembly.compile_spec(spec), records, entities, removed=removed)

    def prepare_modify(self, entity_id: str, physics: Mapping[str, Any]) -> Edit:
        """A compiled edit that changes the physics component of ``entity_id``.

        Keys of ``physics`` replace the component's; a None value removes a key. The body keeps
        its current pose and velocity; bodies hanging from it are rebuilt with it.
        """
        if not isinstance(entity_id, str) or entity_id not in self.entities:
            raise EntityNotFoundError(f"entity {entity_id!r} is not in the world")
        if not isinstance(physics, Mapping):
            raise PhysicsError(f"physics must be an object, got {type(physics).__name__}")
        old = self.entities[entity_id]
        component = {**old.components.get("physics", {}), **physics}
        component = {k: v for k, v in component.items() if v is not None}
        entity = dataclasses.replace(old, components={**old.components, "physics": component})
        body_params(entity)  # a bad value fails here, before any work
        entities = {**self.entities, entity_id: entity}
        spec = self.spec.copy()
        records = dict(self.records)
        hanging = self._hanging_from(entity_id)
        if entity_id in records:
            assembly.remove_entity(spec, records.pop(entity_id))
        below = sorted(
            (records.pop(h).entity for h in hanging), key=lambda e: _depth(entities, e.id)
        )
        rebuilt = [entity, *below]
        for e in rebuilt:
            pose = self._current_pose(e.id)
            records[e.id] = assembly.add_entity(
                spec, e, entities, records, self.resolve, self.config, pose=pose
            )
        return Edit(
            spec,
            assembly.compile_spec(spec),
            records,
            entities,
            changed={e.id for e in rebuilt},
            cleared={entity_id: set(physics)},
        )

    def commit(self, edit: Edit) -> None:
        """Swap in an edit's model between two steps, carrying the state over by name."""
        if edit.model is self.model:  # only entities without bodies changed
            self.entities, self.records = edit.entities, edit.records
            return
        old_model, old_data = self.model, self.data
        model = edit.model
        data = mujoco.MjData(model)
        _carry_state(old_model, old_data, model, data)
        model.opt.gravity[:] = self.gravity
        self.spec, self.model, self.data, self.records = edit.spec, model, data, edit.records
        self.entities = edit.entities
        old_ids = self.index.layout_ids
        self.index = ModelIndex(model, self.records)
        if self.index.layout_ids != old_ids:
            self.layout_version += 1
        for rid in edit.removed:
            self.overrides.pop(rid, None)
        for rid, keys in edit.cleared.items():
            live = self.overrides.get(rid, {})
            for key in keys:
                live.pop(key, None)
        for rid in list(self.grabs):  # a rebuilt body is let go (its kind may have changed)
            if rid in edit.changed or self.index.kind.get(rid) not in MOVING:
                del self.grabs[rid]
        self.forces = [f for f in self.forces if self.index.kind.get(f.entity) in MOVING]
        self._forced = []
        self.resets.clear()
        from continuum.physics import controls

        controls.reapply(self)
        mujoco.mj_kinematics(model, data)
        self.initial_qpos = _carried_initial(old_model, self.initial_qpos, model, data)
        self.last_good = data.qpos.copy()
        self.snapshot()

    def _hanging_from(self, entity_id: str) -> set[str]:
        out: set[str] = set()
        frontier = [entity_id]
        while frontier:
            parent = frontier.pop()
            for rid, record in self.records.items():
                if record.parent == parent and rid not in out:
                    out.add(rid)
                    frontier.append(rid)
        return out

    def _current_pose(self, entity_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        frame = self.frame
        try:
            i = frame.ids.index(entity_id)
        except ValueError:
            return None
        row = frame.poses[i].astype(np.float64)
        quat = _axes.to_mj_quat(row[3:])
        return _axes.to_mj_vec(row[:3]), quat / np.linalg.norm(quat)


def _depth(entities: Mapping[str, Entity], entity_id: str) -> int:
    depth, current = 0, entities[entity_id].parent
    while current is not None and current in entities and depth < 10000:
        depth += 1
        current = entities[current].parent
    return depth


def _carry_state(
    old_m: mujoco.MjModel, old_d: mujoco.MjData, new_m: mujoco.MjModel, new_d: mujoco.MjData
) -> None:
    """Copy joints (qpos, qvel, warm start), mocap poses, weld activity and actuator state from
    the old data to the new by name."""
    q_src, q_dst, v_src, v_dst = [], [], [], []
    for j in range(new_m.njnt):
        name = new_m.joint(j).name
        old = mujoco.mj_name2id(old_m, mujoco.mjtObj.mjOBJ_JOINT, name) if name else -1
        if old < 0 or old_m.jnt_type[old] != new_m.jnt_type[j]:
            continue
        kind = int(new_m.jnt_type[j])
        q_src.append(np.arange(old_m.jnt_qposadr[old], old_m.jnt_qposadr[old] + _QPOS_SIZE[kind]))
        q_dst.append(np.arange(new_m.jnt_qposadr[j], new_m.jnt_qposadr[j] + _QPOS_SIZE[kind]))
        v_src.append(np.arange(old_m.jnt_dofadr[old], old_m.jnt_dofadr[old] + _DOF_SIZE[kind]))
        v_dst.append(np.arange(new_m.jnt_dofadr[j], new_m.jnt_dofadr[j] + _DOF_SIZE[kind]))
    if q_src:
        qs, qd = np.concatenate(q_src), np.concatenate(q_dst)
        vs, vd = np.concatenate(v_src), np.concatenate(v_dst)
        new_d.qpos[qd] = old_d.qpos[qs]
        new_d.qvel[vd] = old_d.qvel[vs]
        new_d.qacc_warmstart[vd] = old_d.qacc_warmstart[vs]
    for b in range(new_m.nbody):
        mocap = new_m.body_mocapid[b]
        if mocap < 0:
            continue
        old = mujoco.mj_name2id(old_m, mujoco.mjtObj.mjOBJ_BODY, new_m.body(b).name)
        if old >= 0 and old_m.body_mocapid[old] >= 0:
            new_d.mocap_pos[mocap] = old_d.mocap_pos[old_m.body_mocapid[old]]
            new_d.mocap_quat[mocap] = old_d.mocap_quat[old_m.body_mocapid[old]]
    for e in range(new_m.neq):
        name = new_m.equality(e).name
        old = mujoco.mj_name2id(old_m, mujoco.mjtObj.mjOBJ_EQUALITY, name) if name else -1
        if old >= 0:
            new_d.eq_active[e] = old_d.eq_active[old]
    for a in range(new_m.nu):
        name = new_m.actuator(a).name
        old = mujoco.mj_name2id(old_m, mujoco.mjtObj.mjOBJ_ACTUATOR, name) if name else -1
        if old >= 0:
            new_d.ctrl[a] = old_d.ctrl[old]
            if new_m.actuator_actnum[a] == old_m.actuator_actnum[old] and new_m.actuator_actnum[a]:
                n, src, dst = (
                    new_m.actuator_actnum[a],
                    old_m.actuator_actadr[old],
                    new_m.actuator_actadr[a],
                )
                new_d.act[dst : dst + n] = old_d.act[src : src + n]


def _carried_initial(
    old_m: mujoco.MjModel, old_initial: np.ndarray, new_m: mujoco.MjModel, new_d: mujoco.MjData
) -> np.ndarray:
    """The initial qpos of the new model: the old initial values by joint name, else the new
    data's current ones (a body added now starts where it is)."""
    out = new_d.qpos.copy()
    for j in range(new_m.njnt):
        name = new_m.joint(j).name
        old = mujoco.mj_name2id(old_m, mujoco.mjtObj.mjOBJ_JOINT, name) if name else -1
        if old >= 0 and old_m.jnt_type[old] == new_m.jnt_type[j]:
            n = _QPOS_SIZE[int(new_m.jnt_type[j])]
            src, dst = old_m.jnt_qposadr[old], new_m.jnt_qposadr[j]
            out[dst : dst + n] = old_initial[src : src + n]
    return out
