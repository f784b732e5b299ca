"""Small random splat clouds and scenes shared by the tests (seeded)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from continuum.splats import Camera, SplatCloud

F64 = torch.float64


def random_cloud(
    n: int,
    *,
    seed: int = 0,
    degree: int = 1,
    spread: float = 1.0,
    log_scale: tuple[float, float] = (1.0, -3.0),
    opacity: tuple[float, float] = (1.0, 0.0),
    sh_scale: float = 1.0,
    dtype: torch.dtype = torch.float32,
) -> SplatCloud:
    """Gaussians around the origin with normal parameters: means with std ``spread``,
    ``log_scale`` and ``opacity`` logits as (std, mean), SH coefficients with std ``sh_scale``."""
    g = torch.Generator().manual_seed(seed)
    return SplatCloud(
        torch.randn(n, 3, generator=g, dtype=dtype) * spread,
        torch.randn(n, 4, generator=g, dtype=dtype),
        torch.randn(n, 3, generator=g, dtype=dtype) * log_scale[0] + log_scale[1],
        torch.randn(n, generator=g, dtype=dtype) * opacity[0] + opacity[1],
        torch.randn(n, (degree + 1) ** 2, 3, generator=g, dtype=dtype) * sh_scale,
    )


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
    cloud = random_cloud(
        n,
        seed=seed,
        degree=degree,
        spread=spread,
        log_scale=log_scale,
        opacity=opacity,
        sh_scale=sh_scale,
        dtype=F64,
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
