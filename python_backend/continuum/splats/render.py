"""render_splats: draw a SplatCloud through a Camera, on gsplat (CUDA) or Continuum's CPU renderer.

Every backend follows the same model (3DGS as gsplat 1.5 writes it, "classic" mode; the rules are
in _project.py): SH colour for the view direction from the camera centre, clamped at 0; EWA
projection with 0.3 px^2 dilation; alpha = opacity * exp(-0.5 d^T conic d), skipped below 1/255,
clamped at 0.99; front-to-back compositing in depth order, each pixel stopping before the Gaussian
that would take its transmittance below 1e-4:

    rgb   = sum_i c_i a_i T_i + T_final * background
    alpha = 1 - T_final
    depth = sum_i z_i a_i T_i     (camera-space z, accumulated, not normalised: divide by alpha
                                   for the expected depth of the covered part, as gsplat's "ED")

Backends:
    "gsplat"     gsplat.rasterization on CUDA (the cloud is moved there and the result back)
    "cpu"        Continuum's tile renderer, numba-compiled, multi-threaded, differentiable
    "torch"      a tile renderer in plain PyTorch, autograd; the speed baseline for "cpu"
    "reference"  every Gaussian at every pixel in float64; the ground truth, small scenes only
    "auto"       "gsplat" when CUDA and gsplat are available, else "cpu"

Known differences of "gsplat": it clamps alpha at 0.999 rather than 0.99 (so pixels where a single
Gaussian reaches opacity * falloff > 0.99 differ), stops at T <= 1e-4 rather than < 1e-4, and
renders in float32.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Literal

import torch

from continuum.splats import _cpu, _gsplat, _reference, _torch_tiles
from continuum.splats._project import project
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.sh import num_coeffs, rgb_to_sh0

Backend = Literal["auto", "gsplat", "cpu", "torch", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "gsplat", "cpu", "torch", "reference")


@dataclass
class RenderOutput:
    """One rendered view, on the cloud's device and in its dtype.

    Attributes:
        rgb: colour, background included  # [H, W, 3]
        alpha: coverage, 1 - final transmittance  # [H, W]
        depth: accumulated camera-space depth, sum of z * weight (not normalised)  # [H, W]
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor


def render_splats(
    cloud: SplatCloud,
    camera: Camera,
    *,
    backend: Backend = "auto",
    sh_degree: int | None = None,
) -> RenderOutput:
    """Render ``cloud`` as seen by ``camera``; differentiable in every tensor of the cloud.

    Args:
        cloud: N Gaussians
        camera: view, image size and background
        backend: see the module docstring; "auto" picks "gsplat" with CUDA, else "cpu"
        sh_degree: SH bands to use, 0..cloud.sh_degree; None uses them all
    """
    # 1. Arguments.
    if sh_degree is None:
        sh_degree = cloud.sh_degree
    elif not 0 <= sh_degree <= cloud.sh_degree:
        raise ValueError(
            f"sh_degree must lie in 0..{cloud.sh_degree} (the cloud's SH degree), got {sh_degree}"
        )
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "gsplat" if _gsplat_usable() else "cpu"
    if backend == "gsplat" and not _gsplat_usable():
        raise ValueError(
            "backend 'gsplat' needs CUDA and the gsplat package (pip install 'continuum[cuda]'); "
            "use backend='cpu' on this machine"
        )

    # 2. An empty cloud draws the background alone.
    if len(cloud) == 0:
        shape = (camera.height, camera.width)
        background = torch.tensor(camera.background, dtype=cloud.dtype, device=cloud.device)
        zeros = torch.zeros(shape, dtype=cloud.dtype, device=cloud.device)
        return RenderOutput(background.expand(*shape, 3).clone(), zeros, zeros.clone())

    # 3. Project and composite on the backend's device and precision.
    if backend == "gsplat":
        rgb, alpha, depth = _gsplat.render(cloud, camera, sh_degree=sh_degree)
    elif backend == "reference":
        work = cloud.to(dtype=torch.float64)
        rgb, alpha, depth = _reference.rasterize(project(work, camera, sh_degree=sh_degree), camera)
    elif backend == "cpu":
        work = cloud.to(device="cpu")
        rgb, alpha, depth = _cpu.rasterize(project(work, camera, sh_degree=sh_degree), camera)
    else:
        proj = project(cloud, camera, sh_degree=sh_degree)
        rgb, alpha, depth = _torch_tiles.rasterize(proj, camera)

    # 4. Back to the cloud's device and dtype (differentiable moves).
    return RenderOutput(
        *(t.to(device=cloud.device, dtype=cloud.dtype) for t in (rgb, alpha, depth))
    )


def _gsplat_usable() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("gsplat") is not None


def make_benchmark_scene(
    n: int, width: int, *, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[SplatCloud, Camera]:
    """The render benchmark's scene: ``n`` Gaussians in front of a square ``width`` x ``width``
    camera (60 degree field of view, at the origin, looking down scene -Z).

    Means are uniform in the box x, y in [-2, 2], z in [-8, -4] (depths 4..8, so the box fills
    the image); SH degree 3 with random colours and view-dependent bands; opacities uniform in
    (0.1, 0.9); random rotations; log-scales set so that the mean 3-sigma screen radius is about
    2% of the image width, with each axis varied by a factor in [exp(-0.3), exp(0.3)].
    """
    if n < 0 or width <= 0:
        raise ValueError(f"make_benchmark_scene needs n >= 0 and width > 0, got {n} and {width}")
    gen = torch.Generator().manual_seed(seed)
    camera = Camera.look_at(
        (0.0, 0.0, 0.0), (0.0, 0.0, -1.0), fov_y_deg=60.0, width=width, height=width
    )

    def uniform(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=torch.float64)

    near, far = 4.0, 8.0
    means = torch.stack(
        [uniform(n, lo=-2.0, hi=2.0), uniform(n, lo=-2.0, hi=2.0), uniform(n, lo=-far, hi=-near)],
        dim=-1,
    )
    # 3 sigma * fx * E[1/z] = 0.02 * width, with E[1/z] = ln(far / near) / (far - near).
    sigma = 0.02 * width * (far - near) / (3.0 * camera.fx * math.log(far / near))
    log_scales = math.log(sigma) + uniform(n, 3, lo=-0.3, hi=0.3)
    quats = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    opacity = uniform(n, lo=0.1, hi=0.9)
    sh = 0.1 * torch.randn(n, num_coeffs(3), 3, generator=gen, dtype=torch.float64)
    sh[:, 0] = rgb_to_sh0(uniform(n, 3))
    cloud = SplatCloud(means, quats, log_scales, torch.logit(opacity), sh)
    return cloud.to(dtype=dtype), camera
