"""SplatCloud: the one in-memory type of a Gaussian splat scene."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from continuum.splats.sh import degree_of, sh_rotation


@dataclass
class SplatCloud:
    """N 3D Gaussians, stored as the 3DGS trainers store them (activations applied on use).

    Attributes:
        means: centres in metres  # [N, 3]
        quats: rotations as quaternions (w, x, y, z), not necessarily normalised  # [N, 4]
        log_scales: natural log of the per-axis standard deviations  # [N, 3]
        opacity_logits: logit of the opacity  # [N]
        sh: spherical-harmonic colour coefficients, band-major (``sh[:, 0]`` is the DC
            term), K = (degree + 1)^2 for degree 0..3  # [N, K, 3]

    All tensors share one device and one floating dtype. Scene axes follow glTF (right-handed,
    +Y up, metres), like the rest of Continuum.
    """

    means: torch.Tensor
    quats: torch.Tensor
    log_scales: torch.Tensor
    opacity_logits: torch.Tensor
    sh: torch.Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0] if self.means.ndim == 2 else -1
        expected = {
            "means": (n, 3),
            "quats": (n, 4),
            "log_scales": (n, 3),
            "opacity_logits": (n,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(
                    f"SplatCloud.{name} must have shape {list(shape)}, got {list(got)}"
                )
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(f"SplatCloud.sh must have shape [N, K, 3], got {list(self.sh.shape)}")
        degree_of(self.sh.shape[1])  # raises for a K that is no SH degree
        devices = {t.device for t in self._tensors()}
        dtypes = {t.dtype for t in self._tensors()}
        if len(devices) != 1 or len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
            raise ValueError(
                f"SplatCloud tensors must share one device and one float dtype, got "
                f"{sorted(map(str, devices))} and {sorted(map(str, dtypes))}"
            )

    # -- basics ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return degree_of(self.sh.shape[1])

    @property
    def device(self) -> torch.device:
        return self.means.device

    @property
    def dtype(self) -> torch.dtype:
        return self.means.dtype

    def _tensors(self) -> list[torch.Tensor]:
        return [getattr(self, f.name) for f in fields(self)]

    def _map(self, fn) -> SplatCloud:
        return SplatCloud(*(fn(t) for t in self._tensors()))

    @classmethod
    def empty(cls, *, sh_degree: int = 0, dtype: torch.dtype = torch.float32) -> SplatCloud:
        k = (sh_degree + 1) ** 2
        z = torch.zeros
        return cls(
            z(0, 3, dtype=dtype),
            z(0, 4, dtype=dtype),
            z(0, 3, dtype=dtype),
            z(0, dtype=dtype),
            z(0, k, 3, dtype=dtype),
        )

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SplatCloud:
        """A copy on another device and/or in another float dtype."""
        return self._map(lambda t: t.to(device=device, dtype=dtype))

    def detach(self) -> SplatCloud:
        return self._map(lambda t: t.detach())

    def clone(self) -> SplatCloud:
        return self._map(lambda t: t.clone())

    def select(self, index: torch.Tensor | slice) -> SplatCloud:
        """The Gaussians picked by a boolean mask ``[N]``, an index tensor, or a slice."""
        return self._map(lambda t: t[index])

    @staticmethod
    def concatenate(clouds: Sequence[SplatCloud]) -> SplatCloud:
        """One cloud of all the Gaussians; SH is padded with zeros to the highest degree."""
        if not clouds:
            raise ValueError("concatenate needs at least one SplatCloud")
        k = max(c.sh.shape[1] for c in clouds)
        parts = [c.with_sh_degree(degree_of(k)) for c in clouds]
        return SplatCloud(
            *(torch.cat(ts, dim=0) for ts in zip(*(p._tensors() for p in parts), strict=True))
        )

    def with_sh_degree(self, degree: int) -> SplatCloud:
        """The same cloud with SH truncated or zero-padded to ``degree``."""
        k = (degree + 1) ** 2
        if k <= self.sh.shape[1]:
            sh = self.sh[:, :k]
        else:
            pad = self.sh.new_zeros(len(self), k - self.sh.shape[1], 3)
            sh = torch.cat([self.sh, pad], dim=1)
        return SplatCloud(self.means, self.quats, self.log_scales, self.opacity_logits, sh)

    # -- derived quantities --------------------------------------------------------------------

    def scales(self) -> torch.Tensor:
        """Standard deviations per axis  # [N, 3]"""
        return self.log_scales.exp()

    def opacities(self) -> torch.Tensor:
        """Opacity in (0, 1)  # [N]"""
        return torch.sigmoid(self.opacity_logits)

    def rotation_matrices(self) -> torch.Tensor:
        """Normalised quaternions as rotation matrices  # [N, 3, 3]"""
        return quat_to_rotmat(self.quats)

    def bounding_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Axis-aligned box of the means: (min [3], max [3]). Raises for an empty cloud."""
        if len(self) == 0:
            raise ValueError("an empty SplatCloud has no bounding box")
        return self.means.min(dim=0).values, self.means.max(dim=0).values

    # -- editing -------------------------------------------------------------------------------

    def transform(
        self,
        rotation: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
        scale: float = 1.0,
    ) -> SplatCloud:
        """Apply x -> scale * R x + t to the whole cloud.

        Exact (to float rounding): means, orientations (quaternions are composed, keeping their
        norm), log-scales (shifted by log(scale)), and the view-dependent colour, since each SH
        band is rotated by its exact rotation block, so every Gaussian shows the same colour
        from the correspondingly rotated view direction. Opacity is unchanged.

        Args:
            rotation: a proper rotation matrix  # [3, 3]; None for identity
            translation: # [3]; None for zero
            scale: uniform scale factor > 0
        """
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        r = (
            torch.eye(3, dtype=torch.float64)
            if rotation is None
            else rotation.to(torch.float64).cpu()
        )
        if r.shape != (3, 3) or not torch.allclose(
            r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-5
        ):
            raise ValueError("rotation must be an orthonormal 3x3 matrix")
        if torch.det(r) < 0:
            raise ValueError("rotation must be proper (det +1); reflections would mirror the SH")
        t = torch.zeros(3) if translation is None else translation
        rd = r.to(device=self.device, dtype=self.dtype)
        means = scale * self.means @ rd.T + t.to(self.device, self.dtype)
        quats = quat_multiply(rotmat_to_quat(rd).expand_as(self.quats), self.quats)
        quats = quats * self.quats.norm(dim=-1, keepdim=True)  # keep the stored norm
        log_scales = self.log_scales + torch.log(torch.tensor(scale, dtype=self.dtype))
        m = sh_rotation(r, self.sh_degree).to(device=self.device, dtype=self.dtype)
        sh = torch.einsum("kj,njc->nkc", m, self.sh)
        return SplatCloud(means, quats, log_scales, self.opacity_logits.clone(), sh)


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) quaternions, normalised here, to rotation matrices  # [N, 4] -> [N, 3, 3]"""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*quats.shape[:-1], 3, 3)


def rotmat_to_quat(r: torch.Tensor) -> torch.Tensor:
    """A rotation matrix to a unit (w, x, y, z) quaternion with w >= 0  # [3, 3] -> [4]"""
    m = r.to(torch.float64)
    t = m.trace()
    if t > 0:
        s = torch.sqrt(t + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(torch.argmax(torch.diagonal(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = torch.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k]) * 2
        v = [0.0, 0.0, 0.0]
        v[i] = 0.25 * s
        v[j] = (m[j, i] + m[i, j]) / s
        v[k] = (m[k, i] + m[i, k]) / s
        q = [(m[k, j] - m[j, k]) / s, *v]
    out = torch.stack([torch.as_tensor(c, dtype=torch.float64) for c in q])
    out = out if out[0] >= 0 else -out
    return out.to(r.dtype)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of (w, x, y, z) quaternions  # [N, 4], [N, 4] -> [N, 4]"""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    out = torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )
    return torch.nn.functional.normalize(out, dim=-1)
