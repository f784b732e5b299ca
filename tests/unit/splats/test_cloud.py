import math

import pytest
import torch

from continuum.splats import SplatCloud
from continuum.splats.cloud import quat_multiply, quat_to_rotmat, rotmat_to_quat
from continuum.splats.sh import sh_to_rgb


def _cloud(n=6, degree=3, seed=0) -> SplatCloud:
    g = torch.Generator().manual_seed(seed)
    k = (degree + 1) ** 2
    return SplatCloud(
        torch.randn(n, 3, generator=g, dtype=torch.float64),
        torch.randn(n, 4, generator=g, dtype=torch.float64)
        * 1.3,  # un-normalised, as trainers store
        torch.randn(n, 3, generator=g, dtype=torch.float64),
        torch.randn(n, generator=g, dtype=torch.float64),
        torch.randn(n, k, 3, generator=g, dtype=torch.float64),
    )


def _covariances(c: SplatCloud) -> torch.Tensor:
    r, s = c.rotation_matrices(), c.scales()
    return r @ torch.diag_embed(s**2) @ r.transpose(1, 2)


def _random_rotation(seed=1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(1, 4, generator=g, dtype=torch.float64), dim=-1)
    return quat_to_rotmat(q)[0]


@pytest.mark.parametrize(
    ("field", "shape", "words"),
    [
        ("means", (6, 2), "means must have shape"),
        ("quats", (6, 3), "quats must have shape"),
        ("opacity_logits", (6, 1), "opacity_logits"),
        ("sh", (6, 5, 3), "no SH degree"),
        ("sh", (6, 4), r"\[N, K, 3\]"),
    ],
)
def test_shapes_are_checked(field, shape, words):
    c = _cloud()
    kwargs = {f: getattr(c, f) for f in ("means", "quats", "log_scales", "opacity_logits", "sh")}
    kwargs[field] = torch.zeros(shape, dtype=torch.float64)
    with pytest.raises(ValueError, match=words):
        SplatCloud(**kwargs)


def test_mixed_dtypes_are_refused():
    c = _cloud()
    with pytest.raises(ValueError, match="one float dtype"):
        SplatCloud(c.means.float(), c.quats, c.log_scales, c.opacity_logits, c.sh)


def test_basics_select_concatenate_and_moves():
    c = _cloud()
    assert len(c) == 6 and c.sh_degree == 3 and c.dtype == torch.float64
    sub = c.select(torch.tensor([True, False] * 3))
    assert len(sub) == 3 and torch.equal(sub.means, c.means[::2])
    both = SplatCloud.concatenate([c, _cloud(2, degree=0)])
    assert len(both) == 8 and both.sh_degree == 3
    assert torch.equal(both.sh[6:, 1:], torch.zeros(2, 15, 3, dtype=torch.float64))
    f32 = c.to(dtype=torch.float32)
    assert f32.dtype == torch.float32 and f32.means.shape == (6, 3)
    assert c.with_sh_degree(1).sh.shape == (6, 4, 3)
    assert len(SplatCloud.empty(sh_degree=2)) == 0
    lo, hi = c.bounding_box()
    assert torch.equal(lo, c.means.min(0).values) and torch.equal(hi, c.means.max(0).values)
    with pytest.raises(ValueError, match="empty"):
        SplatCloud.empty().bounding_box()


def test_transform_is_exact_for_geometry_and_colour():
    c = _cloud()
    r, t, s = _random_rotation(), torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64), 2.5
    out = c.transform(r, t, s)
    torch.testing.assert_close(out.means, s * c.means @ r.T + t)
    torch.testing.assert_close(_covariances(out), s * s * r @ _covariances(c) @ r.T)
    torch.testing.assert_close(out.quats.norm(dim=-1), c.quats.norm(dim=-1))
    torch.testing.assert_close(out.opacity_logits, c.opacity_logits)
    g = torch.Generator().manual_seed(5)
    dirs = torch.nn.functional.normalize(
        torch.randn(6, 3, generator=g, dtype=torch.float64), dim=-1
    )
    torch.testing.assert_close(sh_to_rgb(out.sh, dirs @ r.T), sh_to_rgb(c.sh, dirs))


def test_transform_composes():
    c = _cloud()
    r1, r2 = _random_rotation(1), _random_rotation(2)
    twice = c.transform(r1).transform(r2)
    once = c.transform(r2 @ r1)
    torch.testing.assert_close(twice.means, once.means)
    torch.testing.assert_close(twice.sh, once.sh)
    torch.testing.assert_close(_covariances(twice), _covariances(once))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"scale": 0.0}, "positive"),
        ({"rotation": torch.eye(3) * 2}, "orthonormal"),
        ({"rotation": torch.diag(torch.tensor([1.0, 1.0, -1.0]))}, "proper"),
    ],
)
def test_bad_transforms(kwargs, words):
    with pytest.raises(ValueError, match=words):
        _cloud().transform(**kwargs)


def test_quaternion_helpers_agree():
    for seed in range(5):
        r = _random_rotation(seed)
        q = rotmat_to_quat(r)
        assert q[0] >= 0 and math.isclose(float(q.norm()), 1.0, rel_tol=1e-12)
        torch.testing.assert_close(quat_to_rotmat(q[None])[0], r)
    a, b = rotmat_to_quat(_random_rotation(1)), rotmat_to_quat(_random_rotation(2))
    ab = quat_multiply(a[None], b[None])
    torch.testing.assert_close(quat_to_rotmat(ab)[0], _random_rotation(1) @ _random_rotation(2))
    # 180 degree turns take the trace <= 0 branch.
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(quat_to_rotmat(rotmat_to_quat(flip)[None])[0], flip)
