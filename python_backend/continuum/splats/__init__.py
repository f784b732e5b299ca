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
"""

from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.formats import read_splats, write_splats
from continuum.splats.render import RenderOutput, make_benchmark_scene, render_splats

__all__ = [
    "Camera",
    "RenderOutput",
    "SplatCloud",
    "make_benchmark_scene",
    "read_splats",
    "render_splats",
    "write_splats",
]
