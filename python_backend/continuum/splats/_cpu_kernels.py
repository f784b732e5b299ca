"""Numba kernels of the CPU renderer: tile binning, and rasterisation forward and backward.

The compositing follows _project's rules exactly as _reference.py evaluates them, so the tests
can compare the two to float64 rounding. Everything is float64 (one compiled version of each
kernel, compiled on first use and cached on disk by ``cache=True``). Numba's cache watches this
file only: after changing a constant imported from _project, delete __pycache__ (the tests would
otherwise fail against the reference, which reads the new value).

Each Gaussian's screen-space features sit in one row of a table (columns named by the F_*
indices below); a tile list holds row indices, front to back. Gradients come back per
intersection, which keeps the parallel backward free of races (each tile writes only its own
rows) and its result independent of thread timing; ``sum_by_gaussian`` then adds them up.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from continuum.splats._project import ALPHA_MAX, ALPHA_MIN, T_MIN, TILE

F_MX, F_MY, F_A, F_B, F_C, F_OPACITY = 0, 1, 2, 3, 4, 5
F_RED, F_GREEN, F_BLUE, F_DEPTH, F_RX, F_RY = 6, 7, 8, 9, 10, 11
NUM_FEATURES = 12

# Gradient columns, per intersection: d loss / d (mx, my, a, b, c, opacity, r, g, b, depth).
G_MX, G_MY, G_A, G_B, G_C, G_OPACITY, G_RED, G_DEPTH = 0, 1, 2, 3, 4, 5, 6, 9
NUM_GRADIENTS = 10


@njit(cache=True, inline="always")
def _pixel_span(centre, radius, lo, hi):
    """First and last pixel index in [lo, hi) whose centre (index + 0.5) lies within radius."""
    first = max(lo, math.ceil(centre - radius - 0.5))
    last = min(hi - 1, math.floor(centre + radius - 0.5))
    return first, last


@njit(cache=True)
def bin_tiles(features, order, width, height):
    """Tile lists as one array: each drawn Gaussian goes to every tile holding a pixel centre
    of its screen box.

    Args:
        features: one row per Gaussian  # [N, NUM_FEATURES]
        order: indices of the drawn Gaussians, front to back  # [M]
    Returns:
        offsets: tile t owns ids[offsets[t]:offsets[t + 1]], tiles row-major  # [T + 1]
        ids: Gaussian index of each intersection, front to back within a tile  # [I]
    """
    tiles_x = (width + TILE - 1) // TILE
    tiles_y = (height + TILE - 1) // TILE
    counts = np.zeros(tiles_x * tiles_y + 1, np.int64)
    spans = np.empty((order.shape[0], 4), np.int64)
    for i in range(order.shape[0]):
        g = order[i]
        c0, c1 = _pixel_span(features[g, F_MX], features[g, F_RX], 0, width)
        r0, r1 = _pixel_span(features[g, F_MY], features[g, F_RY], 0, height)
        if c1 < c0 or r1 < r0:  # the box overlaps the image but holds no pixel centre
            spans[i, 0], spans[i, 1], spans[i, 2], spans[i, 3] = 0, -1, 0, -1
            continue
        spans[i, 0], spans[i, 1] = c0 // TILE, c1 // TILE
        spans[i, 2], spans[i, 3] = r0 // TILE, r1 // TILE
        for ty in range(spans[i, 2], spans[i, 3] + 1):
            for tx in range(spans[i, 0], spans[i, 1] + 1):
                counts[ty * tiles_x + tx + 1] += 1
    offsets = np.cumsum(counts)
    ids = np.empty(offsets[-1], np.int64)
    fill = offsets[:-1].copy()
    # Visiting Gaussians front to back fills every tile's list already sorted by depth.
    for i in range(order.shape[0]):
        for ty in range(spans[i, 2], spans[i, 3] + 1):
            for tx in range(spans[i, 0], spans[i, 1] + 1):
                tile = ty * tiles_x + tx
                ids[fill[tile]] = order[i]
                fill[tile] += 1
    return offsets, ids


@njit(cache=True, inline="always")
def _tile_box(tile, width, height):
    """Pixel bounds x0, x1, y0, y1 (exclusive ends) of a tile, clipped to the image."""
    tiles_x = (width + TILE - 1) // TILE
    x0 = (tile % tiles_x) * TILE
    y0 = (tile // tiles_x) * TILE
    return x0, min(x0 + TILE, width), y0, min(y0 + TILE, height)


_EXP_STEPS = 64
_EXP_TABLE = np.exp(-np.arange(8 * _EXP_STEPS) / _EXP_STEPS)  # exp(-j / 64)
# Beyond this, exp(-s) < 3.7e-4 < ALPHA_MIN, so clamping s here changes no alpha test.
EXP_DOMAIN = 7.9


@njit(cache=True, inline="always")
def exp_neg(s):
    """exp(-s) for 0 <= s <= EXP_DOMAIN, within 3 ulp.

    libm's exp is an opaque call that keeps the loop over a tile row from vectorising; a table
    of exp(-j / 64) times a degree-5 Taylor polynomial of the remainder (|r| <= 1/128, truncation
    below 4e-16) vectorises, and makes the forward pass about 1.4x faster.
    """
    j = np.int64(s * _EXP_STEPS + 0.5)
    r = s - j * (1.0 / _EXP_STEPS)
    poly = 1.0 - r * (1.0 - r * (0.5 - r * (1.0 / 6.0 - r * (1.0 / 24.0 - r * (1.0 / 120.0)))))
    return _EXP_TABLE[j] * poly


@njit(cache=True, inline="always")
def _row_alphas(f, dy, centres, alpha, falloff):
    """alpha and exp(-sigma) of Gaussian ``f`` across one tile row; alpha is 0 where sigma < 0.

    Without branches over the TILE lanes, so that LLVM vectorises it.
    """
    mx, a, b, c, opacity = f[F_MX], f[F_A], f[F_B], f[F_C], f[F_OPACITY]
    for lane in range(TILE):
        dx = mx - centres[lane]
        sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
        # Written so that a NaN sigma gives 0 and can never index outside the exp table.
        g = exp_neg(min(sigma, EXP_DOMAIN) if sigma > 0.0 else 0.0)
        falloff[lane] = g
        alpha[lane] = min(ALPHA_MAX, opacity * g) if sigma >= 0.0 else 0.0


@njit(parallel=True, cache=True, fastmath=False)
def rasterize_forward(offsets, ids, features, width, height, background):
    """Front-to-back compositing, tiles in parallel; each Gaussian is visited row by row over
    the part of its screen box inside the tile.

    Args:
        offsets, ids: tile t composites features[ids[offsets[t]:offsets[t + 1]]]  # [T + 1], [I]
        features: one row per Gaussian  # [N, NUM_FEATURES]
        background: # [3]
    Returns:
        rgb  # [H, W, 3]; depth (sum of z * weight)  # [H, W];
        transmittance left at the end  # [H, W];
        last: intersection index of the last Gaussian each pixel composited, -1 if none  # [H, W]
    """
    rgb = np.empty((height, width, 3))
    depth = np.empty((height, width))
    trans = np.empty((height, width))
    last = np.empty((height, width), np.int64)
    for tile in prange(offsets.shape[0] - 1):
        x0, x1, y0, y1 = _tile_box(tile, width, height)
        centres = np.arange(TILE) + (x0 + 0.5)  # pixel-centre x of each lane
        alpha_row = np.empty(TILE)
        falloff_row = np.empty(TILE)
        t = np.ones(TILE * TILE)  # per pixel of the tile, row-major
        acc = np.zeros((TILE * TILE, 4))  # r, g, b, depth
        lst = np.full(TILE * TILE, -1, np.int64)
        done = np.zeros(TILE * TILE, np.bool_)
        n_done = 0
        n_pixels = (x1 - x0) * (y1 - y0)
        for k in range(offsets[tile], offsets[tile + 1]):
            if n_done == n_pixels:
                break
            f = features[ids[k]]
            # Locals, not f[...] in the loop: LLVM cannot tell that the stores to acc leave
            # features alone, and would reload them for every pixel.
            red, green, blue, z = f[F_RED], f[F_GREEN], f[F_BLUE], f[F_DEPTH]
            c0, c1 = _pixel_span(f[F_MX], f[F_RX], x0, x1)
            r0, r1 = _pixel_span(f[F_MY], f[F_RY], y0, y1)
            for py in range(r0, r1 + 1):
                _row_alphas(f, f[F_MY] - (py + 0.5), centres, alpha_row, falloff_row)
                for px in range(c0, c1 + 1):
                    alpha = alpha_row[px - x0]
                    li = (py - y0) * TILE + (px - x0)
                    if alpha < ALPHA_MIN or done[li]:
                        continue
                    next_t = t[li] * (1.0 - alpha)
                    if next_t < T_MIN:
                        done[li] = True
                        n_done += 1
                        continue
                    weight = alpha * t[li]
                    acc[li, 0] += weight * red
                    acc[li, 1] += weight * green
                    acc[li, 2] += weight * blue
                    acc[li, 3] += weight * z
                    t[li] = next_t
                    lst[li] = k
        for py in range(y0, y1):
            for px in range(x0, x1):
                li = (py - y0) * TILE + (px - x0)
                for ch in range(3):
                    rgb[py, px, ch] = acc[li, ch] + t[li] * background[ch]
                depth[py, px] = acc[li, 3]
                trans[py, px] = t[li]
                last[py, px] = lst[li]
    return rgb, depth, trans, last


@njit(parallel=True, cache=True, fastmath=False)
def rasterize_backward(
    offsets, ids, features, width, height, background, trans, last, g_rgb, g_alpha, g_depth
):
    """Gradients per intersection by the reverse traversal of 3DGS: every pixel walks its
    Gaussians back to front, recovering the transmittance before each one by division.

    Args:
        offsets, ids, features, width, height, background: as given to ``rasterize_forward``
        trans, last: as returned by ``rasterize_forward``  # [H, W], [H, W]
        g_rgb, g_alpha, g_depth: d loss / d outputs  # [H, W, 3], [H, W], [H, W]
    Returns:
        d loss / d (mx, my, a, b, c, opacity, r, g, b, depth) per intersection
            # [I, NUM_GRADIENTS]
    """
    grads = np.empty((ids.shape[0], NUM_GRADIENTS))
    for tile in prange(offsets.shape[0] - 1):
        x0, x1, y0, y1 = _tile_box(tile, width, height)
        centres = np.arange(TILE) + (x0 + 0.5)
        alpha_row = np.empty(TILE)
        falloff_row = np.empty(TILE)
        t = np.ones(TILE * TILE)
        t_final = np.ones(TILE * TILE)
        rest = np.zeros((TILE * TILE, 4))  # r, g, b, depth of what lies behind
        g_out = np.zeros((TILE * TILE, 5))  # d loss / d (r, g, b, depth, alpha) of the pixel
        lst = np.full(TILE * TILE, -1, np.int64)
        value = np.empty(4)  # r, g, b, depth of the current Gaussian
        for py in range(y0, y1):
            for px in range(x0, x1):
                li = (py - y0) * TILE + (px - x0)
                t[li] = t_final[li] = trans[py, px]
                lst[li] = last[py, px]
                for ch in range(3):
                    rest[li, ch] = trans[py, px] * background[ch]
                    g_out[li, ch] = g_rgb[py, px, ch]
                g_out[li, 3] = g_depth[py, px]
                g_out[li, 4] = g_alpha[py, px]
        # Gaussians behind every pixel's last one were never composited in this tile.
        k_last = max(lst.max(), offsets[tile] - 1)
        grads[k_last + 1 : offsets[tile + 1]] = 0.0
        for k in range(k_last, offsets[tile] - 1, -1):
            f = features[ids[k]]
            mx, my, a, b, c = f[F_MX], f[F_MY], f[F_A], f[F_B], f[F_C]
            opacity = f[F_OPACITY]
            value[:] = f[F_RED : F_DEPTH + 1]
            g = grads[k]  # this tile's own row: no other thread writes it
            g[:] = 0.0
            c0, c1 = _pixel_span(mx, f[F_RX], x0, x1)
            r0, r1 = _pixel_span(my, f[F_RY], y0, y1)
            for py in range(r0, r1 + 1):
                dy = my - (py + 0.5)
                _row_alphas(f, dy, centres, alpha_row, falloff_row)
                for px in range(c0, c1 + 1):
                    alpha = alpha_row[px - x0]
                    li = (py - y0) * TILE + (px - x0)
                    if alpha < ALPHA_MIN or k > lst[li]:
                        continue
                    inv_keep = 1.0 / (1.0 - alpha)
                    t_before = t[li] * inv_keep
                    weight = alpha * t_before
                    # d out / d alpha: this Gaussian's own term, less what it hides behind it.
                    g_alpha_k = g_out[li, 4] * t_final[li] * inv_keep
                    for ch in range(4):
                        g[G_RED + ch] += weight * g_out[li, ch]
                        g_alpha_k += g_out[li, ch] * (
                            value[ch] * t_before - rest[li, ch] * inv_keep
                        )
                        rest[li, ch] += value[ch] * weight
                    t[li] = t_before
                    falloff = falloff_row[px - x0]
                    if opacity * falloff <= ALPHA_MAX:  # the clamp passes no gradient
                        dx = mx - (px + 0.5)
                        g[G_OPACITY] += g_alpha_k * falloff
                        g_sigma = -g_alpha_k * alpha
                        g[G_MX] += g_sigma * (a * dx + b * dy)
                        g[G_MY] += g_sigma * (c * dy + b * dx)
                        g[G_A] += g_sigma * 0.5 * dx * dx
                        g[G_B] += g_sigma * dx * dy
                        g[G_C] += g_sigma * 0.5 * dy * dy
    return grads


@njit(cache=True)
def sum_by_gaussian(ids, per_isect, n):
    """Per-intersection gradients summed per Gaussian, in intersection order (so the result does
    not depend on thread timing)  # [I], [I, G] -> [n, G]"""
    out = np.zeros((n, per_isect.shape[1]))
    for k in range(ids.shape[0]):
        for j in range(per_isect.shape[1]):
            out[ids[k], j] += per_isect[k, j]
    return out
