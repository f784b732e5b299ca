import pytest
import torch

from continuum.splats.sh import (
    C0,
    degree_of,
    num_coeffs,
    rgb_to_sh0,
    sh_basis,
    sh_rotation,
    sh_to_rgb,
)


def _dirs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(
        torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1
    )


def test_counts():
    assert [num_coeffs(d) for d in range(4)] == [1, 4, 9, 16]
    assert [degree_of(k) for k in (1, 4, 9, 16)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"0\.\.3"):
        num_coeffs(4)
    with pytest.raises(ValueError, match="no SH degree"):
        degree_of(5)


def test_basis_is_orthonormal_over_the_sphere():
    # Monte Carlo integral of Y_i Y_j over the sphere: 4 pi * mean -> identity.
    d = _dirs(400_000)
    y = sh_basis(d, 3)
    gram = 4 * torch.pi * (y.T @ y) / len(d)
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), atol=0.02, rtol=0)


def test_dc_round_trip():
    rgb = torch.tensor([[0.2, 0.5, 0.9]], dtype=torch.float64)
    sh = rgb_to_sh0(rgb)[:, None, :]
    torch.testing.assert_close(sh_to_rgb(sh, _dirs(1)), rgb)
    assert rgb_to_sh0(torch.tensor(0.5 + C0)) == pytest.approx(1.0)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_rotation_matrix_keeps_colours_and_is_orthogonal(degree):
    g = torch.Generator().manual_seed(degree)
    q = torch.nn.functional.normalize(torch.randn(4, generator=g, dtype=torch.float64), dim=0)
    from continuum.splats.cloud import quat_to_rotmat

    r = quat_to_rotmat(q[None])[0]
    m = sh_rotation(r, degree)
    k = num_coeffs(degree)
    torch.testing.assert_close(m @ m.T, torch.eye(k, dtype=torch.float64))
    coeffs = torch.randn(k, generator=g, dtype=torch.float64)
    d = _dirs(50, seed=9)
    torch.testing.assert_close(
        sh_basis(d @ r.T, degree) @ (m @ coeffs), sh_basis(d, degree) @ coeffs
    )
