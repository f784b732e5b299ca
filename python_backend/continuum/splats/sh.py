"""Real spherical harmonics as 3DGS uses them (degree 0..3), and their rotation.

The basis and its constants are those of the reference 3DGS implementation (and gsplat), so
coefficients from real trainers mean the same here. Colour = 0.5 + sum_k sh[k] * Y_k(d), where d
is the unit direction from the camera centre to the Gaussian.
"""

from __future__ import annotations

import torch

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def num_coeffs(degree: int) -> int:
    """Coefficients per colour channel for an SH degree: (degree + 1)^2."""
    if degree not in (0, 1, 2, 3):
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    return (degree + 1) ** 2


def degree_of(num: int) -> int:
    """The SH degree whose coefficient count is ``num`` (1, 4, 9 or 16)."""
    for d in range(4):
        if (d + 1) ** 2 == num:
            return d
    raise ValueError(f"{num} coefficients per channel is no SH degree; expected 1, 4, 9 or 16")


def sh_basis(dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """The real SH basis at unit directions.

    Args:
        dirs: unit vectors  # [..., 3]
        degree: 0..3
    Returns:
        basis values  # [..., (degree + 1)^2]
    """
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, C0)]
    if degree >= 1:
        out += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [
            C2[0] * xy,
            C2[1] * yz,
            C2[2] * (2.0 * zz - xx - yy),
            C2[3] * xz,
            C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            C3[0] * y * (3 * xx - yy),
            C3[1] * xy * z,
            C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, dim=-1)


def sh_to_rgb(sh: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Evaluate colour: 0.5 + sum_k sh[..., k, :] * Y_k(dirs), not clamped.

    Args:
        sh: coefficients  # [N, K, 3]
        dirs: unit view directions (camera -> Gaussian)  # [N, 3]
    Returns:
        colour  # [N, 3]
    """
    basis = sh_basis(dirs, degree_of(sh.shape[-2]))  # [N, K]
    return 0.5 + torch.einsum("nk,nkc->nc", basis, sh)


def rgb_to_sh0(rgb: torch.Tensor) -> torch.Tensor:
    """The DC coefficient that gives colour ``rgb`` from every direction."""
    return (rgb - 0.5) / C0


def sh_rotation(rotation: torch.Tensor, degree: int) -> torch.Tensor:
    """The matrix that rotates SH coefficients with the scene.

    For a rotation R of the scene, new_sh[k] = sum_j M[k, j] * sh[j] keeps every colour:
    f'(R d) = f(d). Each band l transforms by its own (2l+1)x(2l+1) block, found exactly
    (to float64 rounding) by solving the linear system over sample directions.

    Args:
        rotation: a rotation matrix  # [3, 3]
        degree: 0..3
    Returns:
        block-diagonal matrix  # [K, K]
    """
    r = rotation.to(torch.float64)
    gen = torch.Generator().manual_seed(0)
    d = torch.nn.functional.normalize(
        torch.randn(64, 3, generator=gen, dtype=torch.float64), dim=-1
    )
    y_src = sh_basis(d, degree)  # Y(d)            [64, K]
    y_dst = sh_basis(d @ r.T, degree)  # Y(R d)     [64, K]
    # f'(R d) = Y(R d) @ new = Y(d) @ old for all d  =>  new = pinv(Y(R d)) @ Y(d) @ old.
    m = torch.linalg.lstsq(y_dst, y_src).solution  # [K, K]
    k = num_coeffs(degree)
    mask = torch.zeros(k, k, dtype=torch.bool)
    for band in range(degree + 1):
        lo, hi = band * band, (band + 1) ** 2
        mask[lo:hi, lo:hi] = True
    return torch.where(mask, m, torch.zeros_like(m))
