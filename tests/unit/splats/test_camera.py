import math

import pytest
import torch

from continuum.splats.camera import Camera


def _to_camera(camera: Camera, point) -> torch.Tensor:
    p = torch.tensor([*point, 1.0], dtype=torch.float64)
    return (camera.world_to_camera @ p)[:3]


def _pixel(camera: Camera, point) -> tuple[float, float]:
    x, y, z = _to_camera(camera, point).tolist()
    return camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy


def test_look_at_uses_opencv_axes():
    cam = Camera.look_at((1.0, 2.0, 3.0), (1.0, 2.0, -2.0), fov_y_deg=60, width=64, height=48)
    # The target lies straight ahead, 5 m down camera +z, at the principal point.
    assert torch.allclose(_to_camera(cam, (1.0, 2.0, -2.0)), torch.tensor([0.0, 0.0, 5.0]).double())
    assert _pixel(cam, (1.0, 2.0, -2.0)) == pytest.approx((32.0, 24.0))
    # Scene +X shows to the right (+x), scene +Y (up) towards the top row (-y).
    right = _to_camera(cam, (2.0, 2.0, -2.0)) - _to_camera(cam, (1.0, 2.0, -2.0))
    up = _to_camera(cam, (1.0, 3.0, -2.0)) - _to_camera(cam, (1.0, 2.0, -2.0))
    assert right.tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert up.tolist() == pytest.approx([0.0, -1.0, 0.0])
    assert cam.centre.tolist() == pytest.approx([1.0, 2.0, 3.0])


def test_look_at_from_an_angle_keeps_the_target_centred():
    cam = Camera.look_at((3.0, -1.0, 2.0), (0.5, 0.2, -0.7), fov_y_deg=45, width=40, height=30)
    assert _pixel(cam, (0.5, 0.2, -0.7)) == pytest.approx((20.0, 15.0))
    assert cam.centre.tolist() == pytest.approx([3.0, -1.0, 2.0])


def test_from_fov_intrinsics():
    cam = Camera.from_fov(torch.eye(4), fov_y_deg=90, width=200, height=100, background=(1, 0, 0))
    assert cam.fx == pytest.approx(50.0) and cam.fy == pytest.approx(50.0)
    assert (cam.cx, cam.cy) == (100.0, 50.0)
    assert cam.background == (1.0, 0.0, 0.0)
    k = cam.intrinsics()
    assert k.dtype == torch.float64
    assert k.tolist() == [[cam.fx, 0.0, 100.0], [0.0, cam.fy, 50.0], [0.0, 0.0, 1.0]]
    # The top edge of the image sits at half the field of view.
    assert _pixel(cam, (0.0, -math.tan(math.radians(45)), 1.0))[1] == pytest.approx(0.0)


def test_world_to_camera_is_stored_as_detached_float64():
    w2c = torch.eye(4, dtype=torch.float32, requires_grad=True)
    cam = Camera(10.0, 10.0, 4.0, 4.0, w2c, 8, 8)
    assert cam.world_to_camera.dtype == torch.float64
    assert not cam.world_to_camera.requires_grad


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"fx": 0.0}, "fx must be a positive focal length"),
        ({"fy": float("nan")}, "fy must be a positive"),
        ({"cx": float("inf")}, "cx must be finite"),
        ({"width": 0}, "width must be a positive int"),
        ({"height": 2.5}, "height must be a positive int"),
        ({"near": 0.0}, "0 < near < far"),
        ({"near": 5.0, "far": 1.0}, "0 < near < far"),
        ({"background": (1.0, 0.0)}, "background must be 3 finite floats"),
        ({"world_to_camera": torch.eye(3)}, "finite 4x4"),
        ({"world_to_camera": 2 * torch.eye(4)}, "must be rigid"),
        ({"world_to_camera": torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0]))}, "det \\+1"),
    ],
)
def test_validation_names_the_field(change, words):
    args = {
        "fx": 10.0,
        "fy": 10.0,
        "cx": 4.0,
        "cy": 4.0,
        "world_to_camera": torch.eye(4),
        "width": 8,
        "height": 8,
    }
    args.update(change)
    with pytest.raises(ValueError, match=words):
        Camera(**args)


def test_look_at_rejects_degenerate_views():
    with pytest.raises(ValueError, match="eye != target"):
        Camera.look_at((1, 1, 1), (1, 1, 1), fov_y_deg=60, width=8, height=8)
    with pytest.raises(ValueError, match="not parallel"):
        Camera.look_at((0, 0, 0), (0, 5, 0), fov_y_deg=60, width=8, height=8)
    with pytest.raises(ValueError, match=r"fov_y_deg must lie in \(0, 180\)"):
        Camera.look_at((0, 0, 0), (0, 0, -1), fov_y_deg=180, width=8, height=8)
