"""Visual tests: Godot's SplatInstance3D (software rendering on a virtual display) against the
backend's own renderer, on the same cloud from the same camera."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from continuum.godot_render import render_in_godot
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.fit import psnr
from continuum.splats.pack import pack_splats, unpack_splats
from continuum.splats.render import make_benchmark_scene, render_splats

pytestmark = pytest.mark.godot
MIN_PSNR_DB = 28.0


def visual_test_cloud(n: int = 3000, *, seed: int = 0) -> SplatCloud:
    """Splats on a lumpy shell of radius ~1 around the origin: varied colours (SH degree 1),
    sizes, shapes and opacities, overlapping enough that the depth order matters."""
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    radius = 0.8 + 0.3 * torch.rand(n, 1, generator=gen)
    sh = torch.zeros(n, 4, 3)
    sh[:, 0] = (torch.rand(n, 3, generator=gen) - 0.5) * 3.0
    sh[:, 1:] = 0.3 * torch.randn(n, 3, 3, generator=gen)
    return SplatCloud(
        means=dirs * radius,
        quats=torch.randn(n, 4, generator=gen),
        log_scales=math.log(0.04) + 0.5 * torch.randn(n, 3, generator=gen),
        opacity_logits=torch.randn(n, generator=gen) * 1.5 + 0.5,
        sh=sh,
    )


def _backend_view(cloud: SplatCloud, camera: Camera) -> torch.Tensor:
    return render_splats(cloud, camera, backend="cpu").rgb.clamp(0.0, 1.0)


def _save_on_failure(tmp_path, name: str, *images: torch.Tensor) -> str:
    row = torch.cat(images, dim=1)
    path = tmp_path / f"{name}.png"
    Image.fromarray((row.numpy() * 255).round().astype("uint8")).save(path)
    return str(path)


def _check_mono(tmp_path, cloud: SplatCloud, camera: Camera, name: str) -> None:
    # Compare with what Godot actually received: the pack's half-precision values.
    cloud = unpack_splats(pack_splats(cloud))
    frame = render_in_godot(cloud, camera)
    expected = _backend_view(cloud, camera)
    db = psnr(frame.image, expected)
    assert db >= MIN_PSNR_DB, (
        f"psnr_vs_backend_db {db:.2f} < {MIN_PSNR_DB}; images (Godot | backend) in "
        + _save_on_failure(tmp_path, name, frame.image, expected)
    )
    # Not trivially equal: the frame shows the cloud, not an empty background.
    assert float(frame.image.mean()) > 0.05


def test_godot_draws_what_the_backend_draws(tmp_path):
    camera = Camera.look_at((0.6, 0.4, 3.0), (0.0, 0.0, 0.0), fov_y_deg=50.0, width=320, height=240)
    _check_mono(tmp_path, visual_test_cloud(), camera, "shell")


def test_view_dependent_colour_up_to_sh_degree_3(tmp_path):
    cloud, camera = make_benchmark_scene(4000, 256)
    _check_mono(tmp_path, cloud, camera, "sh3")


def test_each_eye_of_a_stereo_view_matches_the_backend_from_that_eye(tmp_path):
    cloud = unpack_splats(pack_splats(visual_test_cloud()))
    head = Camera.look_at((0.0, 0.2, 2.0), (0.0, 0.0, 0.0), fov_y_deg=50.0, width=320, height=240)
    frame = render_in_godot(cloud, head, stereo=True)
    assert len(frame.views) == 2
    half = frame.image.shape[1] // 2
    eyes = [frame.image[:, :half], frame.image[:, half:]]
    expected = [_backend_view(cloud, camera) for camera in frame.views]
    for name, got, want in zip(("left", "right"), eyes, expected, strict=True):
        db = psnr(got, want)
        assert db >= MIN_PSNR_DB, (
            f"{name} eye: psnr {db:.2f} < {MIN_PSNR_DB}; images (Godot | backend) in "
            + _save_on_failure(tmp_path, name, got, want)
        )
    # The eyes see different images, and each matches its own view better than the other's.
    assert psnr(eyes[0], expected[0]) > psnr(eyes[0], expected[1]) + 3.0
    assert psnr(eyes[1], expected[1]) > psnr(eyes[1], expected[0]) + 3.0


@pytest.mark.parametrize("method", ["forward_plus", "mobile"])
def test_the_vulkan_renderers_draw_the_same_splats(tmp_path, method):
    """Forward+ and Mobile (Vulkan, lavapipe) run the same shader, but blend in linear light
    where the backend blends display values: soft edges come out brighter (about 22 dB here), so
    the bar is lower than the Compatibility renderer's (over 50 dB)."""
    cloud = unpack_splats(pack_splats(visual_test_cloud()))
    camera = Camera.look_at((0.6, 0.4, 3.0), (0.0, 0.0, 0.0), fov_y_deg=50.0, width=320, height=240)
    frame = render_in_godot(cloud, camera, rendering_method=method)
    assert frame.info["renderer"] == method
    expected = _backend_view(cloud, camera)
    db = psnr(frame.image, expected)
    assert db >= 20.0, f"{method}: psnr {db:.2f}; images in " + _save_on_failure(
        tmp_path, method, frame.image, expected
    )
