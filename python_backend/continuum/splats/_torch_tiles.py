"""A tile renderer in plain vectorised PyTorch: the baseline the CPU renderer is measured against.

The same tiles as the CPU renderer (TILE x TILE pixels, per-tile lists sorted by depth), but each
tile is evaluated densely: every pixel of the tile against every Gaussian of its list, padded to
the longest list of a batch of tiles. Autograd gives the gradients; each batch is checkpointed
(recomputed in the backward) so that memory stays bounded by one batch instead of the whole image.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from continuum.splats._project import ALPHA_MAX, ALPHA_MIN, T_MIN, TILE, Projected
from continuum.splats.camera import Camera

_BATCH_PAIRS = 1 << 22  # pixel-Gaussian pairs evaluated at once: 16 MB per float32 tensor


def rasterize(proj: Projected, camera: Camera) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite ``proj`` tile by tile.

    Returns:
        rgb  # [H, W, 3], alpha  # [H, W], depth (sum of z * weight)  # [H, W]
    """
    width, height = camera.width, camera.height
    device, dtype = proj.means2d.device, proj.means2d.dtype
    tiles_x, tiles_y = -(-width // TILE), -(-height // TILE)
    n_tiles = tiles_x * tiles_y

    # 1. Tile lists: intersections sorted by tile, each tile's Gaussians front to back.
    offsets, ids = _bin(proj, width, height, tiles_x)
    counts = offsets[1:] - offsets[:-1]  # [T]

    # 2. Pixel centres of every tile, row-major inside the tile.
    local = torch.arange(TILE * TILE, device=device)
    tile = torch.arange(n_tiles, device=device)
    px = (tile % tiles_x)[:, None] * TILE + local % TILE  # [T, TILE^2]
    py = (tile // tiles_x)[:, None] * TILE + local // TILE
    centres = torch.stack([px, py], dim=-1).to(dtype) + 0.5  # [T, TILE^2, 2]

    # 3. Batches of tiles with similar list lengths (less padding), each padded to its longest.
    background = torch.tensor(camera.background, dtype=dtype, device=device)
    by_length = torch.argsort(counts, stable=True)
    sorted_counts = counts[by_length].tolist()
    out = torch.empty(n_tiles, TILE * TILE, 5, dtype=dtype, device=device)
    start = 0
    while start < n_tiles:
        # Lengths ascend, so the last tile of a batch is its longest.
        stop = start + 1
        while (
            stop < n_tiles
            and (stop + 1 - start) * TILE * TILE * sorted_counts[stop] <= _BATCH_PAIRS
        ):
            stop += 1
        batch = by_length[start:stop]
        slot = torch.arange(max(sorted_counts[stop - 1], 1), device=device)
        valid = slot < counts[batch, None]  # [B, L]
        index = torch.where(valid, offsets[batch, None] + slot, 0)
        gauss = ids[index] if ids.numel() else torch.zeros_like(index)
        out[batch] = checkpoint(
            _composite,
            proj.means2d,
            proj.conics,
            proj.opacities,
            proj.colours,
            proj.depths,
            gauss,
            valid,
            centres[batch],
            background,
            use_reentrant=False,
        )
        start = stop

    # 4. Tiles back into an image, cropped to its size.
    image = out.reshape(tiles_y, tiles_x, TILE, TILE, 5)
    image = image.permute(0, 2, 1, 3, 4).reshape(tiles_y * TILE, tiles_x * TILE, 5)
    image = image[:height, :width]
    return image[..., :3], image[..., 4], image[..., 3]


def _bin(
    proj: Projected, width: int, height: int, tiles_x: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tile t owns ids[offsets[t]:offsets[t + 1]]  # [T + 1], [I]"""
    drawn = torch.nonzero(proj.visible()).squeeze(1)
    order = drawn[torch.sort(proj.depths[drawn].detach(), stable=True).indices]
    centre = proj.means2d[order].detach()
    radius = proj.radii[order].to(centre.dtype)
    # Pixels whose centre (index + 0.5) lies inside the Gaussian's screen box, as the CPU
    # renderer counts them.
    first = torch.ceil(centre - radius - 0.5).long().clamp_min(0)
    size = torch.tensor([width, height], device=centre.device)
    last = torch.minimum(torch.floor(centre + radius - 0.5).long(), size - 1)
    empty = (last < first).any(dim=-1)
    t0, t1 = first // TILE, last // TILE  # [M, 2]
    span = (t1 - t0 + 1).clamp_min(0)
    count = torch.where(empty, 0, span[:, 0] * span[:, 1])  # [M]

    owner = torch.repeat_interleave(torch.arange(len(order), device=centre.device), count)
    rank = torch.arange(len(owner), device=centre.device) - (torch.cumsum(count, 0) - count)[owner]
    tx = t0[owner, 0] + rank % span[owner, 0]
    ty = t0[owner, 1] + rank // span[owner, 0]
    # Gaussians are already front to back; a stable sort by tile keeps that order per tile.
    by_tile = torch.sort(ty * tiles_x + tx, stable=True)
    n_tiles = tiles_x * -(-height // TILE)
    counts = torch.bincount(by_tile.values, minlength=n_tiles)
    offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    return offsets, order[owner[by_tile.indices]]


def _composite(
    means2d: torch.Tensor,  # [N, 2]
    conics: torch.Tensor,  # [N, 3]
    opacities: torch.Tensor,  # [N]
    colours: torch.Tensor,  # [N, 3]
    depths: torch.Tensor,  # [N]
    gauss: torch.Tensor,  # [B, L] Gaussian index per list slot
    valid: torch.Tensor,  # [B, L] slot holds a Gaussian
    centres: torch.Tensor,  # [B, P, 2] pixel centres
    background: torch.Tensor,  # [3]
) -> torch.Tensor:
    """rgb, depth and alpha of a batch of tiles, front-to-back  # [B, P, 5]"""
    delta = means2d[gauss][:, None] - centres[:, :, None]  # [B, P, L, 2]
    dx, dy = delta.unbind(-1)
    a, b, c = conics[gauss][:, None].unbind(-1)  # [B, 1, L] each
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy  # [B, P, L]
    alpha = (opacities[gauss][:, None] * torch.exp(-sigma)).clamp_max(ALPHA_MAX)
    alpha = torch.where(valid[:, None] & (sigma >= 0) & (alpha >= ALPHA_MIN), alpha, 0.0)
    trans = torch.cumprod(1.0 - alpha, dim=-1)  # transmittance after each Gaussian  [B, P, L]
    # A pixel stops before the Gaussian that would take its transmittance below T_MIN; the
    # transmittance only falls, so the kept Gaussians are a prefix, and for them the
    # transmittance before is the same with or without the ones dropped behind.
    kept = (trans >= T_MIN).detach()
    before = torch.cat([torch.ones_like(trans[..., :1]), trans[..., :-1]], dim=-1)
    weight = torch.where(kept, alpha * before, 0.0)
    t_final = torch.where(kept, 1.0 - alpha, 1.0).prod(dim=-1, keepdim=True)  # [B, P, 1]
    rgb = weight @ colours[gauss] + t_final * background  # [B, P, 3]
    depth = weight @ depths[gauss][..., None]  # [B, P, 1]
    return torch.cat([rgb, depth, 1.0 - t_final], dim=-1)
