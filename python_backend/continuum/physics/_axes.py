"""glTF <-> MuJoCo axes: the one place where the physics converts.

Scenes and the wire use glTF axes (right-handed, +Y up, quaternions x, y, z, w); MuJoCo's world
is Z-up with quaternions w, x, y, z. The MuJoCo world is the glTF world turned +90 degrees about
X: a glTF point (x, y, z) is the MuJoCo point (x, -z, y).

A body's own frame is not converted: MuJoCo body frames are the entities' glTF frames, so sizes,
mesh vertices, joint axes and points given in an entity's frame are used as they are. Only world
quantities cross: ``to_mj_*`` on the way in, ``from_mj_*`` on the way out. Geoms whose MuJoCo axis
is local Z (capsule, cylinder, plane normal) get ``Z_TO_Y`` so that it becomes the entity's +Y.
"""

from __future__ import annotations

import math

import numpy as np

_H = math.sqrt(0.5)
# The world turn, MuJoCo order (w, x, y, z): +90 degrees about X, and its inverse.
WORLD_TURN = np.array([_H, _H, 0.0, 0.0])
WORLD_TURN_INV = np.array([_H, -_H, 0.0, 0.0])
# A geom's local turn (w, x, y, z) that takes MuJoCo's axis +Z to the entity's +Y: -90 deg about X.
Z_TO_Y = np.array([_H, -_H, 0.0, 0.0])


def to_mj_vec(v: np.ndarray) -> np.ndarray:
    """A glTF world point or direction as MuJoCo's: (x, y, z) -> (x, -z, y).  # [..., 3]"""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def from_mj_vec(v: np.ndarray) -> np.ndarray:
    """A MuJoCo world point or direction as glTF's: (x, y, z) -> (x, z, -y).  # [..., 3]"""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


def to_mj_quat(q_xyzw: np.ndarray) -> np.ndarray:
    """A glTF world orientation (x, y, z, w) as MuJoCo's (w, x, y, z).  # [..., 4]"""
    q = np.asarray(q_xyzw, dtype=np.float64)
    return quat_mul(WORLD_TURN, np.stack([q[..., 3], q[..., 0], q[..., 1], q[..., 2]], axis=-1))


def from_mj_quat(q_wxyz: np.ndarray) -> np.ndarray:
    """A MuJoCo world orientation (w, x, y, z) as glTF's (x, y, z, w).  # [..., 4]

    Vectorised for the pose stream: WORLD_TURN_INV * q, written out for the fixed left factor.
    """
    q = np.asarray(q_wxyz, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([_H * (x - w), _H * (y + z), _H * (z - y), _H * (w + x)], axis=-1)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Hamilton product a * b of quaternions (w, x, y, z).  # [..., 4]"""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """The conjugate (the inverse of a unit quaternion), (w, x, y, z).  # [..., 4]"""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v`` turned by the unit quaternion ``q`` (w, x, y, z).  # [3]"""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    u = q[1:]
    t = 2.0 * np.cross(u, v)
    return v + q[0] * t + np.cross(u, t)


def xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    """A quaternion (x, y, z, w) reordered as (w, x, y, z), no change of axes.  # [..., 4]"""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)
