"""Continuum's CPU renderer: torch projection, then numba tile rasterisation with its own backward.

Projection (EWA, SH colour) is O(N) and runs in vectorised PyTorch (_project.py), so autograd
carries its gradients back to means, quaternions, log-scales, opacity logits and SH. Measured on
the benchmark scene (100k Gaussians, 512x512, 2 cores) it costs about 25 ms of the 130 ms forward
and 75 ms of the 300 ms forward+backward; numba versions would save most of that, at the price of
hand-written quaternion and SH gradients. The O(pixels x depth complexity) part, binning and
compositing, runs in the numba kernels of _cpu_kernels.py, wrapped in one autograd Function whose
backward is the 3DGS reverse traversal. Its reference is _reference.py; the tests compare images
and gradients against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import torch

from continuum.splats import _cpu_kernels as kernels
from continuum.splats._project import Projected
from continuum.splats.camera import Camera

# Gaussians pile up where the scene is, so tiles differ in cost; handing them out a few at a
# time keeps both threads busy where a static split would leave one idle.
_TILES_PER_CHUNK = 4


def rasterize(proj: Projected, camera: Camera) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite projected Gaussians; differentiable in every float field of ``proj``.

    Returns:
        rgb  # [H, W, 3], alpha  # [H, W], depth (sum of z * weight)  # [H, W]
    """
    background = torch.tensor(camera.background, dtype=torch.float64)
    return _Rasterize.apply(
        proj.means2d,
        proj.conics,
        proj.opacities,
        proj.colours,
        proj.depths,
        proj.radii,
        background,
        camera.width,
        camera.height,
    )


class _Rasterize(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        means2d: torch.Tensor,  # [N, 2]
        conics: torch.Tensor,  # [N, 3]
        opacities: torch.Tensor,  # [N]
        colours: torch.Tensor,  # [N, 3]
        depths: torch.Tensor,  # [N]
        radii: torch.Tensor,  # [N, 2]
        background: torch.Tensor,  # [3]
        width: int,
        height: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        dtype = means2d.dtype
        # 1. One table of every Gaussian's features, in float64 whatever the cloud's dtype: one
        #    compiled version of each kernel, and accumulation that float32 clouds profit from.
        columns = [means2d, conics, opacities[:, None], colours, depths[:, None], radii.to(dtype)]
        features = torch.cat(columns, dim=1).detach().to(torch.float64)  # [N, NUM_FEATURES]
        # 2. Drawn Gaussians front to back; the stable sort keeps ties in index order, as the
        #    reference does. Then the tile lists.
        drawn = torch.nonzero(radii[:, 0] > 0).squeeze(1)
        order = drawn[torch.sort(features[drawn, kernels.F_DEPTH], stable=True).indices]
        features = features.numpy()
        offsets, ids = kernels.bin_tiles(features, order.numpy(), width, height)
        # 3. Composite.
        background = background.to(torch.float64).numpy()
        with _tile_chunks():
            rgb, depth, trans, last = kernels.rasterize_forward(
                offsets, ids, features, width, height, background
            )
        ctx.kernel_state = (offsets, ids, features, trans, last, background)
        ctx.sizes = (width, height, dtype)
        return tuple(torch.from_numpy(x).to(dtype) for x in (rgb, 1.0 - trans, depth))

    @staticmethod
    def backward(ctx, *grads_out: torch.Tensor):
        offsets, ids, features, trans, last, background = ctx.kernel_state
        width, height, dtype = ctx.sizes
        outputs = (g.detach().to(torch.float64).contiguous().numpy() for g in grads_out)
        with _tile_chunks():
            per_isect = kernels.rasterize_backward(
                offsets, ids, features, width, height, background, trans, last, *outputs
            )
        sums = kernels.sum_by_gaussian(ids, per_isect, features.shape[0])
        grads = torch.from_numpy(sums).to(dtype)
        return (
            grads[:, kernels.G_MX : kernels.G_MY + 1],
            grads[:, kernels.G_A : kernels.G_C + 1],
            grads[:, kernels.G_OPACITY],
            grads[:, kernels.G_RED : kernels.G_RED + 3],
            grads[:, kernels.G_DEPTH],
            None,
            None,
            None,
            None,
        )


@contextmanager
def _tile_chunks() -> Iterator[None]:
    """Within this block, numba parallel loops hand out iterations _TILES_PER_CHUNK at a time."""
    previous = numba.set_parallel_chunksize(_TILES_PER_CHUNK)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(previous)
