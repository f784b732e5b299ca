"""Small random splat scenes shared by the renderer tests (float64, seeded)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from continuum.splats import Camera, SplatCloud

F64 = torch.float64


def random_scene(
    n: int,
    width: int,
    height: int,
    *,
    seed: int = 0,
    degree: int = 2,
    spread: float,
    log_scale: tuple[float, float],
    opacity: tuple[float, float],
    sh_scale: float,
    eye: Sequence[float],
    fov_y_deg: float,
    background: Sequence[float],
) -> tuple[SplatCloud, Camera]:
    """Gaussians around the origin with normal parameters (``log_scale`` and ``opacity`` logits as
    (std, mean)), and a camera at ``eye`` looking at the origin."""
    g = torch.Generator().manual_seed(seed)
    cloud = SplatCloud(
        torch.randn(n, 3, generator=g, dtype=F64) * spread,
        torch.randn(n, 4, generator=g, dtype=F64),
        torch.randn(n, 3, generator=g, dtype=F64) * log_scale[0] + log_scale[1],
        torch.randn(n, generator=g, dtype=F64) * opacity[0] + opacity[1],
        torch.randn(n, (degree + 1) ** 2, 3, generator=g, dtype=F64) * sh_scale,
    )
    camera = Camera.look_at(
        eye,
        (0.0, 0.0, 0.0),
        fov_y_deg=fov_y_deg,
        width=width,
        height=height,
        background=tuple(background),
    )
    return cloud, camera
