"""EWA projection of 3D Gaussians to screen space, and the compositing rules every renderer shares.

Plain, differentiable PyTorch: every backend except gsplat projects with ``project`` and gets the
gradients of this step from autograd. Its own reference is gsplat's PyTorch projection
(``gsplat.cuda._torch_impl._fully_fused_projection``), which the tests compare it against.

The rules are those of 3DGS as gsplat 1.5 writes them ("classic" mode):
- the Jacobian of the perspective projection is taken at x/z, y/z clamped to the image plus 30%
  of the half field of view on each side (1.3 * tan(fov / 2) for a centred principal point);
- 0.3 px^2 is added to the diagonal of the 2D covariance, without opacity compensation;
- a Gaussian is drawn only if its depth lies in [near, far], its 2D covariance is positive
  definite, its opacity is at least ALPHA_MIN, and its screen box overlaps the image.
The screen box is where a pixel can receive alpha >= ALPHA_MIN: the bounding box of the ellipse
opacity * exp(-sigma) = ALPHA_MIN, i.e. sqrt(2 ln(opacity / ALPHA_MIN)) standard deviations per
axis (at most 3.33, at opacity 1), rounded up to whole pixels; gsplat 1.5's CUDA kernel bounds
Gaussians the same way. Because this box is exact, tiling drops nothing, and the brute-force
reference (every Gaussian at every pixel) is the ground truth. 3DGS's 3-sigma circle would instead
cut off visible tails of Gaussians with opacity above 0.35 (and make results depend on tiles).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud, quat_to_rotmat
from continuum.splats.sh import num_coeffs, sh_to_rgb

EPS2D = 0.3  # px^2 added to the 2D covariance diagonal (screen-space dilation)
ALPHA_MIN = 1.0 / 255.0  # a Gaussian adds nothing to a pixel where its alpha is lower
ALPHA_MAX = 0.99  # alpha is clamped here, as 3DGS does (gsplat clamps at 0.999)
T_MIN = 1e-4  # a pixel stops before the Gaussian that would take its transmittance below this
TILE = 16  # tile side in pixels for the tiled renderers
_MAX_RADIUS = float(2**30)


@dataclass
class Projected:
    """Gaussians in screen space, one row per input Gaussian (culled ones have radii 0).

    Attributes:
        means2d: centres in pixels  # [N, 2]
        conics: inverse 2D covariance (a, b, c) = (xx, xy, yy), so that the exponent is
            sigma = 0.5 (a dx^2 + c dy^2) + b dx dy  # [N, 3]
        depths: camera-space z  # [N]
        radii: half-size of the screen box in whole pixels (x, y); 0 where culled  # [N, 2]
        opacities: sigmoid of the logits  # [N]
        colours: SH colour for this view, clamped at 0  # [N, 3]
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    opacities: torch.Tensor
    colours: torch.Tensor

    def visible(self) -> torch.Tensor:
        """Which Gaussians are drawn  # [N] bool"""
        return self.radii[:, 0] > 0


def project(cloud: SplatCloud, camera: Camera, *, sh_degree: int) -> Projected:
    """Project every Gaussian of ``cloud`` for ``camera``; differentiable in all cloud tensors.

    Args:
        cloud: N Gaussians
        camera: the view
        sh_degree: SH bands to use, at most ``cloud.sh_degree``
    """
    dtype, device = cloud.dtype, cloud.device
    w2c = camera.world_to_camera.to(device, dtype)
    rot, trans = w2c[:3, :3], w2c[:3, 3]
    means_c = cloud.means @ rot.T + trans  # [N, 3]
    x, y, z = means_c.unbind(-1)
    in_range = (z >= camera.near) & (z <= camera.far)
    # Culled Gaussians still flow through the arithmetic; a harmless depth keeps their 1/z (and
    # so their zero gradients) finite instead of NaN.
    z = torch.where(in_range, z, torch.ones_like(z))

    # Camera-space covariance as A A^T with A = W R S, so it stays symmetric and PSD.
    factor = rot @ (quat_to_rotmat(cloud.quats) * cloud.scales()[:, None, :])  # [N, 3, 3]

    tan_x = 0.5 * camera.width / camera.fx
    tan_y = 0.5 * camera.height / camera.fy
    lim_x_neg = camera.cx / camera.fx + 0.3 * tan_x
    lim_x_pos = (camera.width - camera.cx) / camera.fx + 0.3 * tan_x
    lim_y_neg = camera.cy / camera.fy + 0.3 * tan_y
    lim_y_pos = (camera.height - camera.cy) / camera.fy + 0.3 * tan_y
    tx = z * torch.clamp(x / z, -lim_x_neg, lim_x_pos)
    ty = z * torch.clamp(y / z, -lim_y_neg, lim_y_pos)
    zero = torch.zeros_like(z)
    jac = torch.stack(
        [camera.fx / z, zero, -camera.fx * tx / z**2, zero, camera.fy / z, -camera.fy * ty / z**2],
        dim=-1,
    ).reshape(-1, 2, 3)
    jf = jac @ factor  # [N, 2, 3]
    cov2d = jf @ jf.transpose(1, 2)  # [N, 2, 2]
    cxx = cov2d[:, 0, 0] + EPS2D
    cyy = cov2d[:, 1, 1] + EPS2D
    cxy = cov2d[:, 0, 1]
    det = cxx * cyy - cxy * cxy
    positive = det > 0
    det = torch.where(positive, det, torch.ones_like(det))
    conics = torch.stack([cyy / det, -cxy / det, cxx / det], dim=-1)  # [N, 3]
    means2d = torch.stack([camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy], dim=-1)

    opacities = torch.sigmoid(cloud.opacity_logits)  # [N]
    with torch.no_grad():
        strong = opacities >= ALPHA_MIN
        extend = torch.sqrt(2.0 * torch.log(opacities.clamp_min(ALPHA_MIN) / ALPHA_MIN))
        radii = torch.ceil(extend[:, None] * torch.stack([cxx, cyy], dim=-1).sqrt())  # [N, 2]
        # Fits int32; a box this large covers any image anyway.
        radii = radii.clamp_max(_MAX_RADIUS)
        on_screen = (
            (means2d[:, 0] + radii[:, 0] > 0)
            & (means2d[:, 0] - radii[:, 0] < camera.width)
            & (means2d[:, 1] + radii[:, 1] > 0)
            & (means2d[:, 1] - radii[:, 1] < camera.height)
        )
        keep = in_range & positive & strong & on_screen & (radii > 0).all(dim=-1)
        radii = torch.where(keep[:, None], radii, torch.zeros_like(radii)).to(torch.int32)

    centre = camera.centre.to(device, dtype)
    dirs = torch.nn.functional.normalize(cloud.means - centre, dim=-1)  # [N, 3]
    colours = sh_to_rgb(cloud.sh[:, : num_coeffs(sh_degree)], dirs).clamp_min(0.0)
    return Projected(means2d, conics, means_c[:, 2], radii, opacities, colours)
