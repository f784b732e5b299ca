"""Plain, slow versions of the vectorised routines, one Gaussian or one point at a time, in
Python floats. Only for tests, which compare the fast versions against them."""

from __future__ import annotations

import math

import numpy as np
import torch

from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.render import render_splats


def mirror_partners(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``symmetry.mirror_partners`` by brute force: every pair's distance."""
    partner = np.zeros(len(points), dtype=np.int64)
    distance = np.zeros(len(points))
    for i, (x, y, z) in enumerate(points.tolist()):
        best, best_distance = -1, math.inf
        for j, (u, v, w) in enumerate(points.tolist()):
            d = math.dist((-x, y, z), (u, v, w))
            if d < best_distance:
                best, best_distance = j, d
        partner[i], distance[i] = best, best_distance
    return partner, distance


def seen_weights(
    cloud: SplatCloud, normals: np.ndarray, camera: Camera, *, tolerance: float = 0.005
) -> np.ndarray:
    """``visibility.seen_weights`` one Gaussian at a time (the same render gives the depth)."""
    with torch.no_grad():
        out = render_splats(cloud.detach(), camera, backend="cpu")
    alpha, depth_map = out.alpha.tolist(), out.depth.tolist()
    w2c = camera.world_to_camera.tolist()
    centre = camera.centre.tolist()
    weights = np.zeros(len(cloud))
    log_scales = cloud.log_scales.detach().double().tolist()
    for i, point in enumerate(cloud.means.detach().double().tolist()):
        x, y, z = (sum(w2c[r][c] * point[c] for c in range(3)) + w2c[r][3] for r in range(3))
        if z <= 1e-6:
            continue
        column = math.floor(camera.fx * x / z + camera.cx)
        row = math.floor(camera.fy * y / z + camera.cy)
        if not (0 <= column < camera.width and 0 <= row < camera.height):
            continue
        towards = [centre[k] - point[k] for k in range(3)]
        length = math.sqrt(sum(t * t for t in towards))
        cosine = min(1.0, max(0.0, sum(normals[i][k] * towards[k] for k in range(3)) / length))
        sigma = math.exp(max(log_scales[i][0], log_scales[i][1]))
        slope = min(math.sqrt(1.0 - cosine * cosine) / max(cosine, 1e-6), 5.0)
        a = alpha[row][column]
        if a <= 0.5 or z > depth_map[row][column] / a + tolerance + 2.0 * sigma * slope:
            continue
        weights[i] = cosine
    return weights


def sample_image(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``visibility.sample_image`` one point at a time."""
    height, width = image.shape[:2]
    out = np.zeros((len(xy), image.shape[2]))
    for i, (px, py) in enumerate(xy.tolist()):
        x = min(max(px - 0.5, 0.0), width - 1.0)
        y = min(max(py - 0.5, 0.0), height - 1.0)
        x0, y0 = min(math.floor(x), width - 2), min(math.floor(y), height - 2)
        fx, fy = x - x0, y - y0
        for c in range(image.shape[2]):
            top = image[y0, x0, c] * (1 - fx) + image[y0, x0 + 1, c] * fx
            bottom = image[y0 + 1, x0, c] * (1 - fx) + image[y0 + 1, x0 + 1, c] * fx
            out[i, c] = top * (1 - fy) + bottom * fy
    return out
