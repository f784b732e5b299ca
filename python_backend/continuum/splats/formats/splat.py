"""antimatter15 .splat: 32 bytes per Gaussian, no header (github.com/antimatter15/splat).

Per Gaussian, little-endian:

    position  3 x float32
    scale     3 x float32, linear (exp of the log-scale)
    colour    4 x u8: RGB = (0.5 + C0 * f_dc) * 255 and A = sigmoid(opacity) * 255, clamped
    rotation  4 x u8: the normalised quaternion (w, x, y, z) * 128 + 128, clamped

Lossy: SH degree 0 only (the higher bands are dropped on writing and zero on reading), DC
colours outside [0, 1] are clamped, colour and opacity keep 8 bits (within 0.5/255 as colour,
i.e. 0.0070 in f_dc, and 0.5/255 as sigmoid), rotations 8 bits per component (within 1/128 of
the normalised quaternion, up to sign), and the quaternion norm is lost. Means are exact,
log-scales exact to float32 rounding within [-87.3, 88.7] (float32 scales), clamped outside.
Bytes are rounded to nearest where the antimatter15 converter truncates (both decode the same
way); the converter's reordering by size and opacity is not done, so Gaussians keep their order.
Reading takes the log of |scale| (renderers square it), a zero scale as the smallest float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats._io import arrays_from_cloud, cloud_from_arrays, format_error
from continuum.splats.formats._quantize import opacity_from_u8, opacity_to_u8, to_u8
from continuum.splats.sh import C0

RECORD = np.dtype(
    [("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)]
)
_TINY = np.finfo(np.float32).tiny  # log = -87.3
_HUGE = np.finfo(np.float32).max  # log = +88.7


def read_splat(path: str | os.PathLike) -> SplatCloud:
    """Read a .splat file into a float32 CPU cloud of SH degree 0.

    Raises:
        SplatFormatError: the size is no multiple of 32 bytes, or a scale is NaN.
    """
    data = Path(path).read_bytes()
    if len(data) % RECORD.itemsize:
        raise format_error(
            path,
            f"size {len(data)} is not a multiple of the {RECORD.itemsize}-byte record "
            f"({len(data) // RECORD.itemsize} whole records and {len(data) % RECORD.itemsize} "
            f"bytes over); the file is truncated or no .splat",
        )
    records = np.frombuffer(data, dtype=RECORD)
    scales = records["scale"]
    if np.isnan(scales).any():
        first = int(np.argwhere(np.isnan(scales))[0, 0])
        raise format_error(path, f"Gaussian {first} has scale {scales[first].tolist()}")
    # Renderers use the squared scale, so the sign is immaterial; 0 is read as the tiniest scale.
    log_scales = np.log(np.maximum(np.abs(scales), _TINY))
    rgba = records["rgba"].astype(np.float32)
    sh = ((rgba[:, None, :3] / 255 - 0.5) / np.float32(C0)).astype(np.float32)
    quats = (records["rot"].astype(np.float32) - 128) / 128
    return cloud_from_arrays(
        records["position"], quats, log_scales, opacity_from_u8(records["rgba"][:, 3]), sh
    )


def write_splat(cloud: SplatCloud, path: str | os.PathLike) -> None:
    """Write ``cloud`` as .splat; SH above degree 0 is dropped (see the module docstring)."""
    a = arrays_from_cloud(cloud, path, quantised=True)
    records = np.empty(len(cloud), dtype=RECORD)
    records["position"] = a["means"]
    records["scale"] = np.clip(np.exp(a["log_scales"].astype(np.float64)), _TINY, _HUGE)
    records["rgba"][:, :3] = to_u8((0.5 + C0 * a["sh"][:, 0].astype(np.float64)) * 255)
    records["rgba"][:, 3] = opacity_to_u8(a["opacity_logits"])
    q = a["quats"].astype(np.float64)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    records["rot"] = to_u8(q * 128 + 128)
    Path(path).write_bytes(records.tobytes())
