"""Render splats with the Godot plugin's SplatInstance3D, for visual checks and benchmarks.

Godot runs with a real renderer (not --headless) on a virtual display, draws an engine pack from
a camera given as the backend's ``Camera``, and saves the frame; the backend renders the same
cloud from the same camera, so the two images can be compared pixel for pixel.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from continuum.errors import ContinuumError
from continuum.godot import run_godot, virtual_display
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.pack import pack_splats

RENDER_SCRIPT = "res://tests/integration/splat_render.gd"
MAX_FAR = 1000.0  # metres; Godot draws nothing with near 0.01 and far 1e6
_CV_FROM_GODOT = np.diag([1.0, -1.0, -1.0, 1.0])  # Godot camera axes (y up, -z forward) to OpenCV


@dataclass
class GodotFrame:
    """One frame Godot drew, and what it reported.

    Attributes:
        image: RGB in [0, 1]  # [H, W, 3]
        views: the camera of each view Godot drew (one, or two for stereo: left, right)
        info: the render script's report (counts, sort count, frame_ms when asked, renderer)
    """

    image: torch.Tensor
    views: list[Camera]
    info: dict


def render_in_godot(
    cloud: SplatCloud | bytes,
    camera: Camera,
    *,
    stereo: bool = False,
    frames: int = 0,
    rendering_method: str = "gl_compatibility",
    timeout_s: float = 300.0,
) -> GodotFrame:
    """Draw ``cloud`` (a SplatCloud or an engine pack's octets) in Godot as ``camera`` sees it.

    The camera needs square pixels and its principal point at the image centre (what a Godot
    Camera3D draws). ``stereo`` draws two views, each ``camera.width`` wide, side by side,
    through Godot's XR path (MobileVR, lens distortion off) from the camera's pose; their
    projections are the XR interface's own and come back in ``views``. ``frames`` > 0 also times
    that many frames (``info["frame_ms"]``). ``rendering_method`` is gl_compatibility (OpenGL),
    forward_plus or mobile (Vulkan).
    """
    if camera.fx != camera.fy or camera.cx != camera.width / 2 or camera.cy != camera.height / 2:
        raise ValueError(
            "render_in_godot needs square pixels (fx == fy) and a centred principal point, got "
            f"fx={camera.fx}, fy={camera.fy}, cx={camera.cx}, cy={camera.cy} for "
            f"{camera.width}x{camera.height}"
        )
    data = cloud if isinstance(cloud, bytes) else pack_splats(cloud)
    fov_y_deg = math.degrees(2.0 * math.atan(0.5 * camera.height / camera.fy))
    camera_to_world = np.linalg.inv(camera.world_to_camera.numpy()) @ _CV_FROM_GODOT
    numbers = [*camera_to_world[:3, :3].T.reshape(-1), *camera_to_world[:3, 3]]
    width = camera.width * (2 if stereo else 1)
    driver = "opengl3" if rendering_method == "gl_compatibility" else "vulkan"
    with tempfile.TemporaryDirectory(prefix="continuum-godot-render-") as tmp:
        pack_path, png_path = Path(tmp) / "cloud.cspk", Path(tmp) / "frame.png"
        pack_path.write_bytes(data)
        user_args = [
            f"--pack={pack_path}",
            f"--out={png_path}",
            "--camera=" + ",".join(f"{v:.9g}" for v in numbers),
            f"--fov={fov_y_deg:.9g}",
            f"--near={camera.near}",
            # Godot's depth range cannot span the backend's default 1e10: nothing draws.
            f"--far={min(camera.far, MAX_FAR)}",
            f"--frames={frames}",
        ] + (["--stereo"] if stereo else [])
        args = ["--rendering-driver", driver, "--rendering-method", rendering_method]
        args += ["--resolution", f"{width}x{camera.height}", "--script", RENDER_SCRIPT]
        with virtual_display(width, camera.height) as display:
            run = run_godot(
                args, user_args=user_args, headless=False, display=display, timeout_s=timeout_s
            )
        reports = run.results("CONTINUUM_RESULT")
        if run.returncode != 0 or not reports or "error" in reports[-1]:
            raise ContinuumError(
                f"Godot could not render the splats (exit {run.returncode}):\n{run.output[-3000:]}"
            )
        info = reports[-1]
        pixels = np.asarray(Image.open(png_path).convert("RGB"), dtype=np.float32) / 255.0
    views = [_view_camera(v, camera) for v in info["views"]] if stereo else [camera]
    return GodotFrame(image=torch.from_numpy(pixels), views=views, info=info)


def _view_camera(view: dict, camera: Camera) -> Camera:
    """The backend camera for an XR view Godot reported: its eye transform and projection, with
    ``camera``'s image size and clipping range."""
    width, height = camera.width, camera.height
    camera_to_world = np.asarray(view["camera_to_world"], dtype=np.float64)
    proj = np.asarray(view["projection"], dtype=np.float64)  # row-major
    w2c = _CV_FROM_GODOT @ np.linalg.inv(camera_to_world)
    return Camera(
        fx=proj[0, 0] * width / 2,
        fy=proj[1, 1] * height / 2,
        cx=(1.0 - proj[0, 2]) * width / 2,
        cy=(1.0 + proj[1, 2]) * height / 2,
        world_to_camera=torch.from_numpy(w2c),
        width=width,
        height=height,
        near=camera.near,
        far=camera.far,
    )
