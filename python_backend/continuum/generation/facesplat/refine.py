"""Photometric refinement of the surface Gaussians against the photo, with the face priors.

Free parameters: each Gaussian's colour (SH degree 0), its offset along its surface normal, and
its log-scales; positions off the normal, orientations and opacities stay as initialised (a
closed, opaque surface is what keeps the turned views solid). The loss, minimised with Adam:

    (1 - w_ssim) L1 + w_ssim (1 - SSIM)                 photometric, in the mask only
    + symmetry_weight  mean_i u_i (|c_i - c_m(i)|^2 + |d_i - d_m(i)|^2 / 0.005^2)
    + smooth_weight    mean_(i,j) ((1 - s_i) |c_i - [c_j]|^2 + |d_i - [d_j]|^2 / 0.005^2)
    + surface_weight   mean_i d_i^2 / 0.005^2

with c colours (RGB 0..1), d normal offsets (metres), s_i how well the photo sees Gaussian i
(``visibility.seen_weights``), m(i) its mirror partner, u_i = max(0, s_m(i) - s_i) (a Gaussian
seen worse than its partner is pulled towards it; the better seen one is not pulled back: the
partner's side of each term is held fixed), and (i, j) each Gaussian's nearest neighbours on
the surface. Colour smoothness is weighted by 1 - s_i and holds the neighbour's side fixed
([c_j]), so that it fills in the unseen without blurring what the photo shows: each Gaussian
is pulled towards its neighbours only by its own term, so a fully seen one is not pulled at all
(with Adam even a small pull moves a colour that nothing else holds at the full learning
rate). The offsets' smoothness holds the neighbour's side fixed too: its gradient is then a
gather, not a scatter-add over the neighbour lists, whose float sums would depend on how the
threads split them, and the same photo would give a different face from run to run. Only pixels
of the mask count in the photometric terms: the render is replaced by the photo outside it
before the SSIM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.fit import ssim
from continuum.splats.render import render_splats
from continuum.splats.sh import C0, rgb_to_sh0

_OFFSET_UNIT = 0.005  # metres: the offsets' scale in the prior terms


@dataclass
class RefineWeights:
    """Weights and learning rates of ``refine``; see the module docstring for the terms.

    Attributes:
        ssim_weight: share of (1 - SSIM) in the photometric loss
        symmetry_weight, smooth_weight, surface_weight: the prior terms (0 switches one off)
        colour_lr: Adam rate of the colours (RGB units)
        offset_lr: Adam rate of the normal offsets (metres)
        scale_lr: Adam rate of the log-scales
    """

    ssim_weight: float = 0.2
    symmetry_weight: float = 1.0
    smooth_weight: float = 0.2
    surface_weight: float = 0.01
    colour_lr: float = 0.01
    offset_lr: float = 1e-4
    scale_lr: float = 5e-3


@dataclass
class RefineResult:
    """What ``refine`` returns.

    Attributes:
        cloud: the refined Gaussians, detached
        losses: the total loss of every step  # [steps]
    """

    cloud: SplatCloud
    losses: list[float] = field(default_factory=list)


def refine(
    cloud: SplatCloud,
    normals: np.ndarray,
    target: torch.Tensor,
    mask: torch.Tensor,
    camera: Camera,
    *,
    seen: np.ndarray,
    partner: np.ndarray,
    neighbours: np.ndarray,
    steps: int,
    weights: RefineWeights | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RefineResult:
    """Refine colours, normal offsets and scales so the cloud renders like the photo.

    Args:
        cloud: the initial Gaussians on the surface (SH degree 0)
        normals: their unit surface normals  # [N, 3]
        target: the photo at the camera's size, RGB in 0..1  # [H, W, 3]
        mask: the pixels that count  # [H, W] bool
        camera: the photo's (working) camera
        seen: how well the photo sees each Gaussian, 0..1  # [N]
        partner: each Gaussian's mirror partner  # [N] int
        neighbours: each Gaussian's nearest neighbours on the surface  # [N, K] int
        steps: optimisation steps (0: return the cloud as it is)
        weights: the loss weights and rates (None: the defaults)
        progress: called with (step, steps) after every step

    Returns:
        the refined cloud and the loss history
    """
    weights = RefineWeights() if weights is None else weights
    if steps < 0:
        raise ValueError(f"steps must be at least 0, got {steps}")
    if cloud.sh_degree != 0:
        raise ValueError(f"cloud must have SH degree 0, got {cloud.sh_degree}")
    base = cloud.detach()
    normal = torch.from_numpy(np.asarray(normals, np.float32))  # [N, 3]
    seen_t = torch.from_numpy(np.asarray(seen, np.float32))  # [N]
    partner_t = torch.from_numpy(np.asarray(partner, np.int64))  # [N]
    pull = (seen_t[partner_t] - seen_t).clamp_min(0.0)  # [N]
    hidden = 1.0 - seen_t  # [N]
    neighbour_t = torch.from_numpy(np.asarray(neighbours, np.int64))  # [N, K]

    colour = (base.sh[:, 0] * C0 + 0.5).clone().requires_grad_(True)  # [N, 3]
    offset = torch.zeros(len(base), requires_grad=True)  # [N]
    log_scales = base.log_scales.clone().requires_grad_(True)  # [N, 3]
    optimizer = torch.optim.Adam(
        [
            {"params": [colour], "lr": weights.colour_lr},
            {"params": [offset], "lr": weights.offset_lr},
            {"params": [log_scales], "lr": weights.scale_lr},
        ],
        eps=1e-15,
    )
    result = RefineResult(cloud=base)
    mask3 = mask[:, :, None]
    for step in range(1, steps + 1):
        current = _assemble(base, colour, offset, log_scales, normal)
        rendered = render_splats(current, camera, backend="cpu").rgb
        shown = torch.where(mask3, rendered, target)
        l1 = (rendered - target).abs()[mask].mean()
        loss = (1 - weights.ssim_weight) * l1 + weights.ssim_weight * (1 - ssim(shown, target))
        d = offset / _OFFSET_UNIT
        if weights.symmetry_weight:
            mirror_colour = colour[partner_t].detach()
            mirror_d = d[partner_t].detach()
            term = ((colour - mirror_colour) ** 2).sum(1) + (d - mirror_d) ** 2
            loss = loss + weights.symmetry_weight * (pull * term).mean()
        if weights.smooth_weight:
            colour_gap = ((colour[:, None] - colour[neighbour_t].detach()) ** 2).sum(-1).mean(1)
            offset_gap = ((d[:, None] - d[neighbour_t].detach()) ** 2).mean(1)
            loss = loss + weights.smooth_weight * (hidden * colour_gap + offset_gap).mean()
        if weights.surface_weight:
            loss = loss + weights.surface_weight * (d**2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            colour.clamp_(0.0, 1.0)
        result.losses.append(loss.item())
        if progress is not None:
            progress(step, steps)
    with torch.no_grad():
        result.cloud = _assemble(base, colour, offset, log_scales, normal).detach()
    return result


def _assemble(
    base: SplatCloud,
    colour: torch.Tensor,
    offset: torch.Tensor,
    log_scales: torch.Tensor,
    normal: torch.Tensor,
) -> SplatCloud:
    """The cloud with the free parameters put in  # colour [N, 3], offset [N]"""
    return SplatCloud(
        means=base.means + offset[:, None] * normal,
        quats=base.quats,
        log_scales=log_scales,
        opacity_logits=base.opacity_logits,
        sh=rgb_to_sh0(colour)[:, None, :],
    )
