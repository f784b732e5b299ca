"""Queries: ray casts, contacts and the nearest body, answered from the live state.

``check_query`` runs in the caller's thread, ``run_query`` between two steps. Results are in glTF
world coordinates; a body is named by its streamed id, and static geometry (static entities, the
MJCF model's world) by None.

- ray {origin, direction, max_distance?} -> {hit, entity, point, normal, distance}
- contacts {entity?} -> {contacts: [{a, b, point, normal (from a to b), depth}], truncated}
- nearest {point, radius} -> {entity, distance}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np

from continuum.errors import PhysicsError
from continuum.physics import _axes
from continuum.physics._state import PhysicsState
from continuum.physics.assembly import HIDDEN_GROUP, PROBE_RADIUS

TYPES = ("ray", "contacts", "nearest")
MAX_DISTANCE = 1e4  # m: rays and positions
MAX_RADIUS = 100.0  # m: nearest
MAX_CONTACTS = 1000  # contacts in one answer
_RAY_GROUPS = np.array([0 if g == HIDDEN_GROUP else 1 for g in range(6)], dtype=np.uint8)
_RAY_NORMAL = "normal" in (mujoco.mj_ray.__doc__ or "")  # MuJoCo >= 3.4 returns the normal


def check_query(q: Any) -> dict[str, Any]:
    """The query with its values checked and converted (numpy float64 vectors, glTF axes).

    Raises:
        PhysicsError: a missing, mistyped or out-of-range field, named as ``<type>.<field>``.
    """
    if not isinstance(q, Mapping):
        raise PhysicsError(f"a query must be an object, got {type(q).__name__}")
    kind = q.get("type")
    if kind not in TYPES:
        raise PhysicsError(f"type must be one of {', '.join(TYPES)}, got {kind!r:.40}")
    if kind == "ray":
        direction = _vector(q, "ray.direction", "direction", limit=math.inf)
        norm = float(np.linalg.norm(direction))
        if not 1e-12 < norm < 1e12:
            raise PhysicsError(f"ray.direction must be non-zero, got {direction.tolist()}")
        max_distance = q.get("max_distance", MAX_DISTANCE)
        if (
            isinstance(max_distance, bool)
            or not isinstance(max_distance, (int, float))
            or not 0 < max_distance <= MAX_DISTANCE
        ):
            raise PhysicsError(
                f"ray.max_distance must be a number in (0, {MAX_DISTANCE:g}], "
                f"got {max_distance!r:.40}"
            )
        return {
            "type": kind,
            "origin": _vector(q, "ray.origin", "origin", limit=MAX_DISTANCE),
            "direction": direction / norm,
            "max_distance": float(max_distance),
        }
    if kind == "contacts":
        entity = q.get("entity")
        if entity is not None and not isinstance(entity, str):
            raise PhysicsError(
                f"contacts.entity must be an entity id (a string), got {entity!r:.60}"
            )
        return {"type": kind, "entity": entity}
    radius = q.get("radius")
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, float))
        or not 0 < radius <= MAX_RADIUS
    ):
        raise PhysicsError(
            f"nearest.radius must be a number in (0, {MAX_RADIUS:g}], got {radius!r:.40}"
        )
    return {
        "type": kind,
        "point": _vector(q, "nearest.point", "point", limit=MAX_DISTANCE),
        "radius": float(radius),
    }


def run_query(state: PhysicsState, q: dict[str, Any]) -> dict[str, Any]:
    """Answer a checked query (from ``check_query``).

    Raises:
        EntityNotFoundError: ``contacts.entity`` is not a body of the simulation.
    """
    if q["type"] == "ray":
        return _ray(state, q["origin"], q["direction"], q["max_distance"])
    if q["type"] == "contacts":
        return _contacts(state, q["entity"])
    return _nearest(state, q["point"], q["radius"])


def _ray(
    state: PhysicsState, origin: np.ndarray, direction: np.ndarray, max_distance: float
) -> dict[str, Any]:
    m, d = state.model, state.data
    geom = np.array([-1], dtype=np.int32)
    normal = np.zeros(3)
    start, ray = _axes.to_mj_vec(origin), _axes.to_mj_vec(direction)
    if _RAY_NORMAL:
        distance = mujoco.mj_ray(m, d, start, ray, _RAY_GROUPS, True, -1, geom, normal)
    else:
        distance = mujoco.mj_ray(m, d, start, ray, _RAY_GROUPS, True, -1, geom)
    if distance < 0 or distance > max_distance or geom[0] < 0:
        return {"hit": False, "entity": None, "point": None, "normal": None, "distance": None}
    if not _RAY_NORMAL:
        normal = _surface_normal(state, int(geom[0]), start + distance * ray, ray)
    return {
        "hit": True,
        "entity": state.index.geom_body_id[geom[0]],
        "point": (origin + distance * direction).tolist(),
        "normal": _axes.from_mj_vec(normal).tolist(),
        "distance": float(distance),
    }


def _surface_normal(
    state: PhysicsState, geom: int, point: np.ndarray, ray: np.ndarray
) -> np.ndarray:
    """The outward normal of ``geom`` at ``point`` (MuJoCo before 3.4 gives none with rays): the
    direction from the geom's nearest surface point to the probe put just outside."""
    m, d = state.model, state.data
    probe = state.index.probe_geom
    saved = d.geom_xpos[probe].copy(), d.geom_xmat[probe].copy()
    d.geom_xpos[probe] = point - 0.01 * ray
    d.geom_xmat[probe] = np.eye(3).ravel()
    fromto = np.zeros(6)
    try:
        mujoco.mj_geomDistance(m, d, probe, geom, 1.0, fromto)
    finally:
        d.geom_xpos[probe], d.geom_xmat[probe] = saved
    normal = fromto[:3] - fromto[3:]
    norm = float(np.linalg.norm(normal))
    return normal / norm if norm > 0 else -ray


def _contacts(state: PhysicsState, entity: str | None) -> dict[str, Any]:
    d, idx = state.data, state.index
    n = d.ncon
    if n == 0:
        return {"contacts": [], "truncated": False}
    contact = d.contact
    geoms = np.asarray(contact.geom[:n])  # [n, 2]
    if entity is not None:
        body = idx.require(entity)
        bodies = state.model.geom_bodyid[geoms]
        keep = np.flatnonzero((bodies == body).any(axis=1))
    else:
        keep = np.arange(n)
    truncated = len(keep) > MAX_CONTACTS
    keep = keep[:MAX_CONTACTS]
    points = _axes.from_mj_vec(np.asarray(contact.pos[:n])[keep])
    normals = _axes.from_mj_vec(np.asarray(contact.frame[:n])[keep, :3])
    depths = -np.asarray(contact.dist[:n])[keep]
    out = [
        {
            "a": idx.geom_body_id[geoms[i, 0]],
            "b": idx.geom_body_id[geoms[i, 1]],
            "point": points[k].tolist(),
            "normal": normals[k].tolist(),
            "depth": float(depths[k]),
        }
        for k, i in enumerate(keep)
    ]
    return {"contacts": out, "truncated": truncated}


def _nearest(state: PhysicsState, point: np.ndarray, radius: float) -> dict[str, Any]:
    m, d, idx = state.model, state.data, state.index
    geoms = idx.pick_geoms
    if geoms.size == 0:
        return {"entity": None, "distance": None}
    p = _axes.to_mj_vec(point)
    centre = np.linalg.norm(d.geom_xpos[geoms] - p, axis=1)
    candidates = geoms[centre - m.geom_rbound[geoms] <= radius]
    probe = idx.probe_geom
    saved = d.geom_xpos[probe].copy(), d.geom_xmat[probe].copy()
    d.geom_xpos[probe] = p
    d.geom_xmat[probe] = np.eye(3).ravel()
    best, best_distance = None, math.inf
    try:
        for g in candidates:
            dist = mujoco.mj_geomDistance(m, d, probe, int(g), radius + PROBE_RADIUS, None)
            dist += PROBE_RADIUS
            if dist < best_distance:
                best, best_distance = idx.geom_body_id[g], dist
    finally:
        d.geom_xpos[probe], d.geom_xmat[probe] = saved
    if best is None or best_distance > radius:
        return {"entity": None, "distance": None}
    return {"entity": best, "distance": max(0.0, float(best_distance))}


def _vector(q: Mapping[str, Any], where: str, key: str, *, limit: float) -> np.ndarray:
    value = q.get(key)
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise PhysicsError(f"{where} must be a list of 3 numbers, got {value!r:.80}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise PhysicsError(f"{where} must hold 3 numbers, got {value!r:.80}")
    out = np.asarray(value, dtype=np.float64)
    if not np.isfinite(out).all():
        raise PhysicsError(f"{where} must be finite (no NaN or infinity), got {value!r:.80}")
    if float(np.linalg.norm(out)) > limit:
        raise PhysicsError(f"{where} is farther than {limit:g} m from the origin")
    return out
