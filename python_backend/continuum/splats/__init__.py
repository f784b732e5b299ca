"""Gaussian splats: the geometry half of the world (G).

Public names:
- ``SplatCloud``: N Gaussians (means, quaternions, log-scales, opacity logits, SH colour)
- ``sh``: the spherical-harmonic basis, colour evaluation and SH rotation
- ``read_splats``, ``write_splats``: splat files (3DGS PLY, .splat, SPZ; PlayCanvas compressed
  PLY and SOG read only), from ``formats``
- ``Camera``: pinhole camera in OpenCV axes (+x right, +y down, +z forward), from ``camera``
- ``render_splats``, ``RenderOutput``: one entry to render (gsplat on CUDA, else the CPU
  renderer; "torch" and "reference" backends for comparison), and ``make_benchmark_scene``,
  the render benchmark's scene, from ``render``
- ``fit_splats``, ``FitConfig``, ``FitResult``: 3DGS optimisation from posed images (``fit``)
- ``mesh_to_splats``, ``load_mesh``: surface-aligned Gaussians from a trimesh mesh, from ``mesh``
- ``selection``: selections of Gaussians (box, sphere, the ray brush, 2D masks lifted by
  visibility-weighted votes and 3D neighbour smoothing); ``editing``: edits of a selection
  (delete, recolor, tint, transform, duplicate, optimize) that leave every other Gaussian
  bit-identical. Modules, imported as ``from continuum.splats import selection, editing``.
"""

from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.fit import FitConfig, FitResult, fit_splats
from continuum.splats.formats import read_splats, write_splats
from continuum.splats.mesh import load_mesh, mesh_to_splats
from continuum.splats.render import RenderOutput, make_benchmark_scene, render_splats

__all__ = [
    "Camera",
    "FitConfig",
    "FitResult",
    "RenderOutput",
    "SplatCloud",
    "fit_splats",
    "load_mesh",
    "make_benchmark_scene",
    "mesh_to_splats",
    "read_splats",
    "render_splats",
    "write_splats",
]
