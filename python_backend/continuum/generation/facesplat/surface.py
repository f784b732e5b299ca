"""The head surface: the prior's ellipsoid, its front bent to pass through the fitted landmarks.

A closed, star-shaped surface about the face frame's origin (the head centre; see ``prior``):
each direction u from the centre has one radius,

    r(u) = s r_ellipsoid(u) + w(u) d(u)

with ``r_ellipsoid`` the head ellipsoid (``HEAD_SEMI_AXES`` times the head's size s) and
d(u) a thin-plate spline over the directions' (longitude, latitude) that equals each
landmark's radial offset from the ellipsoid at its direction (so the surface passes through the
landmarks: brows, nose and lips stand out, the eyes sit in), and 0 on a ring of anchors around
the face. w(u) is 1 over the face (an ellipse in longitude and latitude around the landmarks,
raised to take in the forehead) and falls smoothly to 0 at the anchor ring, so the sides, the
top and the back of the head stay the ellipsoid: the views turned 30 degrees still see a head.
The inner lips (60-67) are left out of the spline: with the mouth closed they share the outer
lips' directions at another radius.

Under the head hangs the neck (``neck_surface``): the prior's upright elliptic cylinder
(``NECK_SEMI_AXES`` times the head's size), open at both ends, from inside the head down to
``_NECK_BOTTOM`` below the head's centre (about 11 cm under the chin, past the bottom of the
views). Without it the chin ends in nothing, and a turned view shows a head floating on the
background where the photo shows a neck and a collar.

``landmark_surface`` is the same fit without the head prior: only the face the landmarks span
(their convex hull seen from the front), as the thin-plate spline of depth over (x, y) through
the same landmarks; no head, no forehead, nothing beyond the landmarks. The bench's "noprior"
baseline is built on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.interpolate import RBFInterpolator
from scipy.spatial import Delaunay

from continuum.generation.facesplat.prior import HEAD_SEMI_AXES, NECK_CENTRE_Z, NECK_SEMI_AXES

_SPLINE_LANDMARKS = np.arange(60)  # all but the inner lips
_FOREHEAD = 0.45  # radians of latitude the face window reaches above the brows
_MARGIN = 0.08  # radians around the landmarks inside the window
_RING = 1.6  # the anchor ring, in units of the window's radii
_ANCHORS = 32
_NECK_TOP = -0.07  # metres from the head's centre (mean head): inside the head all round
_NECK_BOTTOM = -0.22
_NECK_STEP = 0.003  # metres between the neck's vertices


@dataclass(frozen=True, eq=False)
class HeadSurface:
    """A closed triangle mesh of the head, in the face frame (metres).

    Attributes:
        mesh: the triangles (outward normals)
        face_region: True for the triangles of the face window (w(u) = 1), where Gaussians
            are denser  # [F] bool
        neck: the neck under the head, an open tube (outward normals); None for a face alone
    """

    mesh: trimesh.Trimesh
    face_region: np.ndarray
    neck: trimesh.Trimesh | None = None


def head_surface(
    landmarks: np.ndarray, *, scale: float = 1.0, subdivisions: int = 5
) -> HeadSurface:
    """The head surface through fitted 3D landmarks.

    Args:
        landmarks: the fitted landmarks in the face frame, metres  # [68, 3]
        scale: the head's size relative to the mean head (``PoseFit.scale``)
        subdivisions: of the icosphere the surface is built on (5: 10,242 vertices, about
            3 mm apart over the face)

    Returns:
        the surface, its face region and the neck
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 3) or not np.isfinite(landmarks).all():
        raise ValueError(f"landmarks must be finite [68, 3] points, got {list(landmarks.shape)}")
    if not 0 <= subdivisions <= 7:
        raise ValueError(f"subdivisions must lie in 0..7, got {subdivisions}")
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    directions = np.asarray(sphere.vertices, dtype=np.float64)  # [V, 3] unit
    semi_axes = scale * HEAD_SEMI_AXES

    # 1. Each spline landmark's offset from the ellipsoid along its direction.
    points = landmarks[_SPLINE_LANDMARKS]
    radii = np.linalg.norm(points, axis=1)
    offsets = radii - ellipsoid_radius(points / radii[:, None], semi_axes)  # [L]

    # 2. The face window in (longitude, latitude), and the anchor ring around it.
    angles = _angles(points)  # [L, 2]
    brow_top = angles[17:27, 1].max()
    low = angles.min(axis=0) - _MARGIN
    high = np.array([angles[:, 0].max(), brow_top + _FOREHEAD]) + _MARGIN
    centre, radius = (low + high) / 2, (high - low) / 2
    turn = np.linspace(0, 2 * math.pi, _ANCHORS, endpoint=False)
    ring = centre + _RING * radius * np.stack([np.cos(turn), np.sin(turn)], axis=1)

    # 3. The thin-plate spline of the offsets, windowed, on every vertex near the face.
    spline = RBFInterpolator(
        np.concatenate([angles, ring]),
        np.concatenate([offsets, np.zeros(_ANCHORS)]),
        kernel="thin_plate_spline",
        smoothing=1e-6,
    )
    vertex_angles = _angles(directions)
    rho = np.linalg.norm((vertex_angles - centre) / radius, axis=1)  # 1 on the window's edge
    near = rho < _RING
    radius_of = ellipsoid_radius(directions, semi_axes)
    radius_of[near] += _window(rho[near]) * spline(vertex_angles[near])
    mesh = trimesh.Trimesh(directions * radius_of[:, None], sphere.faces, process=False)
    face_region = (rho[mesh.faces] <= 1.0).all(axis=1)
    return HeadSurface(mesh, face_region, neck_surface(scale=scale))


def neck_surface(*, scale: float = 1.0) -> trimesh.Trimesh:
    """The prior's neck: an upright elliptic tube, open at both ends, outward normals.

    Args:
        scale: the head's size relative to the mean head (``PoseFit.scale``)

    Returns:
        the tube, in the face frame (metres), vertices about ``_NECK_STEP`` apart
    """
    semi_x, semi_z = scale * NECK_SEMI_AXES
    top, bottom = scale * _NECK_TOP, scale * _NECK_BOTTOM
    around = max(8, round(2 * math.pi * max(semi_x, semi_z) / (scale * _NECK_STEP)))
    down = max(2, round((top - bottom) / (scale * _NECK_STEP)) + 1)
    turn = np.linspace(0, 2 * math.pi, around, endpoint=False)
    ring = np.stack([semi_x * np.sin(turn), semi_z * np.cos(turn) + scale * NECK_CENTRE_Z], 1)
    heights = np.linspace(top, bottom, down)
    vertices = np.concatenate(
        [np.stack([ring[:, 0], np.full(around, y), ring[:, 1]], axis=1) for y in heights]
    )  # [down * around, 3], row by row from the top
    a = np.arange(around)
    b = (a + 1) % around
    rows = np.arange(down - 1)[:, None] * around  # [down - 1, 1]
    upper = np.stack([rows + a, rows + around + a, rows + b], axis=-1)  # [down - 1, around, 3]
    lower = np.stack([rows + b, rows + around + a, rows + around + b], axis=-1)
    triangles = np.concatenate([upper, lower]).reshape(-1, 3)
    return trimesh.Trimesh(vertices, triangles, process=False)


def landmark_surface(landmarks: np.ndarray, *, spacing: float = 0.002) -> HeadSurface:
    """The face surface through fitted 3D landmarks alone, without the head prior.

    A height field: depth z as the thin-plate spline over (x, y) through the landmarks (all but
    the inner lips), on a grid ``spacing`` apart inside the convex hull of their (x, y), plus
    the hull's corners; triangulated in (x, y) (slivers along the hull dropped), normals
    towards +Z (the face's front).

    Args:
        landmarks: the fitted landmarks in the face frame, metres  # [68, 3]
        spacing: of the grid, metres

    Returns:
        the surface; every triangle is in the face region
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 3) or not np.isfinite(landmarks).all():
        raise ValueError(f"landmarks must be finite [68, 3] points, got {list(landmarks.shape)}")
    if not spacing > 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    points = landmarks[_SPLINE_LANDMARKS]
    hull = Delaunay(points[:, :2])
    corners = points[np.unique(hull.convex_hull), :2]
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    xs = np.arange(low[0], high[0] + spacing, spacing)
    ys = np.arange(low[1], high[1] + spacing, spacing)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    grid = np.concatenate([corners, grid[hull.find_simplex(grid) >= 0]])
    spline = RBFInterpolator(
        points[:, :2], points[:, 2], kernel="thin_plate_spline", smoothing=1e-6
    )
    vertices = np.concatenate([grid, spline(grid)[:, None]], axis=1)  # [V, 3]
    triangles = Delaunay(grid).simplices  # [F, 3]
    # Counter-clockwise seen from +Z, so that the normals face the front.
    a, b, c = (grid[triangles[:, k]] for k in range(3))
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    triangles[cross < 0] = triangles[cross < 0][:, ::-1]
    triangles = triangles[np.abs(cross) > 0.05 * spacing**2]  # no slivers along the hull
    mesh = trimesh.Trimesh(vertices, triangles, process=False)
    return HeadSurface(mesh, np.ones(len(triangles), dtype=bool))


def ellipsoid_radius(directions: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """Distance from the centre to an axis-aligned ellipsoid along unit directions.

    Args:
        directions: unit vectors  # [N, 3]
        semi_axes: the ellipsoid's semi-axes  # [3]

    Returns:
        radii  # [N]
    """
    return 1.0 / np.sqrt(((directions / semi_axes) ** 2).sum(axis=1))


def _angles(points: np.ndarray) -> np.ndarray:
    """(longitude about +Y from +Z towards +X, latitude) of points seen from the origin  # [N, 2]"""
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    return np.stack([np.arctan2(unit[:, 0], unit[:, 2]), np.arcsin(unit[:, 1])], axis=1)


def _window(rho: np.ndarray) -> np.ndarray:
    """1 inside the face window (rho <= 1), smoothly 0 at the anchor ring (rho = _RING)."""
    t = np.clip((rho - 1.0) / (_RING - 1.0), 0.0, 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)
