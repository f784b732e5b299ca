"""Splat editing: each op's effect, the bit-identity of the unselected Gaussians for every op,
the fast paths against their plain references, SH rotation checked by rendering, optimize, the
outside PSNR, and bad input."""

import math

import numpy as np
import pytest
import torch

from continuum.splats import editing
from continuum.splats.camera import Camera
from continuum.splats.cloud import SplatCloud, quat_to_rotmat, rotmat_to_quat
from continuum.splats.editing import (
    delete,
    duplicate,
    optimize,
    outside_psnr_db,
    recolor,
    tint,
    transform,
)
from continuum.splats.fit import psnr
from continuum.splats.render import render_splats
from continuum.splats.sh import C0, rgb_to_sh0, sh_to_rgb
from tests.unit.splats.scenes import random_cloud, random_scene

F64 = torch.float64
FIELDS = ("means", "quats", "log_scales", "opacity_logits", "sh")
QUAT = (0.8, 0.3, -0.4, 0.2)  # (w, x, y, z), not normalised


def _cloud(n: int = 60, degree: int = 3, dtype: torch.dtype = torch.float32) -> SplatCloud:
    return random_cloud(n, seed=1, degree=degree, sh_scale=0.3, dtype=dtype)


def _mask(n: int, seed: int = 0, fraction: float = 0.4) -> torch.Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed)) < fraction


def _scores(n: int, seed: int = 0) -> torch.Tensor:
    """Soft scores: some 0, some 1, the rest in between."""
    s = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    return torch.where(s < 0.3, 0.0, torch.where(s > 0.8, 1.0, s))


def _assert_rows_equal(a: SplatCloud, rows_a, b: SplatCloud, rows_b) -> None:
    """Bit-identical rows, field by field."""
    for name in FIELDS:
        assert torch.equal(getattr(a, name)[rows_a], getattr(b, name)[rows_b]), name


def _covariances(c: SplatCloud) -> torch.Tensor:
    m = quat_to_rotmat(c.quats.to(F64)) * c.log_scales.to(F64).exp()[:, None, :]
    return m @ m.transpose(1, 2)


def _directions(n: int = 8, seed: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=F64), dim=-1)


# -- the guarantee, for every op --------------------------------------------------------------

OPS = {
    "delete": lambda c, s: delete(c, s),
    "recolor": lambda c, s: recolor(c, s, (0.9, 0.2, 0.1)),
    "tint": lambda c, s: tint(c, s, (0.1, 0.8, 0.3), 0.6),
    "transform": lambda c, s: transform(
        c, s, translation=(0.5, -1.0, 2.0), rotation=QUAT, scale=1.5
    ),
    "transform_nonuniform": lambda c, s: transform(
        c, s, rotation=QUAT, scale=(2.0, 0.5, 1.0), pivot=(1.0, 0.0, 0.0)
    ),
    "duplicate": lambda c, s: duplicate(c, s, (0.0, 1.0, 0.0)),
    "optimize": lambda c, s: optimize(c, s, *_small_views(c), steps=2, backend="cpu"),
}


def _small_views(cloud: SplatCloud) -> tuple[list[Camera], list[torch.Tensor]]:
    camera = Camera.look_at((0.0, 0.5, 5.0), (0.0, 0.0, 0.0), fov_y_deg=60, width=16, height=12)
    return [camera], [torch.full((12, 16, 3), 0.25)]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("soft", [False, True])
def test_the_unselected_gaussians_are_bit_identical(op, soft):
    cloud = _cloud()
    n = len(cloud)
    selection = _scores(n) if soft else _mask(n)
    before = cloud.clone()
    out = OPS[op](cloud, selection)
    # The input is untouched and shares no storage with the result.
    _assert_rows_equal(cloud, slice(None), before, slice(None))
    for name in FIELDS:
        assert getattr(out, name).data_ptr() != getattr(cloud, name).data_ptr()
    # Colour ops change every Gaussian with a score above 0; the others those at >= 0.5.
    colour_op = op in ("recolor", "tint")
    selected = (selection > 0) if colour_op else (selection >= editing.HARD_THRESHOLD)
    selected = selected.bool()
    outside = ~selected
    if op == "delete":
        assert len(out) == int(outside.sum())
        _assert_rows_equal(out, slice(None), cloud, outside)
    elif op == "duplicate":
        assert len(out) == n + int(selected.sum())
        _assert_rows_equal(out, slice(0, n), cloud, slice(None))
    else:
        assert len(out) == n
        _assert_rows_equal(out, outside, cloud, outside)
        # ...and the selected ones did change.
        assert not torch.equal(out.sh[selected], cloud.sh[selected]) or not torch.equal(
            out.means[selected], cloud.means[selected]
        )


@pytest.mark.parametrize("op", OPS)
def test_outside_psnr_is_infinite_for_every_op(op):
    cloud, camera = _scene()
    selection = cloud.means[:, 0] > 0.2
    after = OPS[op](cloud, selection)
    assert outside_psnr_db(cloud, after, selection, [camera], backend="cpu") == math.inf


def test_outside_psnr_of_a_leaky_edit_is_finite():
    cloud, camera = _scene()
    selection = cloud.means[:, 0] > 0.2
    leaky = recolor(cloud, torch.ones(len(cloud), dtype=torch.bool), (1.0, 0.0, 0.0))
    value = outside_psnr_db(cloud, leaky, selection, [camera, camera], backend="cpu")
    assert 0 < value < 30
    with pytest.raises(ValueError, match="after has"):
        outside_psnr_db(cloud, cloud.select(slice(0, 3)), selection, [camera], backend="cpu")
    with pytest.raises(ValueError, match="cameras"):
        outside_psnr_db(cloud, cloud, selection, [], backend="cpu")


# -- delete, recolor, tint, duplicate ---------------------------------------------------------


def test_delete_removes_the_selected():
    cloud = _cloud()
    selection = _mask(len(cloud))
    out = delete(cloud, selection)
    _assert_rows_equal(out, slice(None), cloud, ~selection)
    assert len(delete(cloud, torch.ones(len(cloud), dtype=torch.bool))) == 0


def test_recolor_gives_one_colour_from_every_direction():
    cloud = _cloud()
    selection = _mask(len(cloud))
    colour = torch.tensor([0.9, 0.2, 0.1])
    out = recolor(cloud, selection, colour)
    assert torch.equal(out.sh[selection, 0], rgb_to_sh0(colour).expand(int(selection.sum()), 3))
    assert torch.equal(out.sh[selection, 1:], torch.zeros_like(out.sh[selection, 1:]))
    assert not torch.signbit(out.sh[selection, 1:]).any()  # +0, not -0
    for d in _directions(4):
        rgb = sh_to_rgb(out.sh[selection].double(), d.expand(int(selection.sum()), 3))
        torch.testing.assert_close(rgb, colour.double().expand_as(rgb), rtol=0, atol=1e-6)


@pytest.mark.parametrize("amount", [0.0, 0.3, 1.0])
def test_tint_matches_the_reference_and_blends_every_view(amount):
    cloud = _cloud(dtype=F64)
    colour = (0.1, 0.8, 0.3)
    for selection in (_mask(len(cloud)), _scores(len(cloud))):
        out = tint(cloud, selection, colour, amount)
        ref = editing._tint_reference(cloud, selection, colour, amount)
        torch.testing.assert_close(out.sh, ref.sh, rtol=0, atol=1e-14)
        # colour(d) -> (1 - w) colour(d) + w colour, for every direction d.
        w = (amount * selection.double())[:, None]
        for d in _directions(3):
            dirs = d.expand(len(cloud), 3)
            expected = (1 - w) * sh_to_rgb(cloud.sh, dirs) + w * torch.tensor(colour, dtype=F64)
            torch.testing.assert_close(sh_to_rgb(out.sh, dirs), expected)
    if amount == 0.0:
        _assert_rows_equal(out, slice(None), cloud, slice(None))


def test_tint_by_one_is_recolor():
    cloud = _cloud()
    selection = _mask(len(cloud))
    a, b = tint(cloud, selection, (0.2, 0.4, 0.6), 1.0), recolor(cloud, selection, (0.2, 0.4, 0.6))
    _assert_rows_equal(a, slice(None), b, slice(None))


def test_duplicate_appends_moved_copies_in_order():
    cloud = _cloud()
    selection = _mask(len(cloud))
    out = duplicate(cloud, selection, torch.tensor([0.0, 1.0, 0.0]))
    copies = out.select(slice(len(cloud), None))
    src = cloud.select(selection)
    torch.testing.assert_close(copies.means, src.means + torch.tensor([0.0, 1.0, 0.0]))
    for name in FIELDS[1:]:
        assert torch.equal(getattr(copies, name), getattr(src, name))


# -- transform ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"translation": (0.5, -1.0, 2.0), "rotation": QUAT, "scale": 1.5},
        {"rotation": QUAT, "scale": (2.0, 0.5, 1.2), "pivot": (1.0, 0.0, -1.0)},
        {"rotation": quat_to_rotmat(torch.tensor([QUAT], dtype=F64))[0], "scale": 0.5},
        {"scale": (3.0, 1.0, 1.0)},
        {"translation": (0.0, 0.0, 1.0)},
    ],
)
def test_transform_matches_the_reference(kwargs):
    cloud = _cloud(dtype=F64)
    selection = _mask(len(cloud))
    out = transform(cloud, selection, **kwargs)
    ref = editing._transform_reference(cloud, selection, **kwargs)
    torch.testing.assert_close(out.means, ref.means, rtol=0, atol=1e-12)
    torch.testing.assert_close(_covariances(out), _covariances(ref), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(out.sh, ref.sh, rtol=0, atol=1e-10)
    torch.testing.assert_close(out.quats.norm(dim=-1), cloud.quats.norm(dim=-1))
    assert torch.equal(out.opacity_logits, cloud.opacity_logits)
    _assert_rows_equal(out, ~selection, ref, ~selection)


def test_transform_covariance_is_exact_under_any_linear_map():
    cloud = _cloud(dtype=F64)
    selection = torch.ones(len(cloud), dtype=torch.bool)
    r = quat_to_rotmat(torch.tensor([QUAT], dtype=F64))[0]
    a = r @ torch.diag(torch.tensor([2.0, 0.5, 1.2], dtype=F64))
    out = transform(cloud, selection, rotation=QUAT, scale=(2.0, 0.5, 1.2), pivot=(0, 0, 0))
    torch.testing.assert_close(out.means, cloud.means @ a.T)
    torch.testing.assert_close(_covariances(out), a @ _covariances(cloud) @ a.T)


def test_transform_about_the_default_pivot_keeps_the_centroid():
    cloud = _cloud(dtype=F64)
    selection = _mask(len(cloud))
    out = transform(cloud, selection, rotation=QUAT, scale=(2.0, 1.0, 0.5))
    centroid = cloud.means[selection].mean(dim=0)
    torch.testing.assert_close(out.means[selection].mean(dim=0), centroid)


def test_a_translation_changes_nothing_but_the_means():
    cloud = _cloud()
    selection = _mask(len(cloud))
    out = transform(cloud, selection, translation=(1.0, 2.0, 3.0))
    for name in FIELDS[1:]:
        assert torch.equal(getattr(out, name), getattr(cloud, name))


def _scene(n: int = 120, width: int = 32, height: int = 24) -> tuple[SplatCloud, Camera]:
    return random_scene(
        n,
        width,
        height,
        seed=0,
        degree=3,
        spread=0.8,
        log_scale=(0.5, -2.2),
        opacity=(2.0, 0.5),
        sh_scale=0.4,
        eye=(0.5, 0.8, 4.0),
        fov_y_deg=50,
        background=(0.2, 0.4, 0.9),
    )


def _moved_camera(camera: Camera, r: torch.Tensor, t, s: float, p) -> Camera:
    """The camera that sees the transformed scene x' = s R (x - p) + p + t as ``camera`` saw
    the original: x_cam' = s x_cam, which projects to the same pixels."""
    t, p = torch.as_tensor(t, dtype=F64), torch.as_tensor(p, dtype=F64)
    w = camera.world_to_camera
    moved = torch.eye(4, dtype=F64)
    moved[:3, :3] = w[:3, :3] @ r.T
    moved[:3, 3] = -w[:3, :3] @ r.T @ (p + t) + s * (w[:3, :3] @ p + w[:3, 3])
    return Camera(
        camera.fx,
        camera.fy,
        camera.cx,
        camera.cy,
        moved,
        camera.width,
        camera.height,
        background=camera.background,
    )


@pytest.mark.parametrize("scale", [1.0, 1.7])
def test_transformed_cloud_from_transformed_camera_renders_the_same(scale):
    """SH rotation checked end to end: view-dependent colour turns with the object."""
    cloud, camera = _scene()
    r = quat_to_rotmat(torch.tensor([QUAT], dtype=F64))[0]
    t, p = (0.3, -0.2, 0.5), (0.1, 0.2, -0.3)
    everything = torch.ones(len(cloud), dtype=torch.bool)
    out = transform(cloud, everything, translation=t, rotation=QUAT, scale=scale, pivot=p)
    seen = _moved_camera(camera, r, t, scale, p)
    a = render_splats(cloud, camera, backend="reference")
    b = render_splats(out, seen, backend="reference")
    assert 0.2 < float(a.alpha.mean()) < 0.95
    torch.testing.assert_close(b.rgb, a.rgb, rtol=0, atol=1e-10)
    torch.testing.assert_close(b.alpha, a.alpha, rtol=0, atol=1e-10)
    torch.testing.assert_close(b.depth, scale * a.depth, rtol=0, atol=1e-9)
    # Without the SH rotation the view-dependent colour would be wrong.
    unrotated = SplatCloud(out.means, out.quats, out.log_scales, out.opacity_logits, cloud.sh)
    wrong = render_splats(unrotated, seen, backend="reference")
    assert float((wrong.rgb - a.rgb).abs().max()) > 1e-2


def test_a_transformed_part_renders_like_the_part_from_the_moved_camera():
    cloud, camera = _scene()
    selection = cloud.means[:, 1] > 0.0
    r = quat_to_rotmat(torch.tensor([QUAT], dtype=F64))[0]
    out = transform(cloud, selection, rotation=QUAT, translation=(0.0, 0.3, 0.0))
    p = cloud.means[selection].mean(dim=0)
    seen = _moved_camera(camera, r, (0.0, 0.3, 0.0), 1.0, p)
    a = render_splats(cloud.select(selection), camera, backend="cpu")
    b = render_splats(out.select(selection), seen, backend="cpu")
    torch.testing.assert_close(b.rgb, a.rgb, rtol=0, atol=1e-9)


def test_batched_rotation_to_quaternion_agrees_with_the_single_one():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(50, 4, generator=g, dtype=F64)
    turns = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 1, 0]], dtype=F64)
    r = quat_to_rotmat(torch.cat([q, turns]))
    batched = editing._rotmats_to_quats(r)
    torch.testing.assert_close(quat_to_rotmat(batched), r)
    assert bool((batched[:, 0] >= 0).all())
    single = torch.stack([rotmat_to_quat(m) for m in r[:50]])
    torch.testing.assert_close(batched[:50], single)


# -- optimize -----------------------------------------------------------------------------------


def test_optimize_fits_the_selected_part_and_freezes_the_rest():
    cloud = random_cloud(
        600, seed=3, degree=1, spread=0.6, log_scale=(0.3, -2.3), opacity=(1.0, 1.0), sh_scale=0.3
    )
    selection = cloud.means[:, 0] > 0.3
    cameras = [
        Camera.look_at(eye, (0.0, 0.0, 0.0), fov_y_deg=50, width=32, height=32)
        for eye in ((0.0, 0.5, 3.0), (1.5, 0.5, 2.6))
    ]
    truth = recolor(cloud, selection, (0.9, 0.1, 0.1))
    with torch.no_grad():
        targets = [render_splats(truth, c, backend="cpu").rgb.clamp(0, 1) for c in cameras]
        regions = [
            render_splats(cloud.select(selection), c, backend="cpu").alpha > 0.3 for c in cameras
        ]

    def region_psnr(c: SplatCloud) -> float:
        with torch.no_grad():
            return float(
                np.mean(
                    [
                        psnr(render_splats(c, cam, backend="cpu").rgb.clamp(0, 1)[m], t[m])
                        for cam, t, m in zip(cameras, targets, regions, strict=True)
                    ]
                )
            )

    calls = []
    # One target as uint8, one as float: both are accepted.
    mixed = [(targets[0] * 255).round().to(torch.uint8), targets[1]]
    before = cloud.clone()
    out = optimize(
        cloud,
        selection,
        cameras,
        mixed,
        steps=40,
        progress=lambda step, steps: calls.append((step, steps)),
        backend="cpu",
    )
    assert calls == [(s, 40) for s in range(1, 41)]
    assert region_psnr(out) > region_psnr(cloud) + 10
    red = out.sh[selection, 0].mean(dim=0) - cloud.sh[selection, 0].mean(dim=0)
    assert red[0] > 0.1 and red[1] < -0.1 and red[2] < -0.1
    _assert_rows_equal(out, ~selection, cloud, ~selection)
    _assert_rows_equal(cloud, slice(None), before, slice(None))
    assert not out.means.requires_grad


def test_a_raising_progress_stops_optimize():
    cloud = _cloud()
    before = cloud.clone()

    def stop(step: int, steps: int) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimize(cloud, _mask(len(cloud)), *_small_views(cloud), steps=5, progress=stop)
    _assert_rows_equal(cloud, slice(None), before, slice(None))


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "words"),
    [
        (torch.zeros(60, dtype=torch.bool), "the selection is empty"),
        (torch.full((60,), 0.4), "the selection is empty"),
        (torch.ones(59, dtype=torch.bool), r"shape \[60\]"),
        (torch.ones(60, 1, dtype=torch.bool), r"shape \[60\]"),
        (torch.ones(60, dtype=torch.int64), "dtype"),
        (torch.full((60,), 1.5), "0..1"),
        (torch.full((60,), float("nan")), "0..1"),
    ],
)
@pytest.mark.parametrize("op", ["delete", "transform", "duplicate", "optimize"])
def test_bad_selections(selection, words, op):
    with pytest.raises(ValueError, match=words):
        OPS[op](_cloud(), selection)


def test_colour_ops_take_any_positive_score_but_not_none():
    cloud = _cloud()
    out = tint(cloud, torch.full((60,), 0.4), (1.0, 0.0, 0.0), 1.0)
    torch.testing.assert_close(
        out.sh[:, 0],
        torch.lerp(cloud.sh[:, 0], rgb_to_sh0(torch.tensor([1.0, 0.0, 0.0])).expand(60, 3), 0.4),
    )
    with pytest.raises(ValueError, match="the selection is empty"):
        recolor(cloud, torch.zeros(60), (1.0, 0.0, 0.0))


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c, s: recolor(c, s, (1.0, 0.0)), "color must be 3 numbers"),
        (lambda c, s: recolor(c, s, (1.2, 0.0, 0.0)), "color must be linear RGB in 0..1"),
        (lambda c, s: recolor(c, s, (float("nan"), 0.0, 0.0)), "color must be finite"),
        (lambda c, s: recolor(c, s, "red"), "color must be 3 numbers"),
        (lambda c, s: tint(c, s, (1.0, 0.0, 0.0), 1.5), "amount must be a number in 0..1"),
        (lambda c, s: tint(c, s, (1.0, 0.0, 0.0), True), "amount"),
        (lambda c, s: transform(c, s, rotation=(0, 0, 0, 0)), "non-zero quaternion"),
        (lambda c, s: transform(c, s, rotation=(1, 0, 0)), r"quaternion .* \[4\]"),
        (lambda c, s: transform(c, s, rotation=torch.eye(3) * 2), "orthonormal"),
        (lambda c, s: transform(c, s, rotation=torch.diag(torch.tensor([1.0, 1, -1]))), "proper"),
        (lambda c, s: transform(c, s, rotation=(float("inf"), 0, 0, 0)), "rotation must be finite"),
        (lambda c, s: transform(c, s, scale=0.0), "scale must be positive"),
        (lambda c, s: transform(c, s, scale=(1.0, -1.0, 1.0)), "scale must be positive"),
        (lambda c, s: transform(c, s, scale=float("nan")), "scale must be finite"),
        (lambda c, s: transform(c, s, translation=(1.0, 2.0)), "translation must be 3 numbers"),
        (lambda c, s: transform(c, s, pivot=(0.0, float("nan"), 0.0)), "pivot must be finite"),
        (lambda c, s: duplicate(c, s, (0.0, 0.0)), "offset must be 3 numbers"),
        (lambda c, s: optimize(c, s, *_small_views(c), steps=0), "steps must be an int >= 1"),
        (lambda c, s: optimize(c, s, *_small_views(c), lr=-1.0), "lr must be a positive"),
        (lambda c, s: optimize(c, s, *_small_views(c), progress=3), "progress must be callable"),
        (lambda c, s: optimize(c, s, _small_views(c)[0], []), "one image per camera"),
        (lambda c, s: optimize(c, s, [], []), "one image per camera"),
        (
            lambda c, s: optimize(c, s, _small_views(c)[0], [torch.zeros(12, 15, 3)]),
            r"targets\[0\] must have shape \[12, 16, 3\]",
        ),
        (
            lambda c, s: optimize(c, s, _small_views(c)[0], [torch.full((12, 16, 3), 2.0)]),
            r"targets\[0\] must hold RGB in 0..1",
        ),
        (
            lambda c, s: optimize(c, s, _small_views(c)[0], [torch.zeros(12, 16, 3).long()]),
            r"targets\[0\] must be float in 0..1 or uint8",
        ),
        (
            lambda c, s: optimize(c, s, ["camera"], [torch.zeros(12, 16, 3)]),
            r"cameras\[0\] must be a Camera",
        ),
    ],
)
def test_bad_arguments_name_themselves(call, words):
    cloud = _cloud()
    with pytest.raises(ValueError, match=words):
        call(cloud, _mask(len(cloud)))


def test_rgb_to_sh0_is_what_recolor_writes():
    # A sanity anchor for the DC convention: colour 0.5 is DC 0, colour 1 is 0.5 / C0.
    cloud = _cloud(degree=0)
    out = recolor(cloud, torch.ones(60, dtype=torch.bool), (0.5, 1.0, 0.0))
    torch.testing.assert_close(out.sh[:, 0], torch.tensor([0.0, 0.5 / C0, -0.5 / C0]).expand(60, 3))


def test_numpy_inputs_are_accepted():
    cloud = _cloud()
    mask = _mask(len(cloud))
    a = tint(cloud, mask.numpy(), np.array([0.2, 0.4, 0.6]), np.float32(0.5))
    b = tint(cloud, mask, (0.2, 0.4, 0.6), 0.5)
    _assert_rows_equal(a, slice(None), b, slice(None))
    c = transform(cloud, mask.numpy(), rotation=np.array(QUAT), scale=np.float32(2.0))
    d = transform(cloud, mask, rotation=QUAT, scale=2.0)
    _assert_rows_equal(c, slice(None), d, slice(None))
