"""What the photo sees of the surface: per-Gaussian visibility and the photo's colour there.

A Gaussian counts as seen when it lies in front of the surface the photo's camera sees at its
pixel and faces the camera; how well it is seen is the cosine between its normal and the
direction to the camera, 0 for the unseen. The occlusion test compares its depth with the
expected depth of a render of the whole cloud at its pixel, which is made of the depths of the
Gaussians' centres: on a surface seen at an angle theta, the first Gaussian covering a pixel
lies up to about two of its widths sigma away, nearer by up to 2 sigma tan(theta). So a
Gaussian may lie ``tolerance`` + 2 sigma tan(theta) (tan clamped at 5) behind that depth.
``_reference`` holds the plain loop versions the tests compare these against.
"""

from __future__ import annotations

import numpy as np
import torch

from continuum.generation.facesplat.pose import project
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.render import render_splats


def camera_pixels(points: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Where face-frame points land in ``camera``'s image, and their camera-space depth.

    Args:
        points: face frame, metres  # [N, 3]
        camera: the camera (its pose and intrinsics)

    Returns:
        (x, y) pixels  # [N, 2]; depth in metres  # [N]
    """
    w2c = camera.world_to_camera.numpy()
    depth = points @ w2c[2, :3] + w2c[2, 3]
    return project(points, w2c[:3, :3], w2c[:3, 3], camera), depth


def seen_weights(
    cloud: SplatCloud, normals: np.ndarray, camera: Camera, *, tolerance: float = 0.005
) -> np.ndarray:
    """How well the camera sees each Gaussian: 0 (hidden, turned away or outside the image)
    to 1 (facing the camera, unoccluded).

    Args:
        cloud: the Gaussians (their means are tested)
        normals: their outward unit normals  # [N, 3]
        camera: the photo's camera
        tolerance: metres a Gaussian may lie behind the rendered surface and still count,
            besides its width's share (see the module docstring)

    Returns:
        the weight of each Gaussian  # [N]
    """
    with torch.no_grad():
        out = render_splats(cloud.detach(), camera, backend="cpu")
    alpha = out.alpha.numpy().astype(np.float64)
    expected = np.where(alpha > 0.5, out.depth.numpy() / np.maximum(alpha, 1e-6), np.inf)
    points = cloud.means.detach().numpy().astype(np.float64)
    xy, depth = camera_pixels(points, camera)
    column, row = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    inside = (column >= 0) & (column < camera.width) & (row >= 0) & (row < camera.height)
    surface = np.full(len(points), -np.inf)
    surface[inside] = expected[row[inside], column[inside]]
    centre = camera.centre.numpy()
    towards = centre - points
    towards /= np.linalg.norm(towards, axis=1, keepdims=True)
    facing = np.clip((normals * towards).sum(axis=1), 0.0, 1.0)
    sigma = cloud.log_scales.detach().numpy().astype(np.float64)[:, :2].max(axis=1)
    slope = np.minimum(np.sqrt(1.0 - facing**2) / np.maximum(facing, 1e-6), 5.0)
    allowed = tolerance + 2.0 * np.exp(sigma) * slope
    return np.where(inside & (depth <= surface + allowed), facing, 0.0)


def sample_image(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of an image at pixel positions (pixel centres at +0.5; edges clamp).

    Args:
        image: float values, at least 2 x 2 pixels  # [H, W, C]
        xy: (x, y) positions in pixels  # [N, 2]

    Returns:
        the samples  # [N, C]
    """
    height, width = image.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"image must be at least 2 x 2 pixels, got {height} x {width}")
    x = np.clip(xy[:, 0] - 0.5, 0.0, width - 1.0)
    y = np.clip(xy[:, 1] - 0.5, 0.0, height - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 2)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy
