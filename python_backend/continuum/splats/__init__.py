"""Gaussian splats: the geometry half of the world (G).

Public names:
- ``SplatCloud``: N Gaussians (means, quaternions, log-scales, opacity logits, SH colour)
- ``sh``: the spherical-harmonic basis, colour evaluation and SH rotation
"""

from continuum.splats.cloud import SplatCloud

__all__ = ["SplatCloud"]
