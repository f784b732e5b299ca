"""Niantic SPZ (versions 2 and 3): a gzip stream of a 16-byte header and attribute planes.

Follows nianticlabs/spz: README.md "File Format" and src/cc/load-spz.cc (packGaussians,
unpackGaussians, deserializePackedGaussians). All values are little-endian.

    header   u32 magic 0x5053474e ("NGSP"), u32 version, u32 numPoints, u8 shDegree,
             u8 fractionalBits, u8 flags (0x1 antialiased, 0x2 extensions), u8 reserved
    then, for N points, plane after plane:
    positions  N x 3 x 24-bit signed fixed point, value / 2^fractionalBits
    alphas     N x u8, sigmoid(opacity) * 255
    colours    N x 3 x u8, f_dc * (0.15 * 255) + 127.5 (0.15, not C0: leaves room for DC
               colours outside [0, 1] that the higher bands bring back)
    scales     N x 3 x u8, (log_scale + 10) * 16
    rotations  v2: N x 3 x u8, (x, y, z) of the unit quaternion with w >= 0, q * 127.5 + 127.5;
               w = sqrt(1 - x^2 - y^2 - z^2).
               v3: N x u32, "smallest three": the top 2 bits the index of the largest of
               (x, y, z, w), negated to be positive; then for each other component, in
               increasing index order, 10 bits: a sign bit and 9 bits of |q_i| / sqrt(1/2) * 511.
    sh         N x ((degree + 1)^2 - 1) coefficients x 3 channels (channel fastest), u8,
               value * 128 + 128; written rounded to 5 significant bits for degree 1 and
               4 bits for degrees 2 and 3 (buckets of 8 and 16), as the reference does.

Reading takes versions 2 and 3, SH degree 0..3. Version 1 (float16 positions, never released),
SH degree 4 (SplatCloud stops at 3) and the extension records that flag 0x2 announces are refused
with a SplatFormatError. Opacity bytes 0 and 255 decode to finite logits (about -/+6.93) where
the reference gives -/+inf; see _quantize. The antialiased flag is not kept in a SplatCloud.

SPZ stores RUB axes (x right, y up, z back), the glTF convention Continuum uses, so nothing is
converted either way (the reference does the same with CoordinateSystem::UNSPECIFIED).

Quantisation bounds of a write followed by a read (in-range values): means 0.5 / 2^fractional_bits;
log-scales 1/32 within [-10, 5.94]; DC 0.5 / 38.25 = 0.0131 within [-3.33, 3.33]; opacity
0.5/255 as sigmoid; SH 4.5/128 (degree 1) and 8.5/128 (degrees 2, 3) within [-1, 0.99];
rotations about 0.0035 per component in version 3, and far coarser in version 2 where w is
small (w is rebuilt from 8-bit x, y, z).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats._io import arrays_from_cloud, cloud_from_arrays, format_error
from continuum.splats.formats._quantize import (
    opacity_from_u8,
    opacity_to_u8,
    round_half_away,
    smallest_three,
    to_u8,
)

MAGIC = 0x5053474E  # "NGSP" read little-endian
VERSIONS = (2, 3)
_HEADER = struct.Struct("<IIIBBBB")
_FLAG_ANTIALIASED = 0x1
_FLAG_EXTENSIONS = 0x2
_COLOR_SCALE = 0.15
_SQRT1_2 = np.float32(0.7071067811865476)
_MAX_DEFLATE_RATIO = 1032  # deflate cannot expand data by more than about 1032:1


def read_spz(path: str | os.PathLike) -> SplatCloud:
    """Read an SPZ file (version 2 or 3) into a float32 CPU cloud; see the module docstring.

    Raises:
        SplatFormatError: not gzip, corrupt, truncated, a header that promises more points
            than the stream holds, or an unsupported version, degree or extension.
    """
    compressed = Path(path).read_bytes()
    if not compressed.startswith(b"\x1f\x8b"):
        raise format_error(path, f"not gzip (SPZ is a gzip stream); it starts {compressed[:4]!r}")
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = stream.decompress(compressed, _HEADER.size)
        if len(head) < _HEADER.size:
            raise format_error(path, f"the stream ends after {len(head)} bytes of the header")
        magic, version, n, degree, fractional_bits, flags, _ = _HEADER.unpack(head)
        _check_header(magic, version, degree, flags, path)
        point_bytes = 9 + 1 + 3 + 3 + (3 if version == 2 else 4) + 3 * ((degree + 1) ** 2 - 1)
        size = n * point_bytes
        if size > _MAX_DEFLATE_RATIO * len(compressed):
            raise format_error(
                path,
                f"header promises {n} points ({size} bytes) but {len(compressed)} compressed "
                f"bytes cannot inflate to that much",
            )
        # max_length 0 would mean "no limit": never pass it.
        body = stream.decompress(stream.unconsumed_tail, size) if size else b""
        extra = stream.decompress(stream.unconsumed_tail, 1)
    except zlib.error as e:
        raise format_error(path, f"corrupt gzip stream: {e}") from None
    if len(body) < size:
        raise format_error(
            path,
            f"header promises {n} points of {point_bytes} bytes ({size} bytes) but the stream "
            f"holds only {len(body)} bytes after the header",
        )
    if extra:
        raise format_error(path, f"the stream holds more than the {size} bytes of {n} points")
    if not stream.eof:
        raise format_error(path, "the gzip stream is truncated (no end-of-stream and checksum)")
    return _decode(np.frombuffer(body, dtype=np.uint8), n, version, degree, fractional_bits)


def write_spz(
    cloud: SplatCloud,
    path: str | os.PathLike,
    *,
    version: int = 3,
    fractional_bits: int = 12,
    antialiased: bool = False,
) -> None:
    """Write ``cloud`` as SPZ, quantised as the reference packGaussians does.

    Args:
        cloud: N Gaussians of SH degree 0..3
        path: the file to write
        version: 3 (the reference default: smallest-three rotations) or 2 (x, y, z rotations,
            readable by older loaders)
        fractional_bits: fixed-point precision of the means; 12 (the reference value) gives
            0.24 mm steps and a range of +/-2048 m. Lower it for larger scenes.
        antialiased: the header flag that asks renderers for Mip-Splatting antialiasing
    Raises:
        ValueError: an unsupported version or fractional_bits outside 0..23
        SplatFormatError: NaN in the cloud, or a mean outside the fixed-point range
    """
    if version not in VERSIONS:
        raise ValueError(f"SPZ version must be one of {VERSIONS}, got {version}")
    if not 0 <= fractional_bits <= 23:
        raise ValueError(f"fractional_bits must be 0..23, got {fractional_bits}")
    a = arrays_from_cloud(cloud, path, quantised=True)
    n, degree = len(cloud), cloud.sh_degree
    fixed = round_half_away(a["means"].astype(np.float64) * 2.0**fractional_bits)
    limit = 1 << 23
    if n and (fixed.min() < -limit or fixed.max() >= limit):
        reach = limit / 2.0**fractional_bits
        raise format_error(
            path,
            f"means must lie within +/-{reach:g} for fractional_bits={fractional_bits}, got up "
            f"to {np.abs(a['means']).max():g}; pass a smaller fractional_bits",
        )
    positions = fixed.astype("<i4").view(np.uint8).reshape(n, 3, 4)[:, :, :3]  # 24-bit LE
    quats = a["quats"][:, [1, 2, 3, 0]]  # (w, x, y, z) -> SPZ's (x, y, z, w)
    rotations = _pack_v2(quats) if version == 2 else _pack_v3(quats).view(np.uint8)
    colours = to_u8(a["sh"][:, 0].astype(np.float64) * (_COLOR_SCALE * 255) + 127.5)
    sh = a["sh"][:, 1:].astype(np.float64)  # [N, K-1, 3]
    buckets = np.where(np.arange(sh.shape[1]) < 3, 8, 16)[None, :, None]
    q = round_half_away(sh * 128) + 128
    sh_bytes = np.clip((q + buckets // 2) // buckets * buckets, 0, 255).astype(np.uint8)
    flags = _FLAG_ANTIALIASED if antialiased else 0
    planes = [
        _HEADER.pack(MAGIC, version, n, degree, fractional_bits, flags, 0),
        positions.tobytes(),
        opacity_to_u8(a["opacity_logits"]).tobytes(),
        colours.tobytes(),
        to_u8((a["log_scales"].astype(np.float64) + 10) * 16).tobytes(),
        rotations.tobytes(),
        sh_bytes.tobytes(),
    ]
    # zlib's default level, as the reference; level 9 is several times slower for ~1% smaller.
    Path(path).write_bytes(gzip.compress(b"".join(planes), compresslevel=6, mtime=0))


def _check_header(magic: int, version: int, degree: int, flags: int, path: object) -> None:
    if magic != MAGIC:
        raise format_error(path, f"bad magic {magic:#010x}, expected {MAGIC:#010x} ('NGSP')")
    if version not in VERSIONS:
        raise format_error(path, f"SPZ version {version} is not supported; expected {VERSIONS}")
    if degree > 3:
        raise format_error(path, f"SH degree {degree} is not supported; expected 0..3")
    if flags & _FLAG_EXTENSIONS:
        raise format_error(path, "SPZ extensions (flags bit 0x2) are not supported")


def _decode(
    body: np.ndarray, n: int, version: int, degree: int, fractional_bits: int
) -> SplatCloud:
    """The planes of ``body`` (exactly as long as the header implies) as a cloud."""
    k = (degree + 1) ** 2
    sizes = [9 * n, n, 3 * n, 3 * n, (3 if version == 2 else 4) * n, 3 * (k - 1) * n]
    positions, alphas, colours, scales, rotations, sh_bytes = np.split(body, np.cumsum(sizes)[:-1])
    p = positions.reshape(n, 3, 3).astype(np.int32)
    fixed = p[..., 0] | (p[..., 1] << 8) | (p[..., 2] << 16)
    fixed = (fixed ^ 0x800000) - 0x800000  # sign-extend 24 bits
    means = fixed.astype(np.float32) * np.float32(2.0**-fractional_bits)
    if version == 2:
        xyz = rotations.reshape(n, 3).astype(np.float32) / np.float32(127.5) - 1
        w = np.sqrt(np.maximum(0, 1 - np.square(xyz).sum(axis=1)))
        quats = np.concatenate([w[:, None], xyz], axis=1)
    else:
        quats = _unpack_v3(rotations.view("<u4"))[:, [3, 0, 1, 2]]  # (x, y, z, w) -> (w, ...)
    sh = np.empty((n, k, 3), dtype=np.float32)
    sh[:, 0] = (colours.reshape(n, 3) / np.float32(255) - np.float32(0.5)) / np.float32(
        _COLOR_SCALE
    )
    sh[:, 1:] = (sh_bytes.reshape(n, k - 1, 3).astype(np.float32) - 128) / 128
    log_scales = scales.reshape(n, 3).astype(np.float32) / 16 - 10
    return cloud_from_arrays(means, quats, log_scales, opacity_from_u8(alphas), sh)


def _pack_v2(q: np.ndarray) -> np.ndarray:
    """Unit (x, y, z, w) with w >= 0, x y z as bytes  # [N, 4] -> [N, 3] uint8"""
    q = q.astype(np.float64) / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    q = np.where(q[:, 3:] < 0, -q, q)
    return to_u8(q[:, :3] * 127.5 + 127.5)


def _pack_v3(q: np.ndarray) -> np.ndarray:
    """Smallest-three packing of (x, y, z, w) quaternions  # [N, 4] -> [N] little-endian u32"""
    q = q.astype(np.float64) / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    n = len(q)
    largest = np.argmax(np.abs(q), axis=1)
    q = np.where(q[np.arange(n), largest][:, None] < 0, -q, q)
    slots = np.arange(3)[None, :]
    others = q[np.arange(n)[:, None], slots + (slots >= largest[:, None])]  # [N, 3]
    magnitude = np.floor(511 * np.abs(others) / float(_SQRT1_2) + 0.5).astype(np.uint32)
    fields = ((others < 0).astype(np.uint32) << 9) | np.minimum(magnitude, 511)
    comp = largest.astype(np.uint32) << 30 | fields[:, 0] << 20 | fields[:, 1] << 10 | fields[:, 2]
    return comp.astype("<u4")


def _unpack_v3(comp: np.ndarray) -> np.ndarray:
    """Smallest-three u32 to unit (x, y, z, w) quaternions  # [N] -> [N, 4]"""
    comp = comp.astype(np.uint32)
    shifts = np.array([20, 10, 0], dtype=np.uint32)
    fields = (comp[:, None] >> shifts) & 0x3FF  # [N, 3], in increasing component order
    magnitude = (fields & 0x1FF).astype(np.float32) * (_SQRT1_2 / np.float32(511))
    others = np.where(fields & 0x200, -magnitude, magnitude)
    return smallest_three(others, (comp >> 30).astype(np.intp))
