"""render_splats: every backend against the brute-force reference, edge cases, and arguments."""

import math

import pytest
import torch

from continuum.splats import SplatCloud
from continuum.splats.camera import Camera
from continuum.splats.render import make_benchmark_scene, render_splats
from continuum.splats.sh import rgb_to_sh0
from tests.unit.splats.scenes import random_scene

TILED = ["cpu", "torch"]
F64 = torch.float64


def _random_scene(n=150, width=40, height=30, seed=0, degree=2) -> tuple[SplatCloud, Camera]:
    """Gaussians of all sizes and opacities around the origin, a camera 4 m away."""
    return random_scene(
        n,
        width,
        height,
        seed=seed,
        degree=degree,
        spread=0.8,
        log_scale=(0.7, -2.2),
        opacity=(2.0, 0.5),
        sh_scale=0.4,
        eye=(0.5, 0.8, 4.0),
        fov_y_deg=50,
        background=(0.2, 0.4, 0.9),
    )


def _assert_same(out, ref, atol):
    for field in ("rgb", "alpha", "depth"):
        torch.testing.assert_close(getattr(out, field), getattr(ref, field), rtol=0, atol=atol)


@pytest.mark.parametrize("backend", TILED)
@pytest.mark.parametrize("seed", [0, 1])
def test_tiled_backends_match_reference(backend, seed):
    cloud, camera = _random_scene(seed=seed)
    ref = render_splats(cloud, camera, backend="reference")
    assert 0.3 < ref.alpha.mean() < 0.99  # a scene with both cover and gaps
    _assert_same(render_splats(cloud, camera, backend=backend), ref, atol=1e-10)


@pytest.mark.parametrize("backend", TILED)
def test_float32_matches_reference(backend):
    cloud, camera = make_benchmark_scene(1500, 48, seed=4)
    ref = render_splats(cloud, camera, backend="reference")
    out = render_splats(cloud, camera, backend=backend)
    assert out.rgb.dtype == torch.float32
    _assert_same(out, ref, atol=5e-5)


@pytest.mark.parametrize("backend", TILED)
def test_lower_sh_degree(backend):
    cloud, camera = _random_scene(degree=3)
    ref = render_splats(cloud, camera, backend="reference", sh_degree=1)
    _assert_same(render_splats(cloud, camera, backend=backend, sh_degree=1), ref, atol=1e-10)
    truncated = render_splats(cloud.with_sh_degree(1), camera, backend="reference")
    _assert_same(truncated, ref, atol=1e-12)


def test_outputs_shape_dtype_and_auto_backend():
    cloud, camera = _random_scene(width=24, height=16)
    out = render_splats(cloud.to(dtype=torch.float32), camera)  # auto: cpu without CUDA
    assert out.rgb.shape == (16, 24, 3) and out.alpha.shape == out.depth.shape == (16, 24)
    assert {t.dtype for t in (out.rgb, out.alpha, out.depth)} == {torch.float32}
    ref = render_splats(cloud.to(dtype=torch.float32), camera, backend="reference")
    _assert_same(out, ref, atol=5e-5)


def _single(mean, log_scale, logit, rgb=(1.0, 0.0, 0.0)) -> SplatCloud:
    return SplatCloud(
        torch.tensor([mean], dtype=F64),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=F64),
        torch.tensor([log_scale], dtype=F64),
        torch.tensor([logit], dtype=F64),
        rgb_to_sh0(torch.tensor([[rgb]], dtype=F64)),
    )


def _front_camera(width=32, height=32, background=(0.0, 0.0, 0.0)) -> Camera:
    """Looking down scene -Z from z = 2; the pixel grid spans about [-1, 1] at z = 0."""
    return Camera.look_at(
        (0.0, 0.0, 2.0),
        (0, 0, 0),
        fov_y_deg=53.13,
        width=width,
        height=height,
        background=background,
    )


@pytest.mark.parametrize("backend", ["reference", *TILED])
def test_one_gaussian_by_hand(backend):
    """At the centre pixel alpha = opacity; rgb = colour * alpha + background * (1 - alpha)."""
    camera = Camera(
        fx=16.0,
        fy=16.0,
        cx=16.5,
        cy=16.5,
        world_to_camera=torch.eye(4),
        width=32,
        height=32,
        background=(0.0, 0.0, 1.0),
    )
    opacity = 0.6
    cloud = _single([0.0, 0.0, 2.0], [math.log(0.1)] * 3, math.log(opacity / (1 - opacity)))
    out = render_splats(cloud, camera, backend=backend)
    # The mean lands on pixel (16, 16)'s centre; sigma_px^2 = (16 * 0.1 / 2)^2 + 0.3 there.
    assert out.alpha[16, 16].item() == pytest.approx(opacity, abs=1e-12)
    assert out.rgb[16, 16].tolist() == pytest.approx([opacity, 0.0, 1 - opacity], abs=1e-12)
    assert out.depth[16, 16].item() == pytest.approx(2.0 * opacity, abs=1e-12)
    var = (16 * 0.1 / 2) ** 2 + 0.3
    assert out.alpha[16, 17].item() == pytest.approx(opacity * math.exp(-0.5 / var), abs=1e-12)
    assert out.alpha[0, 0].item() == 0.0 and out.rgb[0, 0].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("backend", ["reference", *TILED])
def test_alpha_clamp_and_early_stop(backend):
    """Three layers over the centre pixel: an opaque one composites only 0.99, a half-transparent
    one 0.5 of the rest, and the pixel stops before the third, which would take T from 0.005 to
    5e-5 < 1e-4."""
    layers = [
        _single([0.0, 0.0, z], [-0.5, -0.5, -3.0], logit, rgb)
        for z, logit, rgb in [
            (0.2, 12.0, (1.0, 0.0, 0.0)),
            (0.0, 0.0, (0.0, 1.0, 0.0)),
            (-0.2, 12.0, (0.0, 0.0, 1.0)),
        ]
    ]
    # An odd size puts the principal point, and so the Gaussians, on pixel (16, 16)'s centre.
    out = render_splats(SplatCloud.concatenate(layers), _front_camera(33, 33), backend=backend)
    assert out.rgb[16, 16].tolist() == pytest.approx([0.99, 0.005, 0.0], abs=1e-12)
    assert out.alpha[16, 16].item() == pytest.approx(0.995, abs=1e-12)
    assert out.depth[16, 16].item() == pytest.approx(0.99 * 1.8 + 0.005 * 2.0, abs=1e-12)


@pytest.mark.parametrize("backend", ["reference", *TILED])
def test_empty_cloud_draws_the_background(backend):
    camera = _front_camera(width=20, height=10, background=(0.1, 0.2, 0.3))
    out = render_splats(SplatCloud.empty(sh_degree=1), camera, backend=backend)
    assert torch.equal(out.rgb, torch.tensor([0.1, 0.2, 0.3]).expand(10, 20, 3))
    assert not out.alpha.any() and not out.depth.any()


@pytest.mark.parametrize("backend", ["reference", *TILED])
def test_all_behind_the_camera(backend):
    cloud, camera = _random_scene(n=40)
    # Mirrored through the camera centre: every Gaussian now lies behind it.
    behind = SplatCloud(2 * camera.centre - cloud.means, *cloud._tensors()[1:])
    depth = behind.means @ camera.world_to_camera[:3, :3].T + camera.world_to_camera[:3, 3]
    assert (depth[:, 2] < camera.near).all()
    for t in behind._tensors():
        t.requires_grad_(True)
    out = render_splats(behind, camera, backend=backend)
    assert torch.equal(out.rgb, torch.tensor(camera.background, dtype=F64).expand_as(out.rgb))
    assert not out.alpha.any() and not out.depth.any()
    (out.rgb.sum() + out.alpha.sum() + out.depth.sum()).backward()
    assert all(t.grad is not None and not t.grad.any() for t in behind._tensors())


@pytest.mark.parametrize("backend", TILED)
def test_gaussian_straddling_tiles(backend):
    """A large Gaussian centred on the corner where four 16x16 tiles meet, and a thin one
    along a tile border, cut by the image edge."""
    camera = Camera(
        fx=20.0, fy=20.0, cx=16.0, cy=16.0, world_to_camera=torch.eye(4), width=40, height=24
    )
    big = _single([0.0, 0.0, 2.0], [math.log(0.4)] * 3, 1.0)
    thin = _single([1.6, 0.0, 2.5], [math.log(0.02), math.log(2.0), math.log(0.02)], 3.0)
    cloud = SplatCloud.concatenate([big, thin])
    ref = render_splats(cloud, camera, backend="reference")
    assert (ref.alpha[:16, :16] > 0).any() and (ref.alpha[16:, 16:] > 0).any()
    _assert_same(render_splats(cloud, camera, backend=backend), ref, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", *TILED])
def test_zero_scales(backend):
    """Degenerate Gaussians (scale 0, log-scale -inf) still draw as the 0.3 px^2 dilation."""
    cloud, camera = _random_scene(n=30)
    flat = cloud.log_scales.clone()
    flat[:10] = -math.inf
    flat[10:20, 1] = -math.inf
    cloud = SplatCloud(cloud.means, cloud.quats, flat, cloud.opacity_logits, cloud.sh)
    out = render_splats(cloud, camera, backend=backend)
    assert all(torch.isfinite(t).all() for t in (out.rgb, out.alpha, out.depth))
    if backend != "reference":
        _assert_same(out, render_splats(cloud, camera, backend="reference"), atol=1e-10)


@pytest.mark.parametrize("backend", TILED)
def test_many_gaussians_tiny_image(backend):
    cloud, camera = make_benchmark_scene(20_000, 6, seed=2, dtype=F64)
    ref = render_splats(cloud, camera, backend="reference")
    assert ref.alpha.min() > 0.999  # every pixel saturates, so the early stop matters
    _assert_same(render_splats(cloud, camera, backend=backend), ref, atol=1e-10)


def test_errors_name_the_argument():
    cloud, camera = _random_scene(n=5, degree=1)
    with pytest.raises(ValueError, match=r"sh_degree must lie in 0\.\.1.*got 2"):
        render_splats(cloud, camera, sh_degree=2)
    with pytest.raises(ValueError, match="backend must be one of"):
        render_splats(cloud, camera, backend="opengl")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="needs CUDA"):
            render_splats(cloud, camera, backend="gsplat")
    big, cam = make_benchmark_scene(5000, 128)
    with pytest.raises(ValueError, match="every Gaussian at every pixel"):
        render_splats(big, cam, backend="reference")


def test_benchmark_scene():
    cloud, camera = make_benchmark_scene(4000, 256, seed=7)
    again, _ = make_benchmark_scene(4000, 256, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(cloud._tensors(), again._tensors(), strict=True))
    assert len(cloud) == 4000 and cloud.sh_degree == 3 and cloud.dtype == torch.float32
    assert (camera.width, camera.height) == (256, 256)
    opacity = cloud.opacities()
    assert opacity.min() >= 0.1 and opacity.max() <= 0.9
    # Mean 3-sigma screen radius (geometric mean of the axes) ~ 2% of the width.
    depth = -cloud.means[:, 2]
    assert (depth > 3.9).all() and (depth < 8.1).all()
    radius = 3 * camera.fx * cloud.log_scales.mean(dim=1).exp() / depth
    assert radius.mean().item() == pytest.approx(0.02 * 256, rel=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat renders on CUDA only")
def test_gsplat_matches_reference():
    cloud, camera = _random_scene(seed=2)
    # Opacities below 0.99, where gsplat's alpha clamp (0.999) and ours (0.99) agree.
    cloud = SplatCloud(*cloud._tensors()[:3], cloud.opacity_logits.clamp_max(4.0), cloud.sh)
    ref = render_splats(cloud, camera, backend="reference")
    out = render_splats(cloud, camera, backend="gsplat")
    assert out.rgb.device == cloud.device and out.rgb.dtype == F64
    _assert_same(out, ref, atol=1e-4)


@pytest.mark.parametrize("backend", ["reference", *TILED])
def test_non_finite_gaussians_are_not_drawn(backend):
    cloud, camera = _random_scene(n=30)
    means, quats, log_scales = cloud.means.clone(), cloud.quats.clone(), cloud.log_scales.clone()
    means[0] = math.nan
    quats[1] = math.nan
    log_scales[2] = math.inf
    log_scales[3, 0] = math.inf
    broken = SplatCloud(means, quats, log_scales, cloud.opacity_logits, cloud.sh)
    healthy = cloud.select(torch.arange(4, 30))
    _assert_same(
        render_splats(broken, camera, backend=backend),
        render_splats(healthy, camera, backend=backend),
        atol=1e-12,
    )
