"""The brute-force reference renderer: every drawn Gaussian evaluated at every pixel.

No tiles and no screen boxes: a Gaussian adds to a pixel exactly where the alpha rules of
_project.py say so, which makes this the ground truth the tiled renderers are tested against.
Differentiable through autograd. Memory grows as pixels x Gaussians, so it is for small scenes.
"""

from __future__ import annotations

import torch

from continuum.splats._project import ALPHA_MAX, ALPHA_MIN, T_MIN, Projected
from continuum.splats.camera import Camera

MAX_PAIRS = 20_000_000  # pixel-Gaussian pairs; beyond this the dense evaluation is impractical


def rasterize(proj: Projected, camera: Camera) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite ``proj`` front to back at every pixel, in the dtype of ``proj``.

    Returns:
        rgb  # [H, W, 3], alpha  # [H, W], depth (sum of z * weight)  # [H, W]
    """
    width, height = camera.width, camera.height
    drawn = torch.nonzero(proj.visible()).squeeze(1)
    if width * height * drawn.numel() > MAX_PAIRS:
        raise ValueError(
            f"the reference renderer evaluates every Gaussian at every pixel: {width}x{height} "
            f"pixels x {drawn.numel()} Gaussians exceeds {MAX_PAIRS} pairs; use backend='cpu' "
            "or 'torch', or a smaller scene"
        )
    order = drawn[torch.sort(proj.depths[drawn], stable=True).indices]
    dtype, device = proj.means2d.dtype, proj.means2d.device
    rows, cols = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    centres = torch.stack([cols, rows], dim=-1).reshape(-1, 1, 2) + 0.5  # [P, 1, 2]

    delta = proj.means2d[order] - centres  # [P, M, 2]
    dx, dy = delta.unbind(-1)
    a, b, c = proj.conics[order].unbind(-1)  # [M] each
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy  # [P, M]
    alpha = (proj.opacities[order] * torch.exp(-sigma)).clamp_max(ALPHA_MAX)
    alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, 0.0)
    # A pixel stops before the Gaussian that would take its transmittance below T_MIN; the
    # transmittance only falls, so the Gaussians it keeps are a prefix.
    with torch.no_grad():
        kept = torch.cumprod(1.0 - alpha, dim=1) >= T_MIN
    alpha = torch.where(kept, alpha, 0.0)
    trans = torch.cumprod(1.0 - alpha, dim=1)  # transmittance after each Gaussian  [P, M]
    before = torch.cat([torch.ones_like(trans[:, :1]), trans[:, :-1]], dim=1)
    weight = alpha * before  # [P, M]
    t_final = trans[:, -1] if trans.shape[1] else torch.ones_like(centres[:, 0, 0])  # [P]

    background = torch.tensor(camera.background, dtype=dtype, device=device)
    rgb = weight @ proj.colours[order] + t_final[:, None] * background
    depth = weight @ proj.depths[order]
    return (
        rgb.reshape(height, width, 3),
        (1.0 - t_final).reshape(height, width),
        depth.reshape(height, width),
    )
