"""Convex colliders from meshes: one trimesh convex hull, or a CoACD convex decomposition.

MuJoCo collides meshes through their convex hulls, so a concave mesh (an L, a torus, a cup)
needs a decomposition into convex parts, each a mesh geom of the same body. Parts are in the
entity's own frame (glTF axes), scaled by the entity's scale.

Degenerate meshes (every point on one plane or line, so no volume) raise PhysicsError; there is
no silent fallback, because a collider with no volume would also have no inertia.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from continuum.errors import PhysicsError

MAX_MESH_BYTES = 256 << 20
MIN_VOLUME = 1e-9  # m^3: a part smaller than a 1 mm cube is dropped; a whole mesh is degenerate


@dataclass(frozen=True)
class ConvexPart:
    """One convex collision mesh in the entity's frame.

    Attributes:
        vertices: float64 points, metres  # [V, 3]
        faces: int32 triangles, outward  # [F, 3]
        volume: m^3 (> 0)
    """

    vertices: np.ndarray
    faces: np.ndarray
    volume: float


def load_collision_mesh(path: str | Path) -> trimesh.Trimesh:
    """Read a triangle mesh (any format trimesh reads; a scene is flattened into one mesh).

    Raises:
        PhysicsError: missing, unreadable, or holding no triangles.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise PhysicsError(f"mesh file {str(path)!r} does not exist") from None
    if size > MAX_MESH_BYTES:
        raise PhysicsError(f"mesh file {str(path)!r}: {size} bytes exceeds {MAX_MESH_BYTES}")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for malformed input
        raise PhysicsError(f"mesh file {str(path)!r} could not be read: {exc}") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise PhysicsError(f"mesh file {str(path)!r} holds no triangles")
    return mesh


def convex_hull(vertices: np.ndarray, *, name: str = "mesh") -> ConvexPart:
    """The convex hull of ``vertices``  # [V, 3]

    Raises:
        PhysicsError: the points are not finite, or span no volume (all on a plane or a line:
            "degenerate"); the message says how to fix the mesh.
    """
    points = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if len(points) < 4 or not np.isfinite(points).all():
        raise PhysicsError(
            f"{name} is degenerate: a hull needs at least 4 finite points, got {len(points)}"
        )
    extent = float(np.ptp(points, axis=0).max())
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            hull = trimesh.convex.convex_hull(points, qhull_options="QbB Pp Qt")
            volume = float(abs(hull.volume))
    except Exception as exc:  # scipy's QhullError for flat or collinear input
        raise PhysicsError(
            f"{name} is degenerate (its points lie on a plane or a line, so it has no volume): "
            f"give it thickness, or use a box shape collider ({type(exc).__name__})"
        ) from None
    if not math.isfinite(volume) or volume <= max(MIN_VOLUME, 1e-9 * extent**3):
        raise PhysicsError(
            f"{name} is degenerate: its convex hull has volume {volume:.3g} m^3 (flat or a "
            "line); give it thickness, or use a box shape collider"
        )
    hull.fix_normals()
    return ConvexPart(
        np.ascontiguousarray(hull.vertices, dtype=np.float64),
        np.ascontiguousarray(hull.faces, dtype=np.int32),
        volume,
    )


def convex_decomposition(
    mesh: trimesh.Trimesh, *, threshold: float = 0.05, max_parts: int = 32, name: str = "mesh"
) -> list[ConvexPart]:
    """Convex parts of ``mesh`` by CoACD (deterministic: a fixed seed).

    Args:
        mesh: the concave mesh (ideally watertight; CoACD repairs small defects).
        threshold: CoACD's concavity threshold in (0, 1]; smaller gives more, tighter parts.
        max_parts: the most parts kept (CoACD merges beyond it).

    Raises:
        PhysicsError: the mesh is degenerate, or CoACD produced no part with volume.
    """
    import coacd

    convex_hull(mesh.vertices, name=name)  # a degenerate mesh fails here, with the same message
    coacd.set_log_level("error")
    try:
        raw = coacd.run_coacd(
            coacd.Mesh(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)),
            threshold=threshold,
            max_convex_hull=max_parts,
            seed=0,
        )
    except Exception as exc:  # CoACD raises RuntimeError on meshes it cannot process
        raise PhysicsError(f"{name}: convex decomposition failed: {exc}") from None
    parts = []
    for vertices, _faces in raw:
        try:
            parts.append(convex_hull(vertices, name=name))
        except PhysicsError:
            continue  # a sliver part: the others cover the shape
    if not parts:
        raise PhysicsError(f"{name}: convex decomposition produced no part with volume")
    return parts


@functools.lru_cache(maxsize=64)
def mesh_parts(
    path: Path,
    stamp: tuple[int, int],
    scale: tuple[float, float, float],
    collider: str,
    threshold: float,
    max_parts: int,
) -> tuple[ConvexPart, ...]:
    """The convex parts of a mesh file for a collider ("hull" or "decomposition"), cached.

    ``stamp`` (mtime_ns, size) makes an edited file miss the cache; ``scale`` scales vertices.
    """
    mesh = load_collision_mesh(path)
    mesh = trimesh.Trimesh(np.asarray(mesh.vertices) * np.asarray(scale), mesh.faces, process=False)
    name = f"mesh {path.name!r}"
    if collider == "hull":
        return (convex_hull(mesh.vertices, name=name),)
    return tuple(convex_decomposition(mesh, threshold=threshold, max_parts=max_parts, name=name))


def file_stamp(path: Path) -> tuple[int, int]:
    """(mtime_ns, size) of ``path``, the cache key of ``mesh_parts``."""
    try:
        st = path.stat()
    except OSError:
        raise PhysicsError(f"mesh file {str(path)!r} does not exist") from None
    return (st.st_mtime_ns, st.st_size)
