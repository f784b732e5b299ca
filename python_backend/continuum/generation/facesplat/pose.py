"""Head pose and face shape from 2D landmarks: the prior (``prior``) fitted to a photo.

The photo's camera is a pinhole with square pixels, the principal point at the image centre and
a field of view of ``fov_deg`` (35 degrees) across the image's longer side: a phone or portrait
lens. Its world is the face frame of ``prior``: the fit finds the rigid transform from the face
frame to the camera (``rotation``, ``translation``), the head's size relative to the mean head
(``scale``), and the shape coefficients (``SHAPE_MODES``), by regularised least squares:

    sum_i w_i |project(R (s X_i(alpha)) + t) - x_i|^2 / (0.015 size)^2
        + |alpha|^2 + (log s / 0.08)^2

with x_i the detected landmarks, ``size`` the detected face's width in pixels (so the landmark
noise is taken as 1.5 % of it), w_i 0.25 on the jaw contour (a silhouette, which slides over
the 3D jaw as the head turns) and 1 elsewhere. The priors are those of ``prior``: unit normal
shape coefficients, and a head size within about 8 % of the mean (the scale is otherwise only
weakly told apart from the distance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from continuum.generation.facesplat.prior import SHAPE_MODES, TEMPLATE, shaped_landmarks
from continuum.splats.camera import Camera

DEFAULT_FOV_DEG = 35.0
_NOISE = 0.015  # landmark noise, as a fraction of the face's width in pixels
_SCALE_SIGMA = 0.08  # prior spread of log(head size / mean head size)
_JAW_WEIGHT = 0.25
# The face frame's axes in OpenCV camera axes when the face looks straight at the camera.
_FACING = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True, eq=False)
class PoseFit:
    """The face prior fitted to one photo's landmarks.

    Attributes:
        rotation: face frame to camera axes (OpenCV)  # [3, 3]
        translation: the face frame's origin in camera axes, metres  # [3]
        scale: the head's size relative to the mean head
        coefficients: the shape coefficients, one per ``SHAPE_MODES``  # [M]
        landmarks: the fitted 3D landmarks in the face frame, metres (scale applied)  # [68, 3]
        camera: the photo's camera, world = the face frame
        rms_px: root-mean-square distance of the projected to the detected landmarks, pixels
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    coefficients: np.ndarray
    landmarks: np.ndarray
    camera: Camera
    rms_px: float


def photo_camera(width: int, height: int, *, fov_deg: float = DEFAULT_FOV_DEG) -> Camera:
    """The pinhole camera assumed for a photo, at the face frame's origin (identity pose).

    Args:
        width, height: the photo's size in pixels
        fov_deg: the field of view across the longer side, degrees (0..180)
    """
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must lie in (0, 180) degrees, got {fov_deg}")
    focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
    return Camera(
        fx=focal,
        fy=focal,
        cx=width / 2,
        cy=height / 2,
        world_to_camera=torch.eye(4, dtype=torch.float64),
        width=width,
        height=height,
    )


def project(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, camera: Camera):
    """Pixel positions of face-frame points seen by ``camera`` after the given pose.

    Args:
        points: face frame, metres  # [N, 3]
        rotation, translation: face frame to camera axes  # [3, 3], [3]
        camera: its intrinsics are used (its pose is ignored)

    Returns:
        (x, y) pixels  # [N, 2]
    """
    p = points @ rotation.T + translation  # [N, 3]
    z = np.maximum(p[:, 2], 1e-6)
    return np.stack([camera.fx * p[:, 0] / z + camera.cx, camera.fy * p[:, 1] / z + camera.cy], 1)


def fit_pose(
    landmarks: np.ndarray,
    *,
    width: int,
    height: int,
    fov_deg: float = DEFAULT_FOV_DEG,
    shape: bool = True,
) -> PoseFit:
    """Fit head pose, size and shape to 68 detected landmarks.

    Args:
        landmarks: (x, y) pixels, iBUG order  # [68, 2]
        width, height: the photo's size in pixels
        fov_deg: the camera's field of view across the longer side (see ``photo_camera``)
        shape: fit the shape coefficients (False: the mean face, scaled)

    Returns:
        the fit; ``camera`` has the photo's intrinsics and the fitted pose.
    """
    observed = np.asarray(landmarks, dtype=np.float64)
    if observed.shape != (68, 2) or not np.isfinite(observed).all():
        raise ValueError(
            f"landmarks must be 68 finite (x, y) points [68, 2], got {list(observed.shape)}"
        )
    camera = photo_camera(width, height, fov_deg=fov_deg)
    size = float(np.linalg.norm(observed[16] - observed[0]))
    if not size > 0:
        raise ValueError("landmarks are degenerate: the jaw's two ends coincide")
    weights = np.ones(68)
    weights[:17] = _JAW_WEIGHT
    weights = np.sqrt(weights)[:, None] / (_NOISE * size)
    modes = len(SHAPE_MODES) if shape else 0

    # 1. Start facing the camera, at the distance that gives the detected width.
    template_width = float(np.linalg.norm(TEMPLATE[16] - TEMPLATE[0]))
    depth = camera.fx * template_width / size
    centre_px = observed.mean(axis=0)
    centre = depth * np.array(
        [(centre_px[0] - camera.cx) / camera.fx, (centre_px[1] - camera.cy) / camera.fy, 1.0]
    )
    start = np.concatenate(
        [np.zeros(3), centre - _FACING @ TEMPLATE.mean(axis=0), [0.0], np.zeros(modes)]
    )

    def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        rotation = Rotation.from_rotvec(p[:3]).as_matrix() @ _FACING
        coefficients = np.zeros(len(SHAPE_MODES))
        coefficients[:modes] = p[7:]
        return rotation, p[3:6], math.exp(p[6]), coefficients

    def residuals(p: np.ndarray) -> np.ndarray:
        rotation, translation, scale, coefficients = unpack(p)
        points = shaped_landmarks(coefficients, scale=scale)
        error = (project(points, rotation, translation, camera) - observed) * weights
        return np.concatenate([error.ravel(), [p[6] / _SCALE_SIGMA], p[7:]])

    # 2. Regularised least squares (the priors are the last residuals).
    solution = least_squares(residuals, start, x_scale="jac", method="trf")
    rotation, translation, scale, coefficients = unpack(solution.x)
    points = shaped_landmarks(coefficients, scale=scale)
    rms = float(
        np.sqrt(((project(points, rotation, translation, camera) - observed) ** 2).sum(1).mean())
    )
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3] = rotation
    world_to_camera[:3, 3] = translation
    posed = Camera(
        fx=camera.fx,
        fy=camera.fy,
        cx=camera.cx,
        cy=camera.cy,
        world_to_camera=torch.from_numpy(world_to_camera),
        width=width,
        height=height,
    )
    return PoseFit(rotation, translation, scale, coefficients, points, posed, rms)
