"""The projection against gsplat's plain-PyTorch reference (gsplat.cuda._torch_impl, gsplat 1.5).

gsplat's ``_fully_fused_projection`` and ours share the EWA model (clamped Jacobian, 0.3 px^2
dilation), so means2d, conics and depths must agree to float64 rounding. Radii are not the same
quantity: gsplat's PyTorch version uses 3.33 standard deviations per axis, ours (like gsplat's
CUDA kernel) the opacity-aware sqrt(2 ln(opacity / ALPHA_MIN)) <= 3.33. So radii are checked
against that formula applied to the covariance recovered from gsplat's conics, and the culling
is checked for what both define the same way (depth range) plus inclusion (ours is tighter).
"""

import math

import pytest
import torch
from gsplat.cuda._torch_impl import (
    _fully_fused_projection,
    _quat_scale_to_covar_preci,
    _spherical_harmonics,
)

from continuum.splats import SplatCloud
from continuum.splats._project import ALPHA_MIN, project
from continuum.splats.camera import Camera


def _scene(n=400, seed=0) -> tuple[SplatCloud, Camera]:
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    # Spread wide enough that some Gaussians fall behind the camera, beyond the image edges (and
    # the Jacobian clamp), or beyond far.
    means = torch.randn(n, 3, generator=g, dtype=f64) * torch.tensor([3.0, 2.0, 4.0], dtype=f64)
    cloud = SplatCloud(
        means,
        torch.randn(n, 4, generator=g, dtype=f64),
        torch.randn(n, 3, generator=g, dtype=f64) * 0.8 - 2.0,
        torch.randn(n, generator=g, dtype=f64) * 2.0,
        torch.randn(n, 16, 3, generator=g, dtype=f64) * 0.3,
    )
    # An off-centre principal point makes the four clamp limits differ.
    camera = Camera.look_at((0.3, 0.2, 5.0), (0.0, 0.0, 0.0), fov_y_deg=55, width=96, height=64)
    camera = Camera(
        camera.fx,
        camera.fy * 1.1,
        40.0,
        35.0,
        camera.world_to_camera,
        96,
        64,
        near=0.5,
        far=9.0,
    )
    return cloud, camera


def _gsplat_projection(cloud: SplatCloud, camera: Camera):
    covars, _ = _quat_scale_to_covar_preci(cloud.quats, cloud.scales(), compute_preci=False)
    radii, means2d, depths, conics, _ = _fully_fused_projection(
        cloud.means,
        covars,
        camera.world_to_camera[None],
        camera.intrinsics()[None],
        camera.width,
        camera.height,
        eps2d=0.3,
        near_plane=camera.near,
        far_plane=camera.far,
    )
    return radii[0], means2d[0], depths[0], conics[0]


def test_matches_gsplat_projection():
    cloud, camera = _scene()
    ours = project(cloud, camera, sh_degree=3)
    radii, means2d, depths, conics = _gsplat_projection(cloud, camera)

    torch.testing.assert_close(ours.depths, depths, rtol=1e-12, atol=1e-12)
    in_range = (depths >= camera.near) & (depths <= camera.far)
    assert 0 < in_range.sum() < len(cloud)  # the scene exercises the depth culling
    torch.testing.assert_close(ours.means2d[in_range], means2d[in_range], rtol=1e-10, atol=1e-9)
    torch.testing.assert_close(ours.conics[in_range], conics[in_range], rtol=1e-10, atol=1e-12)

    # Radii: the opacity-aware extent times the standard deviations of gsplat's covariance.
    a, b, c = conics.unbind(-1)
    det = a * c - b * b
    std = torch.stack([c / det, a / det], dim=-1).sqrt()  # [N, 2]
    extend = torch.sqrt(2 * torch.log(ours.opacities / ALPHA_MIN))
    expected = torch.ceil(extend[:, None] * std).to(torch.int32)
    drawn = ours.visible()
    assert drawn.sum() > len(cloud) // 4
    assert torch.equal(ours.radii[drawn], expected[drawn])
    assert (ours.radii[drawn] <= radii[drawn]).all()
    # Whatever we draw, gsplat draws; Gaussians outside the depth range neither draws.
    assert (radii[drawn] > 0).all()
    assert (ours.radii[~in_range] == 0).all() and (radii[~in_range] == 0).all()
    # Culled only for opacity or for being off-screen with our smaller box.
    ours_only_culled = (radii[:, 0] > 0) & ~drawn
    assert ours_only_culled.sum() < len(cloud) // 4


def test_jacobian_clamp_engages():
    cloud, camera = _scene()
    proj = project(cloud, camera, sh_degree=0)
    x_over_z = (proj.means2d[:, 0] - camera.cx) / camera.fx
    in_range = (proj.depths >= camera.near) & (proj.depths <= camera.far)
    limit = (camera.width - camera.cx) / camera.fx + 0.3 * camera.width / (2 * camera.fx)
    assert (in_range & (x_over_z > limit)).any()  # so the comparison above covers the clamp


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_colours_match_gsplat_sh(degree):
    cloud, camera = _scene(n=50)
    ours = project(cloud, camera, sh_degree=degree).colours
    dirs = cloud.means - camera.centre
    theirs = _spherical_harmonics(degree, dirs, cloud.sh) + 0.5
    torch.testing.assert_close(ours, theirs.clamp_min(0.0), rtol=1e-12, atol=1e-12)
    assert (ours == 0).any() if degree > 0 else True  # the clamp at 0 is exercised


def test_screen_box_holds_every_visible_alpha():
    """Outside its screen box a Gaussian's alpha is below ALPHA_MIN, so tiles drop nothing."""
    g = torch.Generator().manual_seed(3)
    n = 64
    f64 = torch.float64
    cloud = SplatCloud(
        torch.randn(n, 3, generator=g, dtype=f64) * 0.3,
        torch.randn(n, 4, generator=g, dtype=f64),
        torch.randn(n, 3, generator=g, dtype=f64) - 2.5,  # elongated, rotated
        torch.linspace(-5.0, 12.0, n, dtype=f64),  # opacities from 0.007 to ~1
        torch.zeros(n, 1, 3, dtype=f64),
    )
    camera = Camera.look_at((0.0, 0.0, 3.0), (0.0, 0.0, 0.0), fov_y_deg=50, width=64, height=64)
    proj = project(cloud, camera, sh_degree=0)
    assert proj.visible().all()
    # A fine grid around each Gaussian, out to twice its box.
    steps = torch.linspace(-2.0, 2.0, 161, dtype=f64)
    u, v = torch.meshgrid(steps, steps, indexing="ij")
    offsets = torch.stack([u, v], dim=-1).reshape(-1, 2)  # in units of the box radii
    for i in range(n):
        radius = proj.radii[i].to(f64)
        d = offsets * radius  # [S, 2]
        a, b, c = proj.conics[i]
        sigma = 0.5 * (a * d[:, 0] ** 2 + c * d[:, 1] ** 2) + b * d[:, 0] * d[:, 1]
        alpha = proj.opacities[i] * torch.exp(-sigma)
        outside = (offsets.abs() > 1.0).any(dim=-1)
        assert (alpha[outside] < ALPHA_MIN).all(), i
        # ...and it is loose by no more than the rounding up to whole pixels (and the grid step).
        reach = d[alpha >= ALPHA_MIN].abs().max(dim=0).values
        assert (reach > radius - 1.0 - 0.03 * radius).all(), i


def test_culled_gaussians_have_finite_gradients():
    cloud, camera = _scene(n=100)
    cloud.means[0] = camera.centre  # depth 0: 1/z would be infinite
    params = [t.requires_grad_(True) for t in cloud._tensors()]
    proj = project(cloud, camera, sh_degree=3)
    fields = (proj.means2d, proj.conics, proj.colours, proj.depths, proj.opacities)
    total = sum(t.sum() for t in fields)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in params)
    assert math.isfinite(total.item())
