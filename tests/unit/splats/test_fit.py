import json
import math

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from continuum.errors import ContinuumError
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud
from continuum.splats.fit import (
    FitConfig,
    _densify_and_prune,
    _DensifyStats,
    _Parameters,
    _Schedule,
    fit_splats,
    psnr,
    read_views,
    ssim,
)
from continuum.splats.mesh import mesh_to_splats
from continuum.splats.render import render_splats
from continuum.splats.sh import C0

WIDTH = 32


@pytest.fixture(scope="module")
def cube_views() -> tuple[SplatCloud, list[torch.Tensor], list[Camera]]:
    """A cube with random face colours, seen by 8 small cameras around it."""
    cube = trimesh.creation.box()
    cube.unmerge_vertices()
    cube.visual.face_colors = np.random.default_rng(0).integers(30, 255, (12, 4))
    cube.visual.face_colors[:, 3] = 255
    truth = mesh_to_splats(cube, count=1500)
    cameras = [
        Camera.look_at(
            (2.5 * math.cos(a), 1.2 if i % 2 else -0.8, 2.5 * math.sin(a)),
            (0.0, 0.0, 0.0),
            fov_y_deg=50.0,
            width=WIDTH,
            height=WIDTH,
        )
        for i, a in enumerate(np.linspace(0, 2 * math.pi, 8, endpoint=False))
    ]
    with torch.no_grad():
        images = [render_splats(truth, c, backend="cpu").rgb for c in cameras]
    return truth, images, cameras


def mean_psnr(cloud: SplatCloud, images, cameras) -> float:
    with torch.no_grad():
        return float(
            np.mean(
                [
                    psnr(render_splats(cloud, c, backend="cpu").rgb.clamp(0, 1), image)
                    for image, c in zip(images, cameras, strict=True)
                ]
            )
        )


def test_fit_from_random_init_lowers_the_loss_and_matches_the_views(cube_views):
    _, images, cameras = cube_views
    config = FitConfig(random_count=300, max_gaussians=1000, sh_degree=1)
    result = fit_splats(
        images, cameras, init="random", steps=120, config=config, progress=False, backend="cpu"
    )
    assert len(result.losses) == len(result.counts) == 120
    assert np.mean(result.losses[-10:]) < 0.4 * np.mean(result.losses[:10])
    assert max(result.counts) <= 1000 and result.counts[-1] > 300  # densified, within bound
    assert result.cloud.sh_degree == 1 and not result.cloud.means.requires_grad
    assert mean_psnr(result.cloud, images, cameras) > 17.0


def test_fit_from_coloured_points_sharpens_the_views(cube_views):
    truth, images, cameras = cube_views
    colours = truth.sh[:, 0] * C0 + 0.5
    points = torch.cat([truth.means, colours], dim=1)[::3]  # [N, 6]: position and colour
    # The counts unscaled: densification (from step 500) and resets never start.
    config = FitConfig(sh_degree=0, reference_steps=60)
    start = fit_splats(images, cameras, init=points, steps=1, config=config, progress=False)
    assert len(start.cloud) == len(points)
    result = fit_splats(
        images, cameras, init=points, steps=60, config=config, progress=False, backend="cpu"
    )
    before = mean_psnr(start.cloud, images, cameras)
    after = mean_psnr(result.cloud, images, cameras)
    assert after > 22.0 and after > before + 3.0


def test_densify_and_prune_keep_the_adam_state_row_aligned():
    n = 10
    cloud = SplatCloud(
        means=torch.randn(n, 3),
        quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        # Gaussians 0..4 small (cloned when selected), 5..9 large (split when selected).
        log_scales=torch.log(torch.tensor([0.001] * 5 + [0.1] * 5))[:, None].repeat(1, 3),
        opacity_logits=torch.zeros(n),
        sh=torch.zeros(n, 4, 3),
    )
    params = _Parameters(cloud, FitConfig(), extent=1.0)
    sum(t.sum() for t in params.tensors.values()).backward()
    params.step()  # Adam now has moments for every tensor
    split_scales = params.tensors["log_scales"].detach()[[6, 7]].exp() / 1.6
    with torch.no_grad():
        params.tensors["opacity_logits"][9] = -10.0  # transparent: pruned
    stats = _DensifyStats(n)
    stats.views[:] = 1.0
    stats.grad_sum[[0, 1, 6, 7]] = 1.0  # over the threshold: clone 0, 1; split 6, 7
    _densify_and_prune(
        params,
        stats,
        FitConfig(),
        extent=1.0,
        prune_large=False,
        generator=torch.Generator().manual_seed(0),
    )
    # 10 - 2 split + 2 clones + 4 halves - 1 pruned
    assert params.count == 13
    assert len(stats.grad_sum) == 13 and stats.views.sum() == 0  # statistics restart
    for group in params.optimizer.param_groups:
        tensor = group["params"][0]
        assert tensor is params.tensors[group["name"]]
        state = params.optimizer.state[tensor]
        assert state["exp_avg"].shape == tensor.shape == state["exp_avg_sq"].shape
        assert state["exp_avg"][-6:].abs().sum() == 0  # new rows start from zero moments
    halves = params.tensors["log_scales"].detach()[-4:].exp()
    assert torch.allclose(halves, split_scales.repeat(2, 1))
    assert (torch.sigmoid(params.tensors["opacity_logits"]) > 0.1).all()
    # A step still runs on the new tensors.
    sum(t.sum() for t in params.tensors.values()).backward()
    params.step()


def test_max_gaussians_limits_growth_and_opacity_reset_caps():
    n = 6
    cloud = SplatCloud(
        torch.randn(n, 3),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        torch.full((n, 3), math.log(0.001)),
        torch.full((n,), 3.0),
        torch.zeros(n, 1, 3),
    )
    params = _Parameters(cloud, FitConfig(), extent=1.0)
    stats = _DensifyStats(n)
    stats.views[:] = 1.0
    stats.grad_sum[:] = torch.arange(n, dtype=torch.float32) + 1
    config = FitConfig(max_gaussians=8)
    _densify_and_prune(params, stats, config, 1.0, prune_large=False, generator=torch.Generator())
    assert params.count == 8
    assert torch.equal(params.tensors["means"][-2:], cloud.means[[5, 4]])  # the two highest
    params.reset_opacity(0.01)
    assert torch.allclose(torch.sigmoid(params.tensors["opacity_logits"]), torch.full((8,), 0.01))


def test_schedule_scales_to_the_budget():
    schedule = _Schedule(FitConfig(), 3000)
    assert (schedule.densify_from, schedule.densify_until, schedule.densify_every) == (
        50,
        1500,
        10,
    )
    assert (schedule.opacity_reset_every, schedule.sh_degree_every) == (300, 100)
    assert schedule.means_lr(0) == pytest.approx(1.6e-4)
    assert schedule.means_lr(3000) == pytest.approx(1.6e-6)
    unscaled = _Schedule(FitConfig(reference_steps=100), 100)
    assert unscaled.densify_every == 100 and unscaled.densify_from == 500
    assert _Schedule(FitConfig(), 10).densify_every == 1  # never below one step


def test_ssim_and_psnr():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(24, 24, 3, generator=gen)
    assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-6)
    noisy = (a + 0.2 * torch.randn(24, 24, 3, generator=gen)).clamp(0, 1)
    assert ssim(a, noisy).item() < 0.9
    assert psnr(a, a) == math.inf
    assert psnr(torch.zeros(4, 4, 3), torch.full((4, 4, 3), 0.1)) == pytest.approx(20.0)


def test_bad_inputs_are_named(cube_views):
    _, images, cameras = cube_views
    with pytest.raises(ValueError, match="one image per camera"):
        fit_splats(images[:2], cameras[:3], steps=1)
    with pytest.raises(ValueError, match=r"images\[0\] must have shape \[32, 32, 3\]"):
        fit_splats([images[0][:16]], cameras[:1], steps=1)
    with pytest.raises(ValueError, match=r"\[N, 3\] or \[N, 6\]"):
        fit_splats(images, cameras, init=torch.zeros(5, 4), steps=1)
    with pytest.raises(ValueError, match="'random'"):
        fit_splats(images, cameras, init="sphere", steps=1)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        fit_splats(images, cameras, steps=0)


def test_uint8_images_and_grey_points(cube_views):
    truth, images, cameras = cube_views
    as_bytes = [(image.clamp(0, 1) * 255).round().to(torch.uint8) for image in images]
    result = fit_splats(as_bytes, cameras, init=truth.means[::5], steps=2, progress=False)
    assert len(result.cloud) == len(truth.means[::5])
    grey = result.cloud.sh[:, 0] * C0 + 0.5  # two steps from grey
    assert result.cloud.sh_degree == 3 and (grey - 0.5).abs().max() < 0.01


def test_random_init_fills_the_box(cube_views):
    _, images, cameras = cube_views
    box = ((0.0, 0.0, 0.0), (1.0, 2.0, 3.0))
    config = FitConfig(random_count=200, random_box=box)
    cloud = fit_splats(images, cameras, steps=1, config=config, progress=False).cloud
    assert len(cloud) == 200
    lo, hi = cloud.bounding_box()
    assert (lo > -0.01).all() and (hi < torch.tensor([1.0, 2.0, 3.0]) + 0.01).all()
    assert (hi - lo > torch.tensor([0.8, 1.6, 2.4])).all()  # spread over all of it


@pytest.mark.parametrize(
    ("field", "value"),
    [("sh_degree", 4), ("densify_every", 0), ("max_gaussians", 0), ("init_opacity", 1.0)],
)
def test_config_is_checked(field, value):
    with pytest.raises(ValueError, match=field):
        FitConfig(**{field: value})


def write_views(folder, images, cameras) -> None:
    entries = []
    for i, (image, camera) in enumerate(zip(images, cameras, strict=True)):
        name = f"{i:03d}.png"
        pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / name)
        entries.append(
            {
                "image": name,
                "width": camera.width,
                "height": camera.height,
                "fx": camera.fx,
                "fy": camera.fy,
                "cx": camera.cx,
                "cy": camera.cy,
                "world_to_camera": camera.world_to_camera.tolist(),
            }
        )
    (folder / "cameras.json").write_text(json.dumps({"cameras": entries}))


def test_read_views_round_trips(tmp_path, cube_views):
    _, images, cameras = cube_views
    write_views(tmp_path, images[:3], cameras[:3])
    read_images, read_cameras = read_views(tmp_path)
    assert len(read_images) == 3
    assert torch.allclose(read_images[1], images[1].clamp(0, 1), atol=0.5 / 255 + 1e-6)
    assert torch.allclose(read_cameras[2].world_to_camera, cameras[2].world_to_camera)
    assert read_cameras[0].fx == cameras[0].fx


def test_read_views_errors(tmp_path, cube_views):
    _, images, cameras = cube_views
    with pytest.raises(ContinuumError, match="no cameras file"):
        read_views(tmp_path)
    (tmp_path / "cameras.json").write_text("[1, 2]")
    with pytest.raises(ContinuumError, match="'cameras' list"):
        read_views(tmp_path / "cameras.json")
    write_views(tmp_path, images[:1], cameras[:1])
    data = json.loads((tmp_path / "cameras.json").read_text())
    data["cameras"][0]["width"] = 40
    (tmp_path / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(ContinuumError, match="is 32x32, expected 40x32"):
        read_views(tmp_path)
    data["cameras"][0]["width"] = 32
    data["cameras"][0]["world_to_camera"] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    (tmp_path / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(ContinuumError, match="must be a finite 4x4 matrix"):
        read_views(tmp_path)
    del data["cameras"][0]["fx"]
    (tmp_path / "cameras.json").write_text(json.dumps(data))
    with pytest.raises(ContinuumError, match="camera 0: 'fx'"):
        read_views(tmp_path)


def test_ssim_over_a_mask_counts_only_its_pixels():
    a = torch.rand(32, 32, 3, generator=torch.Generator().manual_seed(0))
    b = a.clone()
    b[:, 16:] = torch.rand(32, 16, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[:, :5] = True  # far (more than the window's half-width) from the changed half
    assert ssim(a, b, mask=mask).item() == pytest.approx(1.0, abs=1e-5)
    assert ssim(a, b).item() < ssim(a, b, mask=mask).item()
    assert ssim(a, b, mask=~mask).item() < ssim(a, b).item()
