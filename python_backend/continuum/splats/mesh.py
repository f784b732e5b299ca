"""Meshes to splats: flat Gaussians that cover a triangle mesh's surface, coloured like it.

Colour convention: SH stores *display* colour (sRGB-encoded values in [0, 1]), as 3DGS does,
whose SH is fitted straight to 8-bit photographs and shown without a transfer function. Mesh
colours are therefore used as they are stored: texture texels (sRGB by every format's rules),
vertex and face colours, and a glTF ``baseColorFactor`` (which multiplies the texture, as the
glTF specification says; an OBJ's Kd does not, as in trimesh). glTF defines vertex colours and
the factor as linear, but trimesh passes them through unconverted and viewers commonly show
them so; we do the same, so a mesh looks here as it looks in trimesh.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from continuum.errors import SplatFormatError
from continuum.splats.cloud import SplatCloud
from continuum.splats.sh import num_coeffs, rgb_to_sh0

DEFAULT_COUNT = 100_000
# In-plane standard deviation as a multiple of the mean distance to the 3 nearest samples;
# at 1.0 a surface of opacity-0.99 splats renders with alpha > 0.99 between samples.
SPACING_TO_SIGMA = 1.0
_PLASTIC = 1.324717957244746  # the R2 low-discrepancy sequence's generator


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Read a triangle mesh (glTF/GLB, OBJ, PLY, STL, OFF, ...) with its colours or texture.

    A file holding a scene of several meshes is flattened into one mesh in world space.

    Raises:
        SplatFormatError: the file is missing, not a mesh format trimesh reads, unreadable, or
            holds no triangles.
    """
    path = Path(path)
    if not path.is_file():
        raise SplatFormatError(f"mesh file {str(path)!r} does not exist")
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in trimesh.available_formats():
        raise SplatFormatError(
            f"mesh file {str(path)!r}: unknown extension {path.suffix!r}; expected one of "
            f".glb, .gltf, .obj, .ply, .stl, .off"
        )
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for malformed input
        raise SplatFormatError(f"mesh file {str(path)!r} could not be read: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise SplatFormatError(f"mesh file {str(path)!r} holds no triangles")
    return mesh


def mesh_to_splats(
    mesh: trimesh.Trimesh,
    *,
    count: int | None = None,
    splats_per_area: float | None = None,
    sh_degree: int = 0,
    opacity: float = 0.99,
    thickness: float = 1e-3,
    seed: int = 0,
) -> SplatCloud:
    """Cover a mesh's faces with flat, surface-aligned Gaussians.

    1. Samples: ``count`` points (or ``splats_per_area`` per square metre) spread over the
       faces in proportion to area, each face getting its share to within one sample and
       placing them by a randomly shifted low-discrepancy sequence, so the cover has no
       clumps or holes.
    2. Shape: each Gaussian's local z is its face's normal; both in-plane standard deviations
       are ``SPACING_TO_SIGMA`` times the mean distance to its 3 nearest samples (so
       neighbours overlap and the surface renders closed); the normal one is ``thickness``
       times that.
    3. Colour: from the texture (bilinear, at the barycentric UV), or the vertex colours
       (barycentric), or the face colours, or the material colour; see the module docstring
       for the colour space. Alpha multiplies ``opacity``.

    Args:
        mesh: a triangle mesh
        count: how many Gaussians; give this or ``splats_per_area``, or neither for
            ``DEFAULT_COUNT``
        splats_per_area: Gaussians per square metre of surface
        sh_degree: SH degree of the result (0..3); bands above 0 are zero (matte)
        opacity: opacity of fully opaque mesh colour, in (0, 1)
        thickness: normal-axis scale as a fraction of the in-plane scale, in (0, 1]
        seed: random seed; the same seed gives the same cloud
    Returns:
        a float32 cloud on the CPU
    """
    num_coeffs(sh_degree)  # validates
    if count is not None and splats_per_area is not None:
        raise ValueError("give count or splats_per_area, not both")
    if not 0.0 < opacity < 1.0:
        raise ValueError(f"opacity must be in (0, 1), got {opacity}")
    if not 0.0 < thickness <= 1.0:
        raise ValueError(f"thickness must be in (0, 1], got {thickness}")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)  # [V, 3]
    faces = np.asarray(mesh.faces, dtype=np.int64)  # [F, 3]
    areas = np.asarray(mesh.area_faces, dtype=np.float64)  # [F]
    total_area = float(areas.sum())
    if len(faces) == 0 or not total_area > 0.0:
        raise ValueError(f"mesh has no surface: {len(faces)} faces, area {total_area}")
    if splats_per_area is not None:
        if not splats_per_area > 0:
            raise ValueError(f"splats_per_area must be positive, got {splats_per_area}")
        n = max(1, math.ceil(total_area * splats_per_area))
    else:
        n = DEFAULT_COUNT if count is None else count
        if n < 1:
            raise ValueError(f"count must be at least 1, got {n}")
    rng = np.random.default_rng(seed)

    # 1. Samples: face index and barycentric coordinates of each.
    face_index, bary = _sample_faces(areas, n, rng)  # [n], [n, 3]
    corners = vertices[faces[face_index]]  # [n, 3, 3]
    points = np.einsum("nk,nkc->nc", bary, corners)  # [n, 3]

    # 2. Shape: orientation from the face normal, scale from the local spacing.
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)  # [n, 3]
    spacing = _local_spacing(points, mean_spacing=math.sqrt(total_area / n))  # [n]
    sigma = SPACING_TO_SIGMA * spacing
    log_scales = np.log(np.stack([sigma, sigma, thickness * sigma], axis=1))  # [n, 3]

    # 3. Colour.
    rgba = _surface_colours(mesh, face_index, bary)  # [n, 4] in [0, 1]
    alpha = np.clip(opacity * rgba[:, 3], 1e-4, 1 - 1e-4)

    sh = torch.zeros(n, num_coeffs(sh_degree), 3)
    sh[:, 0] = rgb_to_sh0(torch.from_numpy(rgba[:, :3]).float())
    return SplatCloud(
        means=torch.from_numpy(points).float(),
        quats=torch.from_numpy(_quats_z_to(normals)).float(),
        log_scales=torch.from_numpy(log_scales).float(),
        opacity_logits=torch.from_numpy(np.log(alpha / (1 - alpha))).float(),
        sh=sh,
    )


def _sample_faces(
    areas: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified area-weighted samples: (face index [n], barycentric coordinates [n, 3]).

    Systematic sampling gives face f floor or ceil of n * area_f / total samples; within a
    face they follow the R2 sequence (randomly shifted) mapped to the triangle by the
    area-preserving square-root map.
    """
    cumulative = np.cumsum(areas) / areas.sum() * n
    cumulative[-1] = n  # exact, whatever the float rounding of the sum
    cuts = np.floor(cumulative + rng.random()).astype(np.int64)  # the last is n
    per_face = np.diff(cuts, prepend=0)
    face_index = np.repeat(np.arange(len(areas)), per_face)  # [n]
    start = np.cumsum(per_face) - per_face
    j = np.arange(n) - start[face_index]  # rank of each sample within its face
    shift = rng.random((len(areas), 2))[face_index]
    steps = np.array([1 / _PLASTIC, 1 / _PLASTIC**2])
    r = np.mod(shift + (j[:, None] + 0.5) * steps, 1.0)  # [n, 2] in the unit square
    root = np.sqrt(r[:, 0])
    bary = np.stack([1 - root, root * (1 - r[:, 1]), root * r[:, 1]], axis=1)
    return face_index, bary


def _local_spacing(points: np.ndarray, *, mean_spacing: float) -> np.ndarray:
    """Mean distance to the 3 nearest other samples, kept within [1/4, 4] x the mean  # [n]"""
    k = min(4, len(points))
    if k < 2:
        return np.full(len(points), mean_spacing)
    distances, _ = cKDTree(points).query(points, k=k)
    return np.clip(distances[:, 1:].mean(axis=1), 0.25 * mean_spacing, 4.0 * mean_spacing)


def _quats_z_to(normals: np.ndarray) -> np.ndarray:
    """(w, x, y, z) quaternions of the shortest rotations taking +z to each unit normal.

    q = normalise(1 + z.n, z x n); for n = -z, a half turn about x.  # [n, 3] -> [n, 4]
    """
    x, y, z = normals.T
    q = np.stack([1.0 + z, -y, x, np.zeros_like(z)], axis=1)
    flipped = q[:, 0] < 1e-6
    q[flipped] = [0.0, 1.0, 0.0, 0.0]
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _surface_colours(mesh: trimesh.Trimesh, face_index: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """RGBA in [0, 1] at each sample, from the mesh's texture or colours  # [n, 4]"""
    visual = mesh.visual
    if isinstance(visual, trimesh.visual.TextureVisuals):
        material = visual.material
        pbr = isinstance(material, trimesh.visual.material.PBRMaterial)
        image = material.baseColorTexture if pbr else material.image
        if image is None or visual.uv is None:  # an untextured material: its one colour
            main = np.asarray(material.main_color, dtype=np.float64) / 255.0
            return np.tile(main, (len(bary), 1))
        uv_corners = np.asarray(visual.uv, dtype=np.float64)[mesh.faces[face_index]]  # [n, 3, 2]
        uv = np.einsum("nk,nkc->nc", bary, uv_corners)
        texels = trimesh.visual.color.uv_to_interpolated_color(uv, image) / 255.0  # [n, 4]
        if pbr and material.baseColorFactor is not None:  # glTF multiplies the texture by it
            texels = texels * np.asarray(material.baseColorFactor, dtype=np.float64) / 255.0
        return texels
    if visual.kind == "vertex":
        colours = np.asarray(visual.vertex_colors, dtype=np.float64) / 255.0  # [V, 4]
        return np.einsum("nk,nkc->nc", bary, colours[mesh.faces[face_index]])
    # Face colours; trimesh supplies its default grey when the mesh has none.
    return np.asarray(visual.face_colors, dtype=np.float64)[face_index] / 255.0
