"""Selections: volumes against brute force, the ray brush, mask lifting (the vectorised votes
against the plain reference, and mIoU on a scene of separated parts), combining, and errors."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from continuum.splats import Camera, SplatCloud, render_splats
from continuum.splats import selection as sel
from continuum.splats.sh import rgb_to_sh0
from tests.unit.splats.scenes import random_cloud, random_scene

F64 = torch.float64


# -- volumes ---------------------------------------------------------------------------------


def test_box_matches_brute_force():
    cloud = random_cloud(500, seed=1, spread=1.0)
    center, half = [0.2, -0.1, 0.3], [0.9, 0.4, 0.6]
    q_xyzw = Rotation.from_euler("xyz", [30, -50, 70], degrees=True).as_quat()
    q_wxyz = [q_xyzw[3], *q_xyzw[:3]]
    matrix = Rotation.from_quat(q_xyzw).as_matrix()  # the box's axes as columns
    expected = [
        all(
            abs(x) <= h
            for x, h in zip(matrix.T @ (np.array(p, dtype=np.float64) - center), half, strict=True)
        )
        for p in cloud.means.tolist()
    ]
    got = sel.select_box(cloud, center, half, [2.0 * v for v in q_wxyz])  # any norm
    assert got.dtype == torch.bool and got.shape == (500,)
    assert got.tolist() == expected
    assert 20 < sum(expected) < 480
    # Axis-aligned by default.
    aligned = [
        all(abs(x - c) <= h for x, c, h in zip(p, center, half, strict=True))
        for p in cloud.means.tolist()
    ]
    assert sel.select_box(cloud, torch.tensor(center), half).tolist() == aligned


def test_box_axes_follow_the_rotation():
    q_xyzw = Rotation.from_euler("z", 90, degrees=True).as_quat()  # box x axis along scene y
    inside = torch.tensor([[0.0, 1.9, 0.0], [0.4, 0.0, 0.0]], dtype=F64)
    outside = torch.tensor([[1.9, 0.0, 0.0], [0.0, 2.1, 0.0]], dtype=F64)
    means = torch.cat([inside, outside])
    cloud = SplatCloud(
        means,
        torch.randn(4, 4, dtype=F64),
        torch.zeros(4, 3, dtype=F64),
        torch.zeros(4, dtype=F64),
        torch.zeros(4, 1, 3, dtype=F64),
    )
    got = sel.select_box(cloud, [0, 0, 0], [2.0, 0.5, 0.5], [q_xyzw[3], *q_xyzw[:3]])
    assert got.tolist() == [True, True, False, False]


def test_sphere_matches_brute_force():
    cloud = random_cloud(400, seed=2)
    center, radius = [0.3, 0.2, -0.4], 0.8
    expected = [math.dist(p, center) <= radius for p in cloud.means.tolist()]
    assert 20 < sum(expected) < 380
    assert sel.select_sphere(cloud, center, radius).tolist() == expected
    assert not sel.select_sphere(SplatCloud.empty(), center, radius).numel()


# -- the ray brush ---------------------------------------------------------------------------


def _blob(centre, n, *, seed, std=0.1, log_scale=-2.5, logit=3.0) -> SplatCloud:
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor(centre, dtype=F64) + std * torch.randn(n, 3, generator=g, dtype=F64)
    return SplatCloud(
        means,
        torch.randn(n, 4, generator=g, dtype=F64),
        torch.full((n, 3), log_scale, dtype=F64),
        torch.full((n,), logit, dtype=F64),
        torch.zeros(n, 1, 3, dtype=F64),
    )


def test_ray_closest_matches_reference():
    cloud = random_cloud(60, seed=3, log_scale=(0.8, -1.5), opacity=(2.0, 0.0), dtype=F64)
    origin = torch.tensor([0.3, -0.2, 4.0], dtype=F64)
    direction = torch.nn.functional.normalize(torch.tensor([-0.1, 0.05, -1.0], dtype=F64), dim=0)
    for limit in (math.inf, 3.5):
        t, alpha = sel._ray_closest(cloud, origin, direction, limit)
        t_ref, alpha_ref = sel._ray_closest_reference(cloud, origin, direction, limit)
        torch.testing.assert_close(t, t_ref, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(alpha, alpha_ref, rtol=1e-9, atol=1e-12)
        assert (alpha > 0.1).sum() > 3  # some Gaussians near the ray
    # Marching along the ray finds the same closest approach.
    steps = torch.linspace(0.0, 8.0, 16001, dtype=F64)
    for g in torch.argsort(alpha_ref, descending=True)[:5].tolist():
        one = cloud.select(torch.tensor([g]))
        points = origin + steps[:, None] * direction
        cov_inv = torch.linalg.inv(
            one.rotation_matrices()[0]
            @ torch.diag(one.scales()[0] ** 2)
            @ one.rotation_matrices()[0].T
        )
        e = points - one.means[0]
        marched = one.opacities()[0] * torch.exp(-0.5 * torch.einsum("si,ij,sj->s", e, cov_inv, e))
        t_all, alpha_all = sel._ray_closest(one, origin, direction, math.inf)
        assert abs(float(marched.max()) - float(alpha_all[0])) < 1e-5
        assert abs(float(steps[marched.argmax()]) - float(t_all[0])) < 3e-3  # the grid step is 5e-4


def test_ray_picks_the_front_object():
    front = _blob((0.0, 0.0, -2.0), 40, seed=0)
    back = _blob((0.0, 0.0, -5.0), 40, seed=1)
    haze = _blob((0.0, 0.0, -1.0), 1, seed=2, std=0.0, log_scale=-1.0, logit=-1.0)  # alpha 0.27
    cloud = SplatCloud.concatenate([haze, front, back])
    is_front = torch.tensor([False] * 1 + [True] * 40 + [False] * 40)
    got = sel.select_ray(cloud, [0.0, 0.0, 0.0], [0.0, 0.0, -3.0], 0.6)
    assert got.tolist() == is_front.tolist()
    hit = sel.ray_hit(cloud, [0.0, 0.0, 0.0], [0.0, 0.0, -1.0])
    assert hit is not None and -2.4 < float(hit[2]) < -1.7 and float(hit[:2].norm()) < 1e-12
    # From behind the back object, it is the front one.
    got = sel.select_ray(cloud, [0.0, 0.0, -8.0], [0.0, 0.0, 1.0], 0.6)
    assert got.tolist() == (~is_front & (torch.arange(81) > 0)).tolist()
    # Between them, looking back: the front object only.
    got = sel.select_ray(cloud, [0.0, 0.0, -3.5], [0.0, 0.0, 1.0], 0.6)
    assert got.tolist() == is_front.tolist()
    # Stopped short, looking away, or passing beside: nothing.
    assert not sel.select_ray(cloud, [0, 0, 0], [0, 0, -1], 0.6, max_distance=1.2).any()
    assert not sel.select_ray(cloud, [0, 0, 0], [0, 0, 1], 0.6).any()
    assert not sel.select_ray(cloud, [1.0, 0, 0], [0, 0, -1], 0.6).any()
    assert sel.ray_hit(cloud, [0, 0, 0], [0, 0, 1]) is None
    # A long enough reach from the front object's surface takes the back one too.
    assert sel.select_ray(cloud, [0, 0, 0], [0, 0, -1], 4.0).all()


# -- per-view votes: vectorised against the plain reference -----------------------------------


def _tiny_scene(seed=0, n=30, width=16, height=16, opacity=(2.0, 0.5)):
    return random_scene(
        n,
        width,
        height,
        seed=seed,
        spread=0.8,
        log_scale=(0.7, -1.8),
        opacity=opacity,
        sh_scale=0.3,
        eye=(0.5, 0.8, 4.0),
        fov_y_deg=50,
        background=(0.0, 0.0, 0.0),
    )


@pytest.mark.parametrize(
    ("seed", "width", "height", "opacity"),
    [(0, 16, 16, (2.0, 0.5)), (1, 16, 16, (2.0, 0.5)), (2, 21, 13, (1.0, 4.0))],
)
def test_view_votes_match_reference(seed, width, height, opacity):
    cloud, camera = _tiny_scene(seed, width=width, height=height, opacity=opacity)
    g = torch.Generator().manual_seed(seed)
    for mask in (
        torch.rand(height, width, generator=g) > 0.5,
        torch.rand(height, width, generator=g, dtype=F64),  # a soft mask
    ):
        ref_in, ref_all = sel._view_votes_reference(cloud, camera, mask)
        got_in, got_all = sel.view_votes(cloud, camera, mask)
        assert got_in.dtype == F64 and got_in.shape == (len(cloud),)
        torch.testing.assert_close(got_in, ref_in, rtol=0, atol=1e-10)
        torch.testing.assert_close(got_all, ref_all, rtol=0, atol=1e-10)
        assert (ref_all > 0).sum() > 10
        # The weights of a pixel add up to its rendered alpha.
        alpha = render_splats(cloud, camera, backend="reference").alpha
        assert abs(float(ref_all.sum() - alpha.sum())) < 1e-9
        # float32, as lift_masks computes them.
        in32, all32 = sel.view_votes(cloud.to(dtype=torch.float32), camera, mask)
        torch.testing.assert_close(in32.double(), ref_in, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(all32.double(), ref_all, rtol=1e-4, atol=1e-4)


def test_view_votes_carry_across_chunks(monkeypatch):
    """Lists longer than a chunk, opaque enough that pixels stop early (T < 1e-4)."""
    cloud, camera = _tiny_scene(3, n=40, opacity=(1.0, 5.0))
    mask = torch.ones(16, 16, dtype=torch.bool)
    mask[:, :7] = False
    ref = sel._view_votes_reference(cloud, camera, mask)
    for chunk, pairs in ((4, 1 << 10), (3, 1 << 18)):
        monkeypatch.setattr(sel, "_CHUNK", chunk)
        monkeypatch.setattr(sel, "_BATCH_PAIRS", pairs)
        for got, want in zip(sel.view_votes(cloud, camera, mask), ref, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


# -- lifting masks ---------------------------------------------------------------------------


def _parts_scene(per_part=300, spread=0.2) -> tuple[SplatCloud, list[SplatCloud], torch.Tensor]:
    """Three separated blobs of Gaussians (the parts), and each Gaussian's part."""
    centres = [(-0.9, 0.0, 0.0), (0.9, 0.0, 0.0), (0.0, 0.1, 0.9)]
    parts = []
    for i, centre in enumerate(centres):
        g = torch.Generator().manual_seed(100 + i)
        means = torch.tensor(centre, dtype=F64) + spread * torch.randn(
            per_part, 3, generator=g, dtype=F64
        )
        parts.append(
            SplatCloud(
                means,
                torch.randn(per_part, 4, generator=g, dtype=F64),
                math.log(0.06) + 0.3 * torch.randn(per_part, 3, generator=g, dtype=F64),
                2.0 + 0.5 * torch.randn(per_part, generator=g, dtype=F64),
                rgb_to_sh0(torch.rand(per_part, 3, generator=g, dtype=F64))[:, None],
            )
        )
    labels = torch.cat([torch.full((len(p),), i) for i, p in enumerate(parts)])
    return SplatCloud.concatenate(parts), parts, labels


def _ring(count: int, size: int = 64) -> list[Camera]:
    """Cameras around the origin, 4 m away, 1.5 m up, looking at it."""
    angles = [2 * math.pi * j / count for j in range(count)]
    return [
        Camera.look_at(
            (4 * math.sin(a), 1.5, 4 * math.cos(a)),
            (0.0, 0.0, 0.0),
            fov_y_deg=45,
            width=size,
            height=size,
        )
        for a in angles
    ]


def _miou(cloud, labels, cameras, masks_by_part, views) -> float:
    ious = []
    for part, masks in enumerate(masks_by_part):
        got = sel.lift_masks(cloud, [cameras[v] for v in views], [masks[v] for v in views])
        truth = labels == part
        ious.append(float((got & truth).sum() / (got | truth).sum()))
    return sum(ious) / len(ious)


def test_lift_masks_recovers_the_parts():
    """Masks: each part rendered alone, alpha > 0.5 (so they also cover what hides the part:
    the votes of the other views overrule that). Measured (k=8): mIoU 0.889 / 0.909 / 0.997
    with 1 / 3 / 8 views."""
    cloud, parts, labels = _parts_scene()
    cameras = _ring(8)
    masks = [[render_splats(p, c, backend="cpu").alpha > 0.5 for c in cameras] for p in parts]
    one = _miou(cloud, labels, cameras, masks, [0])
    three = _miou(cloud, labels, cameras, masks, [0, 3, 6])
    eight = _miou(cloud, labels, cameras, masks, list(range(8)))
    print(f"mIoU 1/3/8 views: {one:.3f} {three:.3f} {eight:.3f}")
    assert eight >= 0.9
    assert eight > three > one


def test_lift_masks_scores_and_threshold():
    cloud, parts, labels = _parts_scene(per_part=100)
    cameras = _ring(4, size=48)
    masks = [render_splats(parts[1], c, backend="cpu").alpha > 0.5 for c in cameras]
    scores = sel.lift_masks(cloud, cameras, masks, soft=True)
    assert scores.dtype == torch.float32 and scores.shape == (300,)
    assert float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0
    assert float(scores[labels == 1].mean()) > 0.8 > 0.2 > float(scores[labels != 1].mean())
    for threshold in (0.3, 0.5, 0.9):
        hard = sel.lift_masks(cloud, cameras, masks, threshold=threshold)
        assert hard.tolist() == (scores >= threshold).tolist()
    # Masks as uint8 arrays (the wire's blobs), nonzero = selected, select the same.
    as_u8 = [m.numpy().astype(np.uint8) * 255 for m in masks]
    assert sel.lift_masks(cloud, cameras, as_u8).tolist() == (scores >= 0.5).tolist()


def test_hidden_gaussians_take_their_nearest_seen_neighbours_score():
    """An opaque wall (two layers) in front; a Gaussian behind it that no pixel sees."""
    xs = torch.linspace(-1.0, 1.0, 21, dtype=F64)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="ij"), dim=-1).reshape(-1, 2)
    wall_means = torch.cat(
        [torch.cat([grid, torch.full((len(grid), 1), z, dtype=F64)], dim=1) for z in (0.0, -0.1)]
    )
    behind = torch.tensor([[0.0, 0.0, -0.4]], dtype=F64)
    n = len(wall_means) + 1
    cloud = SplatCloud(
        torch.cat([wall_means, behind]),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=F64).repeat(n, 1),
        torch.full((n, 3), math.log(0.12), dtype=F64),
        torch.full((n,), 8.0, dtype=F64),
        torch.zeros(n, 1, 3, dtype=F64),
    )
    camera = Camera.look_at((0.0, 0.0, 3.0), (0.0, 0.0, 0.0), fov_y_deg=30, width=32, height=32)
    _, seen = sel.view_votes(cloud, camera, torch.ones(32, 32))
    assert float(seen[-1]) == 0.0  # hidden
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[4:28, 4:28] = True  # the wall's middle
    scores = sel.lift_masks(cloud, [camera], [mask], k=0, soft=True)
    nearest = int(torch.argmin((wall_means - behind).norm(dim=1)))
    assert float(scores[nearest]) > 0.9
    assert float(scores[-1]) == float(scores[nearest])


# -- combining -------------------------------------------------------------------------------


def test_combine_hard_and_soft():
    a = torch.tensor([True, True, False, False])
    b = torch.tensor([True, False, True, False])
    assert sel.combine(a, b, "replace").tolist() == b.tolist()
    assert sel.combine(a, b, "add").tolist() == [True, True, True, False]
    assert sel.combine(a, b, "subtract").tolist() == [False, True, False, False]
    assert sel.combine(a, b, "intersect").tolist() == [True, False, False, False]
    soft = torch.tensor([0.9, 0.2, 0.6, 0.0])
    assert sel.combine(a, soft, "replace").tolist() == soft.tolist()
    torch.testing.assert_close(sel.combine(a, soft, "add"), torch.tensor([1.0, 1.0, 0.6, 0.0]))
    torch.testing.assert_close(sel.combine(a, soft, "subtract"), torch.tensor([0.1, 0.8, 0.0, 0.0]))
    torch.testing.assert_close(sel.combine(soft, b, "intersect"), torch.tensor([0.9, 0, 0.6, 0]))
    # Soft combinations agree with the hard ones on 0/1 scores.
    for how in sel.HOWS:
        fuzzy = sel.combine(a.float(), b.float(), how)
        assert (fuzzy > 0.5).tolist() == sel.combine(a, b, how).tolist()


# -- errors ----------------------------------------------------------------------------------


def test_volume_and_ray_errors():
    cloud = random_cloud(10)
    with pytest.raises(ValueError, match="center must be 3"):
        sel.select_box(cloud, [0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="half_size must be positive"):
        sel.select_box(cloud, [0, 0, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="rotation must be a non-zero quaternion"):
        sel.select_box(cloud, [0, 0, 0], [1, 1, 1], [0, 0, 0, 0])
    with pytest.raises(ValueError, match="center must be 3 finite"):
        sel.select_sphere(cloud, [0, math.nan, 0], 1.0)
    with pytest.raises(ValueError, match="radius must be a positive"):
        sel.select_sphere(cloud, [0, 0, 0], 0.0)
    with pytest.raises(ValueError, match="direction must be a non-zero"):
        sel.select_ray(cloud, [0, 0, 0], [0, 0, 0], 1.0)
    with pytest.raises(ValueError, match="max_distance must be a positive"):
        sel.select_ray(cloud, [0, 0, 0], [0, 0, 1], 1.0, max_distance=-1.0)
    with pytest.raises(ValueError, match="how must be one of"):
        sel.combine(torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool), "xor")
    with pytest.raises(ValueError, match="same cloud"):
        sel.combine(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool), "add")


def test_lift_masks_errors():
    cloud, camera = _tiny_scene()
    mask = torch.ones(16, 16, dtype=torch.bool)
    small = Camera.look_at((0.5, 0.8, 4.0), (0, 0, 0), fov_y_deg=50, width=8, height=12)
    with pytest.raises(ValueError, match=r"masks\[1\] \(view 1\) has shape \[16, 16\].*\[12, 8\]"):
        sel.lift_masks(cloud, [camera, small], [mask, mask])
    with pytest.raises(ValueError, match="2 cameras but 1 masks"):
        sel.lift_masks(cloud, [camera, camera], [mask])
    with pytest.raises(ValueError, match="at least one view"):
        sel.lift_masks(cloud, [], [])
    away = Camera.look_at((0.5, 0.8, 4.0), (0.5, 0.8, 8.0), fov_y_deg=50, width=16, height=16)
    with pytest.raises(ValueError, match="view 2 sees none of the Gaussians"):
        sel.lift_masks(cloud, [camera, camera, away], [mask, mask, mask])
    with pytest.raises(ValueError, match="k must be an int"):
        sel.lift_masks(cloud, [camera], [mask], k=-1)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        sel.lift_masks(cloud, [camera], [mask], threshold=0.0)
    with pytest.raises(ValueError, match=r"values in 0\.\.1"):
        sel.lift_masks(cloud, [camera], [torch.full((16, 16), 2.0)])
    with pytest.raises(ValueError, match="view 0 sees none"):
        sel.lift_masks(SplatCloud.empty(), [camera], [mask])
