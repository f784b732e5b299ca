"""The boundary every splat format shares: errors that name the file, arrays to and from a cloud."""

from __future__ import annotations

import numpy as np
import torch

from continuum.errors import SplatFormatError
from continuum.splats.cloud import SplatCloud


def format_error(path: object, what: str) -> SplatFormatError:
    """The error for a file that cannot be read or written: ``"<path>: <what>"``."""
    return SplatFormatError(f"{path}: {what}")


def cloud_from_arrays(
    means: np.ndarray,
    quats: np.ndarray,
    log_scales: np.ndarray,
    opacity_logits: np.ndarray,
    sh: np.ndarray,
) -> SplatCloud:
    """A float32 CPU cloud from numpy arrays of shapes [N, 3], [N, 4], [N, 3], [N], [N, K, 3]."""
    return SplatCloud(
        *(
            torch.from_numpy(np.require(a, np.float32, ["C", "W"]))
            for a in (means, quats, log_scales, opacity_logits, sh)
        )
    )


def arrays_from_cloud(cloud: SplatCloud, path: object, *, quantised: bool) -> dict[str, np.ndarray]:
    """The cloud's tensors as float32 numpy arrays, keyed by field name.

    With ``quantised`` (for a writer that rounds to integers), NaN anywhere and infinities in
    means, quats or sh are refused, as they have no byte to go to; infinite log-scales and
    opacity logits are left to clamp to the ends of their ranges.
    """
    arrays = {
        name: getattr(cloud, name).detach().cpu().to(torch.float32).numpy()
        for name in ("means", "quats", "log_scales", "opacity_logits", "sh")
    }
    if quantised:
        for name, a in arrays.items():
            may_be_infinite = name in ("log_scales", "opacity_logits")
            bad = int((np.isnan(a) if may_be_infinite else ~np.isfinite(a)).sum())
            if bad:
                raise format_error(
                    path, f"cloud.{name} has {bad} non-finite values; cannot quantise them"
                )
    return arrays
