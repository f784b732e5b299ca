"""The gsplat backend: one call to gsplat.rasterization, in float32 on CUDA.

Camera and parameters map one to one: gsplat takes the same OpenCV world-to-camera matrix, the
intrinsics K, (w, x, y, z) quaternions it normalises itself, scales (not logs), opacities (not
logits), and band-major SH with ``sh_degree``; it adds 0.5 and clamps at 0 as Continuum does.
"classic" mode is the 0.3 px^2 dilation without compensation, and "RGB+D" appends the
accumulated depth sum z * weight as a fourth channel (its background is 0).
"""

from __future__ import annotations

import torch

from continuum.splats._project import EPS2D
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.sh import num_coeffs


def render(
    cloud: SplatCloud, camera: Camera, *, sh_degree: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """rgb  # [H, W, 3], alpha  # [H, W], depth  # [H, W], on CUDA in float32"""
    from gsplat import rasterization  # optional dependency: imported only when chosen

    device = cloud.device if cloud.device.type == "cuda" else torch.device("cuda")
    work = cloud.to(device=device, dtype=torch.float32)
    colours, alphas, _ = rasterization(
        means=work.means,
        quats=work.quats,
        scales=work.scales(),
        opacities=work.opacities(),
        colors=work.sh[:, : num_coeffs(sh_degree)],
        viewmats=camera.world_to_camera.to(device, torch.float32)[None],  # [1, 4, 4]
        Ks=camera.intrinsics().to(device, torch.float32)[None],  # [1, 3, 3]
        width=camera.width,
        height=camera.height,
        near_plane=camera.near,
        far_plane=camera.far,
        eps2d=EPS2D,
        sh_degree=sh_degree,
        backgrounds=torch.tensor([camera.background], device=device, dtype=torch.float32),
        render_mode="RGB+D",
        rasterize_mode="classic",
    )
    return colours[0, ..., :3], alphas[0, ..., 0], colours[0, ..., 3]
