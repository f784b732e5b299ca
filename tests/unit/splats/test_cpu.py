"""The CPU renderer's own pieces: gradients, binning, determinism, and its exp."""

import math

import numpy as np
import pytest
import torch

from continuum.splats import SplatCloud
from continuum.splats import _cpu_kernels as kernels
from continuum.splats._project import project
from continuum.splats._torch_tiles import _bin
from continuum.splats.camera import Camera
from continuum.splats.render import make_benchmark_scene, render_splats
from tests.unit.splats.scenes import random_scene

F64 = torch.float64


def _scene(n, width, height, seed=0, degree=2) -> tuple[SplatCloud, Camera]:
    # Opacity logits around 1: some Gaussians pass the 0.99 alpha clamp.
    return random_scene(
        n,
        width,
        height,
        seed=seed,
        degree=degree,
        spread=0.7,
        log_scale=(0.5, -1.8),
        opacity=(2.0, 1.0),
        sh_scale=0.5,
        eye=(0.4, -0.6, 3.5),
        fov_y_deg=55,
        background=(0.3, 0.1, 0.6),
    )


def _loss_weights(camera: Camera, seed=1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (camera.height, camera.width)
    return tuple(torch.randn(*s, generator=g, dtype=F64) for s in ((*shape, 3), shape, shape))


def _gradients(cloud: SplatCloud, camera: Camera, backend: str) -> list[torch.Tensor]:
    params = [t.detach().clone().requires_grad_(True) for t in cloud._tensors()]
    out = render_splats(SplatCloud(*params), camera, backend=backend)
    w_rgb, w_alpha, w_depth = _loss_weights(camera)
    loss = (out.rgb * w_rgb).sum() + (out.alpha * w_alpha).sum() + (out.depth * w_depth).sum()
    loss.backward()
    return [p.grad for p in params]


NAMES = ("means", "quats", "log_scales", "opacity_logits", "sh")


@pytest.mark.parametrize("other", ["reference", "torch"])
def test_gradients_match_autograd(other):
    """Against autograd through the dense reference and through the torch tile renderer."""
    cloud, camera = _scene(120, 40, 32)
    ours = _gradients(cloud, camera, "cpu")
    theirs = _gradients(cloud, camera, other)
    for name, a, b in zip(NAMES, ours, theirs, strict=True):
        assert b.abs().max() > 0, name
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * b.abs().max().item(), msg=name)


def test_gradients_match_finite_differences():
    cloud, camera = _scene(5, 14, 11, seed=3, degree=1)
    w_rgb, w_alpha, w_depth = _loss_weights(camera)

    def render(*tensors):
        out = render_splats(SplatCloud(*tensors), camera, backend="cpu")
        return (out.rgb * w_rgb).sum(), (out.alpha * w_alpha).sum(), (out.depth * w_depth).sum()

    inputs = tuple(t.clone().requires_grad_(True) for t in cloud._tensors())
    assert render(*inputs)[1].item() != 0  # the Gaussians are in view
    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_float32_gradients():
    cloud, camera = make_benchmark_scene(800, 40, seed=5)
    ours = _gradients(cloud, camera, "cpu")
    ref = _gradients(cloud.to(dtype=F64), camera, "reference")
    for name, a, b in zip(NAMES, ours, ref, strict=True):
        assert a.dtype == torch.float32, name
        torch.testing.assert_close(a.double(), b, rtol=1e-3, atol=1e-4 * b.abs().max().item())


def test_backward_is_deterministic():
    cloud, camera = make_benchmark_scene(3000, 96, seed=1, dtype=F64)
    first, second = (_gradients(cloud, camera, "cpu") for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_binning_matches_the_torch_renderer():
    cloud, camera = make_benchmark_scene(2000, 100, seed=3, dtype=F64)
    camera = Camera(
        camera.fx, camera.fy, camera.cx, camera.cy, camera.world_to_camera, 100, 70
    )  # partial tiles on both edges
    proj = project(cloud, camera, sh_degree=0)
    visible = torch.nonzero(proj.visible()).squeeze(1)
    order = visible[torch.sort(proj.depths[visible], stable=True).indices]
    features = torch.zeros(len(cloud), kernels.NUM_FEATURES, dtype=F64)
    features[:, [kernels.F_MX, kernels.F_MY]] = proj.means2d.detach()
    features[:, [kernels.F_RX, kernels.F_RY]] = proj.radii.double()
    offsets, ids = kernels.bin_tiles(features.numpy(), order.numpy(), 100, 70)
    tiles_x = math.ceil(100 / 16)
    torch_offsets, torch_ids = _bin(proj, 100, 70, tiles_x)
    assert offsets.tolist() == torch_offsets.tolist()
    assert ids.tolist() == torch_ids.tolist()
    assert len(offsets) == tiles_x * math.ceil(70 / 16) + 1
    # Each list runs front to back.
    depths = proj.depths.detach().numpy()
    for t in range(len(offsets) - 1):
        assert np.all(np.diff(depths[ids[offsets[t] : offsets[t + 1]]]) >= 0)


def test_exp_neg_accuracy():
    s = np.linspace(0.0, kernels.EXP_DOMAIN, 200_001)
    ours = np.array([kernels.exp_neg(x) for x in s[::101]])
    exact = np.exp(-s[::101])
    assert np.max(np.abs(ours / exact - 1)) < 4 * np.finfo(np.float64).eps
    # And it is below ALPHA_MIN where the clamp takes over.
    assert math.exp(-kernels.EXP_DOMAIN) < 1 / 255
