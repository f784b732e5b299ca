"""Gaussian splats: the geometry half of the world (G).

Public names:
- ``SplatCloud``: N Gaussians (means, quaternions, log-scales, opacity logits, SH colour)
- ``sh``: the spherical-harmonic basis, colour evaluation and SH rotation
- ``read_splats``, ``write_splats``: splat files (3DGS PLY, .splat, SPZ; PlayCanvas compressed
  PLY and SOG read only), from ``formats``
"""

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats import read_splats, write_splats

__all__ = ["SplatCloud", "read_splats", "write_splats"]
