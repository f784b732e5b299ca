"""Camera: the pinhole camera every splat renderer draws with.

Camera axes follow OpenCV, as 3DGS and gsplat do: +x right, +y down, +z forward (the viewing
direction). ``world_to_camera`` maps scene points (glTF axes: +Y up) into those camera axes.
Pixel (i, j) (row, column) has its centre at image coordinates (j + 0.5, i + 0.5), and a camera
point (x, y, z) lands at (fx * x / z + cx, fy * y / z + cy), like gsplat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

_RIGID_TOLERANCE = 1e-4


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera with its image size and clipping range.

    Attributes:
        fx, fy: focal lengths in pixels (> 0)
        cx, cy: principal point in pixels
        world_to_camera: a rigid transform, scene to OpenCV camera axes; stored as a float64
            CPU tensor (the camera is not differentiable)  # [4, 4]
        width, height: image size in pixels (> 0)
        near, far: Gaussians whose camera-space depth lies outside [near, far] are not drawn
        background: colour behind the splats, linear RGB  # [3]
    """

    fx: float
    fy: float
    cx: float
    cy: float
    world_to_camera: torch.Tensor
    width: int
    height: int
    near: float = 0.01
    far: float = 1e10
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # Derived in __post_init__ from world_to_camera; kept so renderers need not invert it.
    centre: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"Camera.{name} must be a positive focal length, got {value}")
        for name in ("cx", "cy"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"Camera.{name} must be finite, got {getattr(self, name)}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Camera.{name} must be a positive int, got {value!r}")
        if not (0 < self.near < self.far):
            raise ValueError(f"Camera needs 0 < near < far, got near={self.near}, far={self.far}")
        background = tuple(float(c) for c in self.background)
        if len(background) != 3 or not all(math.isfinite(c) for c in background):
            raise ValueError(f"Camera.background must be 3 finite floats, got {self.background}")
        object.__setattr__(self, "background", background)

        w2c = torch.as_tensor(self.world_to_camera).detach().to("cpu", torch.float64)
        if w2c.shape != (4, 4) or not torch.isfinite(w2c).all():
            raise ValueError(
                f"Camera.world_to_camera must be a finite 4x4 matrix, got shape {list(w2c.shape)}"
            )
        rot = w2c[:3, :3]
        eye = torch.eye(3, dtype=torch.float64)
        rigid = (
            torch.allclose(w2c[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))
            and torch.allclose(rot @ rot.T, eye, atol=_RIGID_TOLERANCE)
            and torch.det(rot) > 0
        )
        if not rigid:
            raise ValueError(
                "Camera.world_to_camera must be rigid: an orthonormal rotation with det +1, a "
                f"translation, and last row [0, 0, 0, 1]; got\n{w2c}"
            )
        object.__setattr__(self, "world_to_camera", w2c)
        object.__setattr__(self, "centre", -rot.T @ w2c[:3, 3])

    @classmethod
    def from_fov(
        cls,
        world_to_camera: torch.Tensor,
        *,
        fov_y_deg: float,
        width: int,
        height: int,
        near: float = 0.01,
        far: float = 1e10,
        background: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> Camera:
        """A camera with square pixels, the principal point at the image centre, and the given
        vertical field of view in degrees (0 < fov_y_deg < 180)."""
        if not (0 < fov_y_deg < 180):
            raise ValueError(f"fov_y_deg must lie in (0, 180) degrees, got {fov_y_deg}")
        focal = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
        return cls(
            fx=focal,
            fy=focal,
            cx=width / 2,
            cy=height / 2,
            world_to_camera=world_to_camera,
            width=width,
            height=height,
            near=near,
            far=far,
            background=tuple(background),
        )

    @classmethod
    def look_at(
        cls,
        eye: Sequence[float] | torch.Tensor,
        target: Sequence[float] | torch.Tensor,
        up: Sequence[float] | torch.Tensor = (0.0, 1.0, 0.0),
        *,
        fov_y_deg: float,
        width: int,
        height: int,
        near: float = 0.01,
        far: float = 1e10,
        background: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> Camera:
        """A camera at ``eye`` looking at ``target``, with ``up`` (scene +Y by default) showing
        as up in the image; see ``from_fov`` for the intrinsics."""
        eye_t, target_t, up_t = (
            torch.as_tensor(v, dtype=torch.float64).reshape(3) for v in (eye, target, up)
        )
        forward = target_t - eye_t
        if forward.norm() == 0:
            raise ValueError(f"look_at needs eye != target, got both {eye_t.tolist()}")
        forward = forward / forward.norm()
        # OpenCV axes: right = forward x up, and image-down = forward x right.
        right = torch.linalg.cross(forward, up_t)
        if right.norm() < 1e-9 * max(up_t.norm().item(), 1.0):
            raise ValueError(
                f"look_at needs an up vector not parallel to the view direction, got up="
                f"{up_t.tolist()} and direction {forward.tolist()}"
            )
        right = right / right.norm()
        down = torch.linalg.cross(forward, right)
        w2c = torch.eye(4, dtype=torch.float64)
        w2c[:3, :3] = torch.stack([right, down, forward])
        w2c[:3, 3] = -w2c[:3, :3] @ eye_t
        return cls.from_fov(
            w2c,
            fov_y_deg=fov_y_deg,
            width=width,
            height=height,
            near=near,
            far=far,
            background=background,
        )

    def intrinsics(self) -> torch.Tensor:
        """The 3x3 matrix K as gsplat and OpenCV write it, float64  # [3, 3]"""
        return torch.tensor(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
            dtype=torch.float64,
        )
