"""Selections of a SplatCloud's Gaussians: by volume, by a ray (the brush), by lifting 2D masks.

Every selection is one value per Gaussian, in the cloud's order: a bool mask ``[N]`` (hard), or a
float score in 0..1 ``[N]`` (soft, from ``lift_masks(..., soft=True)``). ``combine`` merges two of
them as PROTOCOL.md section 16 does (replace, add, subtract, intersect). Everything is in the
cloud's frame; bad arguments raise ValueError naming the argument (the server answers
``bad_request``).

Public names:
- ``select_box``, ``select_sphere``: the Gaussians whose centres lie in a (rotated) box or a ball
- ``select_ray``: the brush: where a ray first meets the splats, the Gaussians near that point;
  ``ray_hit``: that point alone
- ``lift_masks``: per-view 2D masks lifted to the Gaussians by visibility-weighted votes, smoothed
  over each Gaussian's nearest neighbours in 3D
- ``view_votes``: one view's votes per Gaussian, the building block of ``lift_masks``
- ``combine``: two selections merged

Fast paths and their plain references (the tests compare them): ``view_votes`` (vectorised, tile
by tile) against ``_view_votes_reference`` (every pixel, every Gaussian, in Python scalars), and
``_ray_closest`` (all Gaussians at once, whitened) against ``_ray_closest_reference`` (one
Gaussian at a time, with the explicit inverse covariance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from scipy.spatial import cKDTree

from continuum.splats import _torch_tiles
from continuum.splats._project import ALPHA_MAX, ALPHA_MIN, T_MIN, TILE, Projected, project
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud, quat_to_rotmat

Vector = Sequence[float] | torch.Tensor | np.ndarray
Mask = torch.Tensor | np.ndarray
How = Literal["replace", "add", "subtract", "intersect"]
HOWS: tuple[str, ...] = ("replace", "add", "subtract", "intersect")

RAY_HIT_ALPHA = 0.5  # a Gaussian stops the brush where its alpha at the ray reaches this
# A Gaussian whose visibility weights add up to about this many pixels counts as fully seen when
# the scores are smoothed (confidence 1 - exp(-weight / this)).
SEEN_PIXELS = 1.0
MAX_NEIGHBOURS = 64  # k of lift_masks: the neighbour table is N x (k + 1)
_CHUNK = 64  # tile-list slots composited per step of view_votes
_BATCH_PAIRS = 1 << 18  # pixel-slot pairs per step: 1 MB per float32 temporary, cache-sized


# -- volumes ---------------------------------------------------------------------------------


def select_box(
    cloud: SplatCloud,
    center: Vector,
    half_size: Vector,
    rotation: Vector | None = None,
) -> torch.Tensor:
    """The Gaussians whose centres lie in a box (faces included).

    Args:
        cloud: N Gaussians
        center: the box's centre  # [3]
        half_size: half its extent along each of its axes, each > 0  # [3]
        rotation: its orientation as a quaternion (w, x, y, z), as SplatCloud stores them (not
            necessarily normalised): the box's axes are the columns of its rotation matrix;
            None for axis-aligned  # [4]
    Returns:
        selected  # [N] bool
    """
    c = _vector("center", center, 3)
    h = _vector("half_size", half_size, 3)
    if not bool((h > 0).all()):
        raise ValueError(f"half_size must be positive along each axis, got {h.tolist()}")
    if rotation is None:
        r = torch.eye(3, dtype=torch.float64)
    else:
        q = _vector("rotation", rotation, 4)
        if float(q.norm()) < 1e-12:
            raise ValueError(
                f"rotation must be a non-zero quaternion (w, x, y, z), got {q.tolist()}"
            )
        r = quat_to_rotmat(q[None])[0]
    # Offsets in the box's axes: (p - c) R, i.e. R^T (p - c) per row.
    local = (_means64(cloud) - c.to(cloud.device)) @ r.to(cloud.device)  # [N, 3]
    return (local.abs() <= h.to(cloud.device)).all(dim=-1)


def select_sphere(cloud: SplatCloud, center: Vector, radius: float) -> torch.Tensor:
    """The Gaussians whose centres lie in a ball (its surface included).

    Args:
        cloud: N Gaussians
        center: # [3]
        radius: > 0, metres
    Returns:
        selected  # [N] bool
    """
    c = _vector("center", center, 3)
    radius = _positive("radius", radius)
    offset = _means64(cloud) - c.to(cloud.device)  # [N, 3]
    return (offset * offset).sum(dim=-1) <= radius * radius


# -- the ray brush ---------------------------------------------------------------------------


def select_ray(
    cloud: SplatCloud,
    origin: Vector,
    direction: Vector,
    radius: float,
    max_distance: float | None = None,
) -> torch.Tensor:
    """The brush: the Gaussians within ``radius`` of the point where the ray first meets the
    splats; an empty selection when it meets none.

    Along the ray x(t) = origin + t d (d the unit direction, t in metres, 0 <= t <=
    max_distance), a Gaussian's alpha is greatest where the ray passes closest to it in its own
    metric (the smallest Mahalanobis distance, at t*): alpha = sigmoid(opacity_logit) *
    exp(-0.5 * Mahalanobis^2), the 3D density the renderer projects. The ray meets the splats
    at the smallest t* of the Gaussians whose alpha there reaches RAY_HIT_ALPHA (0.5); fainter
    Gaussians in front (haze) do not stop it. The hit point is the ray's point at that t*.

    Args:
        cloud: N Gaussians
        origin: where the ray starts  # [3]
        direction: its direction, any non-zero length  # [3]
        radius: > 0, metres: the brush's reach around the hit point
        max_distance: > 0, metres along the ray; None for no limit
    Returns:
        selected  # [N] bool
    """
    radius = _positive("radius", radius)
    limit = math.inf if max_distance is None else _positive("max_distance", max_distance)
    hit = ray_hit(cloud, origin, direction, max_distance=limit)
    if hit is None:
        return torch.zeros(len(cloud), dtype=torch.bool, device=cloud.device)
    return select_sphere(cloud, hit, radius)


def ray_hit(
    cloud: SplatCloud, origin: Vector, direction: Vector, *, max_distance: float = math.inf
) -> torch.Tensor | None:
    """Where the ray first meets the splats (see ``select_ray``), or None  # [3] float64"""
    o = _vector("origin", origin, 3)
    d = _vector("direction", direction, 3)
    if float(d.norm()) < 1e-12:
        raise ValueError(f"direction must be a non-zero vector, got {d.tolist()}")
    if isinstance(max_distance, bool) or not isinstance(max_distance, int | float):
        raise ValueError(f"max_distance must be a positive number, got {max_distance!r}")
    if not max_distance > 0:
        raise ValueError(f"max_distance must be positive, got {max_distance}")
    d = d / d.norm()
    if len(cloud) == 0:
        return None
    t, alpha = _ray_closest(cloud, o, d, max_distance)
    hits = alpha >= RAY_HIT_ALPHA
    if not bool(hits.any()):
        return None
    t_hit = t[hits].min().cpu()
    return o + t_hit * d


def _ray_closest(
    cloud: SplatCloud, origin: torch.Tensor, direction: torch.Tensor, max_distance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each Gaussian's point of closest approach on the segment t in [0, max_distance] of a ray
    (unit ``direction``), and its alpha there, in float64 on the cloud's device.

    In the Gaussian's whitened frame (rotated into its axes, divided by its scales) the ray is
    u + t v and the Mahalanobis distance is |u + t v|, smallest at t* = -u.v / v.v; the convex
    quadratic makes the clamped t* the segment's closest point.

    Returns:
        t  # [N], alpha  # [N]
    """
    device = cloud.device
    rot = quat_to_rotmat(cloud.quats.detach().to(torch.float64))  # [N, 3, 3]
    inv_scale = torch.exp(-cloud.log_scales.detach().to(torch.float64))  # [N, 3]
    o, d = origin.to(device), direction.to(device)
    u = torch.einsum("nji,nj->ni", rot, o - _means64(cloud)) * inv_scale  # R^T (o - mu) / s
    v = (d @ rot) * inv_scale  # R^T d / s  [N, 3]
    t = (-(u * v).sum(-1) / (v * v).sum(-1)).clamp(0.0, max_distance)  # [N]
    closest = u + t[:, None] * v
    opacity = torch.sigmoid(cloud.opacity_logits.detach().to(torch.float64))
    return t, opacity * torch.exp(-0.5 * (closest * closest).sum(-1))


def _ray_closest_reference(
    cloud: SplatCloud, origin: torch.Tensor, direction: torch.Tensor, max_distance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``_ray_closest`` one Gaussian at a time, from the explicit inverse covariance
    (R S^2 R^T)^-1: t* = d^T P (mu - o) / (d^T P d), clamped to the segment  # [N], [N]"""
    ts, alphas = [], []
    o, d = origin.to(torch.float64).cpu(), direction.to(torch.float64).cpu()
    work = cloud.detach().to("cpu", torch.float64)
    for g in range(len(work)):
        r = quat_to_rotmat(work.quats[g : g + 1])[0]
        cov = r @ torch.diag(torch.exp(2.0 * work.log_scales[g])) @ r.T
        precision = torch.linalg.inv(cov)
        offset = work.means[g] - o
        t = float(d @ precision @ offset) / float(d @ precision @ d)
        t = min(max(t, 0.0), max_distance)
        e = o + t * d - work.means[g]
        m2 = float(e @ precision @ e)
        ts.append(t)
        alphas.append(1.0 / (1.0 + math.exp(-float(work.opacity_logits[g]))) * math.exp(-0.5 * m2))
    return torch.tensor(ts, dtype=torch.float64), torch.tensor(alphas, dtype=torch.float64)


# -- lifting 2D masks ------------------------------------------------------------------------


def lift_masks(
    cloud: SplatCloud,
    cameras: Sequence[Camera],
    masks: Sequence[Mask],
    *,
    k: int = 8,
    threshold: float = 0.5,
    soft: bool = False,
) -> torch.Tensor:
    """Lift per-view 2D masks to the Gaussians: visibility-weighted votes, smoothed in 3D.

    1. Votes: in each view, Gaussian g's weight at pixel p is w = alpha * T, its alpha times the
       transmittance in front of it, exactly as the renderer composites it (``view_votes``).
       Summed over views: in_g = sum w * mask_p and all_g = sum w; the raw score is in_g / all_g.
    2. Hidden Gaussians (all_g = 0: no view sees them, e.g. inside an opaque part) have no
       votes of their own: they take the raw score of the nearest Gaussian (by centre) that some
       view sees.
    3. Smoothing: each score becomes the average over the Gaussian and its ``k`` nearest
       neighbours (scipy cKDTree on the means; Gaussians at the same place may stand in for it),
       each weighted by its confidence 1 - exp(-all_j / SEEN_PIXELS): a Gaussian seen with about
       a pixel's worth of weight counts fully, a barely seen one hardly, a hidden one not at all.
       A Gaussian whose neighbourhood is all hidden keeps its score from step 2.
    4. Selected where the score is at least ``threshold``.

    Computed in float32 on the cloud's device (the neighbour search on the CPU).

    Args:
        cloud: N Gaussians
        cameras: the views, at least one
        masks: one per camera, its image size: bool or integer (nonzero = selected), or float
            in 0..1 (a soft mask: the weight of the vote)  # [H, W] each
        k: neighbours averaged with each Gaussian, 0..MAX_NEIGHBOURS (0: no smoothing)
        threshold: score at which a Gaussian is selected, in (0, 1]
        soft: return the scores instead of the selection
    Returns:
        the scores in 0..1  # [N] float32 when ``soft``, else selected  # [N] bool
    Raises:
        ValueError: no views, a count mismatch, a mask of the wrong size for its camera, or a
            view in which no Gaussian is visible ("view 2 sees none of the Gaussians", counting
            views from 0)
    """
    # 1. Arguments.
    cameras, masks = list(cameras), list(masks)
    if not cameras:
        raise ValueError("cameras must hold at least one view")
    if len(masks) != len(cameras):
        raise ValueError(
            f"masks must hold one mask per camera: {len(cameras)} cameras but {len(masks)} masks"
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_NEIGHBOURS:
        raise ValueError(f"k must be an int in 0..{MAX_NEIGHBOURS} (neighbours), got {k!r}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0.0 < threshold <= 1.0
    ):
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    for i, camera in enumerate(cameras):
        if not isinstance(camera, Camera):
            raise ValueError(f"cameras[{i}] must be a Camera, got {type(camera).__name__}")
    work = cloud.detach().to(dtype=torch.float32)
    values = [
        _mask_values(m, c, i, work) for i, (m, c) in enumerate(zip(masks, cameras, strict=True))
    ]

    # 2. Votes, view by view.
    votes_in = torch.zeros(len(work), dtype=torch.float32, device=work.device)
    votes_all = torch.zeros_like(votes_in)
    for i, (camera, mask) in enumerate(zip(cameras, values, strict=True)):
        v_in, v_all = _view_votes(project(work, camera, sh_degree=0), camera, mask)
        if not bool((v_all > 0).any()):
            raise ValueError(
                f"view {i} sees none of the Gaussians: aim its camera at them (check "
                "world_to_camera maps the cloud's frame to OpenCV camera axes, +z forward)"
            )
        votes_in += v_in
        votes_all += v_all

    # 3. Raw scores, hidden Gaussians filled in, neighbours.
    seen = votes_all > 0
    raw = torch.where(seen, votes_in / votes_all.clamp_min(1e-30), 0.0).clamp(0.0, 1.0)
    means = work.means.cpu().numpy().astype(np.float64)
    if not bool(seen.all()):
        seen_ids = torch.nonzero(seen).squeeze(1).cpu()
        _, nearest = cKDTree(means[seen_ids.numpy()]).query(means[~seen.cpu().numpy()], k=1)
        filled = raw.clone()
        filled[~seen] = raw[seen_ids[torch.from_numpy(nearest)].to(raw.device)]
        raw = filled
    scores = raw
    if k > 0 and len(work) > 1:
        _, near = cKDTree(means).query(means, k=min(k + 1, len(work)))
        near = torch.from_numpy(near).to(raw.device)  # [N, k + 1]
        confidence = 1.0 - torch.exp(-votes_all / SEEN_PIXELS)
        weight = confidence[near]
        total = weight.sum(dim=1)
        smoothed = (weight * raw[near]).sum(dim=1) / total.clamp_min(1e-30)
        scores = torch.where(total > 0, smoothed, raw).clamp(0.0, 1.0)

    # 4. The selection.
    scores = scores.to(cloud.device)
    return scores if soft else scores >= threshold


def view_votes(cloud: SplatCloud, camera: Camera, mask: Mask) -> tuple[torch.Tensor, torch.Tensor]:
    """One view's visibility-weighted votes per Gaussian, in the cloud's dtype and device.

    Gaussian g's weight at pixel p is w_gp = alpha_gp * T_gp, its alpha times the transmittance
    in front of it, as the renderers composite (render.py; the same culling, alpha clamp and
    early stop at T < 1e-4). Tile by tile as the torch renderer bins them, each tile's list
    composited front to back a chunk of slots at a time with the transmittance carried over, so
    memory stays bounded and tiles whose pixels have all stopped are dropped early.

    Args:
        cloud: N Gaussians
        camera: the view
        mask: the view's mask, bool or integer (nonzero = 1) or float in 0..1  # [H, W]
    Returns:
        in: sum_p w_gp * mask_p  # [N], all: sum_p w_gp  # [N]
    """
    values = _mask_values(mask, camera, None, cloud)
    return _view_votes(project(cloud.detach(), camera, sh_degree=0), camera, values)


def _view_votes(
    proj: Projected, camera: Camera, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``view_votes`` for projected Gaussians and a float mask  # [H, W] -> [N], [N]"""
    width, height = camera.width, camera.height
    device, dtype = proj.means2d.device, proj.means2d.dtype
    n = proj.means2d.shape[0]
    tiles_x, tiles_y = -(-width // TILE), -(-height // TILE)

    # 1. Tile lists, front to back (the torch renderer's binning).
    offsets, ids = _torch_tiles._bin(proj, width, height, tiles_x)
    counts = offsets[1:] - offsets[:-1]  # [T]

    # 2. Every tile's pixels: where they lie in the image, their mask values (0 outside), and
    #    their centres relative to the tile's corner as the terms of the quadratic
    #    sigma = phi . kappa (phi = lx^2, ly^2, lx ly, lx, ly, 1).
    local = torch.arange(TILE * TILE, device=device)
    lx, ly = (local % TILE).to(dtype) + 0.5, (local // TILE).to(dtype) + 0.5  # [P]
    phi = torch.stack([lx * lx, ly * ly, lx * ly, lx, ly, torch.ones_like(lx)], dim=-1)  # [P, 6]
    tile = torch.arange(tiles_x * tiles_y, device=device)
    x0, y0 = (tile % tiles_x) * TILE, (tile // tiles_x) * TILE  # [T]
    px, py = x0[:, None] + local % TILE, y0[:, None] + local // TILE  # [T, P]
    inside = ((px < width) & (py < height)).to(dtype)
    pixel_mask = mask[py.clamp_max(height - 1), px.clamp_max(width - 1)] * inside
    pixel_votes = torch.stack([pixel_mask, inside], dim=-1)  # [T, P, 2]
    corner = torch.stack([x0, y0], dim=-1).to(dtype)  # [T, 2]

    # 3. Busy tiles in batches; each batch's lists a chunk of slots at a time.
    votes = torch.zeros(n, 2, dtype=dtype, device=device)  # in, all
    busy = torch.nonzero(counts > 0).squeeze(1)
    batch_tiles = max(1, _BATCH_PAIRS // (TILE * TILE * _CHUNK))
    slot = torch.arange(_CHUNK, device=device)
    means2d, conics = proj.means2d.detach(), proj.conics.detach()
    opacities = proj.opacities.detach()
    for live in busy.split(batch_tiles):
        carry = torch.ones(len(live), TILE * TILE, dtype=dtype, device=device)  # [B, P]
        start = 0
        while live.numel():
            valid = start + slot < counts[live, None]  # [B, C]
            gauss = ids[torch.where(valid, offsets[live, None] + start + slot, 0)]  # [B, C]
            mx, my = (means2d[gauss] - corner[live, None]).unbind(-1)  # [B, C] each
            a, b, c = conics[gauss].unbind(-1)
            kappa = torch.stack(
                [
                    0.5 * a,
                    0.5 * c,
                    b,
                    -(a * mx + b * my),
                    -(c * my + b * mx),
                    0.5 * (a * mx * mx + c * my * my) + b * mx * my,
                ],
                dim=1,
            )  # [B, 6, C]
            sigma = phi @ kappa  # [B, P, C]
            alpha = (opacities[gauss][:, None] * torch.exp(-sigma)).clamp_max(ALPHA_MAX)
            alpha = torch.where(valid[:, None] & (sigma >= 0) & (alpha >= ALPHA_MIN), alpha, 0.0)
            # Transmittance after each slot, of every Gaussian so far (stopped ones included):
            # a pixel composites a prefix, the slots while this stays >= T_MIN, and for those the
            # transmittance before is the compositing's.
            trans = carry[:, :, None] * torch.cumprod(1.0 - alpha, dim=-1)  # [B, P, C]
            before = torch.cat([carry[:, :, None], trans[..., :-1]], dim=-1)
            weight = torch.where(trans >= T_MIN, alpha * before, 0.0)
            batch_votes = weight.transpose(1, 2) @ pixel_votes[live]  # [B, C, 2]
            votes.index_add_(0, gauss.reshape(-1), batch_votes.reshape(-1, 2))
            # Go on with the tiles that have more Gaussians and a pixel still compositing.
            carry = trans[..., -1]
            start += _CHUNK
            going = (counts[live] > start) & ((carry >= T_MIN) & (inside[live] > 0)).any(dim=1)
            live, carry = live[going], carry[going]
    votes_in, votes_all = votes.unbind(-1)
    return votes_in, votes_all


def _view_votes_reference(
    cloud: SplatCloud, camera: Camera, mask: Mask
) -> tuple[torch.Tensor, torch.Tensor]:
    """``view_votes`` plainly: every pixel, every drawn Gaussian front to back, Python floats
    (float64); for tiny scenes  # [N], [N] float64"""
    proj = project(cloud.detach().to("cpu", torch.float64), camera, sh_degree=0)
    values = _mask_values(mask, camera, None, cloud).to("cpu", torch.float64).tolist()
    n = proj.means2d.shape[0]
    drawn = [g for g in range(n) if int(proj.radii[g, 0]) > 0]
    depths = proj.depths.tolist()
    order = sorted(drawn, key=lambda g: depths[g])  # stable: ties in index order, as render
    means2d, conics = proj.means2d.tolist(), proj.conics.tolist()
    opacities = proj.opacities.tolist()
    votes_in, votes_all = [0.0] * n, [0.0] * n
    for row in range(camera.height):
        for col in range(camera.width):
            t = 1.0
            for g in order:
                dx = means2d[g][0] - (col + 0.5)
                dy = means2d[g][1] - (row + 0.5)
                a, b, c = conics[g]
                sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                if sigma < 0.0:
                    continue
                alpha = min(ALPHA_MAX, opacities[g] * math.exp(-sigma))
                if alpha < ALPHA_MIN:
                    continue
                if t * (1.0 - alpha) < T_MIN:
                    break
                votes_in[g] += alpha * t * values[row][col]
                votes_all[g] += alpha * t
                t *= 1.0 - alpha
    f64 = torch.float64
    return torch.tensor(votes_in, dtype=f64), torch.tensor(votes_all, dtype=f64)


# -- combining selections --------------------------------------------------------------------


def combine(a: torch.Tensor, b: torch.Tensor, how: How) -> torch.Tensor:
    """Merge an earlier selection ``a`` with a new one ``b`` of the same cloud.

    Hard selections (both bool) combine as sets: replace = b, add = a | b, subtract = a & ~b,
    intersect = a & b. If either is soft (float scores in 0..1; a bool one counts as 0 or 1),
    as fuzzy sets: replace = b, add = max(a, b), subtract = min(a, 1 - b), intersect = min(a, b).

    Args:
        a: the earlier selection  # [N] bool or float
        b: the new one  # [N] bool or float
        how: "replace", "add", "subtract" or "intersect"
    Returns:
        # [N] bool when both are bool, else float
    """
    if how not in HOWS:
        raise ValueError(f"how must be one of {HOWS}, got {how!r}")
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, torch.Tensor) or x.ndim != 1:
            raise ValueError(f"{name} must be a 1-D tensor [N] of a selection, got {_shape(x)}")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must select from the same cloud: a has {a.shape[0]} Gaussians, b {b.shape[0]}"
        )
    if a.dtype == torch.bool and b.dtype == torch.bool:
        if how == "replace":
            return b.clone()
        if how == "add":
            return a | b
        if how == "subtract":
            return a & ~b
        return a & b
    dtype = next((x.dtype for x in (a, b) if x.is_floating_point()), torch.float32)
    fa, fb = a.to(dtype), b.to(device=a.device, dtype=dtype)
    if how == "replace":
        return fb.clone()
    if how == "add":
        return torch.maximum(fa, fb)
    if how == "subtract":
        return torch.minimum(fa, 1.0 - fb)
    return torch.minimum(fa, fb)


# -- arguments -------------------------------------------------------------------------------


def _vector(name: str, value: Vector, size: int) -> torch.Tensor:
    """``value`` as a finite float64 CPU vector of ``size`` numbers, else ValueError  # [size]"""
    try:
        out = torch.as_tensor(
            value.detach().cpu() if isinstance(value, torch.Tensor) else value,
            dtype=torch.float64,
        )
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be {size} numbers, got {value!r:.80}") from None
    if out.shape != (size,) or not bool(torch.isfinite(out).all()):
        raise ValueError(f"{name} must be {size} finite numbers, got {value!r:.80}")
    return out


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _means64(cloud: SplatCloud) -> torch.Tensor:
    return cloud.means.detach().to(torch.float64)  # [N, 3]


def _mask_values(mask: Mask, camera: Camera, view: int | None, cloud: SplatCloud) -> torch.Tensor:
    """A mask as float votes in the cloud's dtype and device  # [H, W]"""
    name = "mask" if view is None else f"masks[{view}]"
    where = "" if view is None else f" (view {view})"
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask)
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name} must be a tensor or an array, got {type(mask).__name__}")
    if tuple(mask.shape) != (camera.height, camera.width):
        raise ValueError(
            f"{name}{where} has shape {list(mask.shape)}, but its camera is {camera.width}x"
            f"{camera.height}: expected [{camera.height}, {camera.width}] (height, width)"
        )
    if mask.is_complex():
        raise ValueError(f"{name}{where} must be bool, integer or float, got {mask.dtype}")
    if mask.is_floating_point():
        if not bool(((mask >= 0) & (mask <= 1)).all()):
            raise ValueError(f"{name}{where}: a float mask must hold values in 0..1")
        values = mask
    else:
        values = mask != 0
    return values.to(device=cloud.device, dtype=cloud.dtype)


def _shape(x: object) -> str:
    return f"shape {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
