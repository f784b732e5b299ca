"""``continuum bench edit``: how well 2D masks lift to Gaussians, and what edits cost.

The scene (``part_scene``): three parts of ``per_part`` Gaussians each, with ground-truth part
labels: a round blob (red), a flat disc (green) and a long bar (blue), 1.2 m apart, each
Gaussian small (3 cm) and fairly opaque, so that the parts hide one another from some views.
Eight cameras circle the scene at two heights, ``side`` pixels square.

- ``select_miou_1view``, ``select_miou_3view``, ``select_miou_8view``: for each part, the mask a
  user would paint in each view (the part's pixels where it is in front: its own alpha above 0.5
  and its depth within 2% of the whole scene's) is lifted with the first 1, 3 or all 8 views
  (``selection.lift_masks``, defaults); the IoU of the lifted labels against the part's true
  labels, averaged over the parts. Target: at least 0.9 with 8 views.
- ``outside_psnr_db_recolor``: the Gaussians outside a recoloured part rendered alone before and
  after (``editing.outside_psnr_db``, all 8 views): bit-identical, so infinite, reported as
  the string "inf".
- ``outside_psnr_db_optimised``: the same after optimising the part towards red targets
  (``editing.optimize``, ``optimize_steps`` steps, 2 views).
- ``edit_s_100k``: wall seconds of a recolour of half of a 100k-Gaussian cloud (SH degree 3);
  ``transform_s_100k`` and ``delete_s_100k`` likewise for a rotation+translation and a delete.
- ``lift_s_8view``: wall seconds of lifting one part's 8 masks.

Context figures: ``gaussians``, ``side``, ``optimize_steps``.
"""

from __future__ import annotations

import math
import time

import torch

from continuum.splats import Camera, SplatCloud, editing, render_splats, selection
from continuum.splats.sh import rgb_to_sh0


def part_scene(per_part: int = 2000, *, seed: int = 0) -> tuple[SplatCloud, torch.Tensor]:
    """Three parts, each a cloud of ``per_part`` Gaussians of its own shape and colour (a round
    blob, a flat disc, a long bar) 1.2 m apart, and each Gaussian's part  # [N], [N]"""
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[0.25, 0.25, 0.25], [0.35, 0.08, 0.35], [0.08, 0.4, 0.08]])
    centres = torch.tensor([[-1.2, 0.0, 0.0], [0.0, 0.0, 0.6], [1.2, 0.0, 0.0]])
    colours = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.3, 0.9]])
    labels = torch.arange(3).repeat_interleave(per_part)
    means = torch.randn(3 * per_part, 3, generator=g) * shapes[labels] + centres[labels]
    n = len(means)
    return SplatCloud(
        means=means,
        quats=torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1),
        log_scales=torch.full((n, 3), math.log(0.03)),
        opacity_logits=torch.full((n,), 2.0),
        sh=rgb_to_sh0(colours[labels])[:, None, :],  # [N, 1, 3]
    ), labels


def ring_cameras(side: int, count: int = 8) -> list[Camera]:
    """``count`` cameras circling the scene at two heights, looking at its centre."""
    cameras = []
    for i in range(count):
        angle = 2 * math.pi * i / count + 0.3
        height = 1.2 if i % 2 else 2.2
        eye = [4.0 * math.cos(angle), height, 4.0 * math.sin(angle)]
        cameras.append(
            Camera.look_at(eye, [0.0, 0.0, 0.0], width=side, height=side, fov_y_deg=50.0)
        )
    return cameras


def painted_mask(cloud: SplatCloud, part: torch.Tensor, camera: Camera) -> torch.Tensor:
    """What a user would paint of the part in this view: where it shows in front  # [H, W]"""
    whole = render_splats(cloud, camera)
    alone = render_splats(_subset(cloud, part), camera)
    depth_whole = whole.depth / whole.alpha.clamp_min(1e-6)
    depth_part = alone.depth / alone.alpha.clamp_min(1e-6)
    return (alone.alpha > 0.5) & ((depth_part - depth_whole).abs() < 0.02 * depth_whole)


def bench_edit(
    *, per_part: int = 2000, side: int = 96, optimize_steps: int = 30, big: int = 100_000
) -> dict:
    # 1. The scene, the cameras and the masks a user would paint, per part and view.
    cloud, labels = part_scene(per_part)
    cameras = ring_cameras(side)
    masks = {p: [painted_mask(cloud, labels == p, c) for c in cameras] for p in range(3)}

    # 2. Lifting with 1, 3 and 8 views.
    miou = {}
    for views in (1, 3, 8):
        ious = []
        for p in range(3):
            start = time.perf_counter()
            got = selection.lift_masks(cloud, cameras[:views], masks[p][:views])
            if views == 8 and p == 0:
                lift_s = time.perf_counter() - start
            truth = labels == p
            ious.append(float((got & truth).sum()) / max(float((got | truth).sum()), 1.0))
        miou[views] = sum(ious) / len(ious)

    # 3. Outside the selection, after a recolour and after an optimisation.
    part = labels == 0
    recoloured = editing.recolor(cloud, part, [0.1, 0.1, 0.9])
    outside_recolor = editing.outside_psnr_db(cloud, recoloured, part, cameras)
    targets = [render_splats(recoloured, c).rgb.detach() for c in cameras[:2]]
    optimised = editing.optimize(cloud, part, cameras[:2], targets, steps=optimize_steps)
    outside_optimised = editing.outside_psnr_db(cloud, optimised, part, cameras)

    # 4. Edit times on 100k Gaussians (SH degree 3), half of them selected.
    g = torch.Generator().manual_seed(1)
    large = SplatCloud(
        means=torch.randn(big, 3, generator=g),
        quats=torch.randn(big, 4, generator=g),
        log_scales=torch.randn(big, 3, generator=g) - 3,
        opacity_logits=torch.randn(big, generator=g),
        sh=torch.randn(big, 16, 3, generator=g) * 0.3,
    )
    half = torch.rand(big, generator=g) < 0.5
    timings = {}
    for name, run in (
        ("edit_s_100k", lambda: editing.recolor(large, half, [1.0, 0.5, 0.2])),
        (
            "transform_s_100k",
            lambda: editing.transform(
                large, half, translation=[0.1, 0, 0], rotation=[0.9238795, 0, 0.3826834, 0]
            ),
        ),
        ("delete_s_100k", lambda: editing.delete(large, half)),
    ):
        start = time.perf_counter()
        run()
        timings[name] = round(time.perf_counter() - start, 4)

    def db(value: float) -> float | str:
        return "inf" if math.isinf(value) else round(value, 2)

    return {
        "select_miou_1view": round(miou[1], 4),
        "select_miou_3view": round(miou[3], 4),
        "select_miou_8view": round(miou[8], 4),
        "outside_psnr_db_recolor": db(outside_recolor),
        "outside_psnr_db_optimised": db(outside_optimised),
        **timings,
        "lift_s_8view": round(lift_s, 3),
        "gaussians": len(cloud),
        "side": side,
        "optimize_steps": optimize_steps,
    }


def _subset(cloud: SplatCloud, keep: torch.Tensor) -> SplatCloud:
    return SplatCloud(
        means=cloud.means[keep],
        quats=cloud.quats[keep],
        log_scales=cloud.log_scales[keep],
        opacity_logits=cloud.opacity_logits[keep],
        sh=cloud.sh[keep],
    )
