"""The engine pack: a SplatCloud laid out as the GPU textures the Godot plugin draws from.

The backend writes packs and the plugin uploads their sections as textures without touching a
single splat, which is what makes a 10^6-splat sync cheap on the engine side. The layout is part
of the bridge contract (bridge/PROTOCOL.md, "Splat packs"):

    octets 0..3    magic b"CSPK"
    octets 4..7    version, uint32 LE (1)
    octets 8..11   L, the header's length, uint32 LE
    octets 12..    the header, compact UTF-8 JSON, then zero octets to a multiple of 16
    sections       at the offsets the header gives (multiples of 16), in the header's order

Sections are images ``width`` texels wide, one texel per splat in splat order (row-major), rows
padded with zero texels to ``height`` rows:

    means      rgba32f  x, y, z, opacity logit
    rotations  rgba16f  quaternion w, x, y, z (not necessarily normalised)
    scales     rgba16f  log sx, log sy, log sz, 0
    colors     rgba16f  SH DC coefficient r, g, b, 0
    sh         rgba16f  only for sh_degree > 0: ``sh_texels`` texels per splat holding the
                        3 (K - 1) higher coefficients coefficient-major (k1 r, k1 g, k1 b,
                        k2 r ...), zero padded; ``SH_SPLATS_PER_ROW`` splats per row

That is 44 octets per splat at SH degree 0 on the GPU, counting the engine's 4-octet sort index.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np
import torch

from continuum.errors import SplatFormatError
from continuum.splats.cloud import SplatCloud
from continuum.splats.sh import num_coeffs

MAGIC = b"CSPK"
VERSION = 1
TEXTURE_WIDTH = 2048  # texels per row of the per-splat sections
SH_SPLATS_PER_ROW = 512  # splats per row of the SH section
MAX_TEXTURE_ROWS = 16384  # what every Godot renderer can sample
MAX_SPLATS = TEXTURE_WIDTH * MAX_TEXTURE_ROWS
_SECTIONS = (
    ("means", "rgba32f"),
    ("rotations", "rgba16f"),
    ("scales", "rgba16f"),
    ("colors", "rgba16f"),
)
_TEXEL_BYTES = {"rgba32f": 16, "rgba16f": 8}


@dataclass(frozen=True)
class PackHeader:
    """What a pack's header says; ``sections`` maps name to (format, offset, bytes)."""

    count: int
    sh_degree: int
    height: int
    sh_texels: int
    sh_height: int
    aabb: tuple[float, float, float, float, float, float]  # min xyz, max xyz
    sections: dict[str, tuple[str, int, int]]


def sh_texels(sh_degree: int) -> int:
    """Texels per splat in the ``sh`` section: 3 (K - 1) halves in groups of four."""
    return math.ceil(3 * (num_coeffs(sh_degree) - 1) / 4)


def splat_bounds(cloud: SplatCloud) -> tuple[float, float, float, float, float, float]:
    """The box that holds every splat out to 3 standard deviations of its largest axis.

    Empty clouds get an empty box at the origin.
    """
    if len(cloud) == 0:
        return (0.0,) * 6
    with torch.no_grad():
        reach = 3.0 * cloud.log_scales.max(dim=1).values.exp()[:, None]  # [N, 1]
        lo = (cloud.means - reach).min(dim=0).values
        hi = (cloud.means + reach).max(dim=0).values
    return tuple(float(v) for v in (*lo.tolist(), *hi.tolist()))


def pack_splats(cloud: SplatCloud, *, sh_degree: int | None = None) -> bytes:
    """Lay ``cloud`` out as an engine pack, keeping SH up to ``sh_degree`` (default: all)."""
    n = len(cloud)
    degree = cloud.sh_degree if sh_degree is None else sh_degree
    if not 0 <= degree <= cloud.sh_degree:
        raise ValueError(f"sh_degree must be 0..{cloud.sh_degree} for this cloud, got {degree}")
    if n > MAX_SPLATS:
        raise ValueError(f"a pack holds at most {MAX_SPLATS} splats, got {n}; split the cloud")
    height = max(1, math.ceil(n / TEXTURE_WIDTH))
    texels = height * TEXTURE_WIDTH

    def image(columns: list[torch.Tensor], dtype: np.dtype, n_texels: int, width: int) -> bytes:
        data = np.zeros((n_texels, width), dtype=dtype)
        stacked = torch.stack(columns, dim=1) if columns else torch.zeros(n, 0)
        data[:n, : stacked.shape[1]] = stacked.detach().cpu().to(torch.float64).numpy()
        return data.astype(dtype.newbyteorder("<")).tobytes()

    c = cloud.detach().to(device="cpu")
    zero = torch.zeros(n, dtype=c.dtype)
    blobs = {
        "means": image([*c.means.unbind(1), c.opacity_logits], np.dtype(np.float32), texels, 4),
        "rotations": image(list(c.quats.unbind(1)), np.dtype(np.float16), texels, 4),
        "scales": image([*c.log_scales.unbind(1), zero], np.dtype(np.float16), texels, 4),
        "colors": image([*c.sh[:, 0].unbind(1), zero], np.dtype(np.float16), texels, 4),
    }
    formats = dict(_SECTIONS)
    header: dict = {
        "count": n,
        "sh_degree": degree,
        "width": TEXTURE_WIDTH,
        "height": height,
        "aabb": list(splat_bounds(c)),
    }
    if degree > 0:
        per = sh_texels(degree)
        sh_height = math.ceil(n / SH_SPLATS_PER_ROW)
        k = num_coeffs(degree)
        rest = c.sh[:, 1:k].reshape(n, 3 * (k - 1))  # [N, 3 (K - 1)] coefficient-major
        data = np.zeros((sh_height * SH_SPLATS_PER_ROW, per * 4), dtype=np.float16)
        data[:n, : rest.shape[1]] = rest.numpy()
        blobs["sh"] = data.astype("<f2").tobytes()
        formats["sh"] = "rgba16f"
        header.update(sh_texels=per, sh_width=per * SH_SPLATS_PER_ROW, sh_height=sh_height)

    # The header holds the section offsets, which depend on the header's own length: lay it out
    # again until the offsets stop moving (twice, or three times when a digit is added).
    sections = [
        {"name": k, "format": formats[k], "offset": 0, "bytes": len(v)} for k, v in blobs.items()
    ]
    header["sections"] = sections
    raw = b""
    while len(raw) != len(raw := _header_bytes(header)):
        offset = _align(12 + len(raw))
        for section in sections:
            section["offset"] = offset
            offset = _align(offset + section["bytes"])
    out = bytearray(struct.pack("<4sII", MAGIC, VERSION, len(raw)))
    out += raw
    for section, blob in zip(sections, blobs.values(), strict=True):
        out += b"\0" * (section["offset"] - len(out))
        out += blob
    out += b"\0" * (_align(len(out)) - len(out))
    return bytes(out)


def read_pack_header(data: bytes | memoryview) -> PackHeader:
    """Check a pack's framing and header against its length; raises SplatFormatError."""
    if len(data) < 12 or bytes(data[:4]) != MAGIC:
        raise SplatFormatError("not a Continuum splat pack: it does not start with b'CSPK'")
    version, length = struct.unpack_from("<II", data, 4)
    if version != VERSION:
        raise SplatFormatError(f"splat pack version {version}; this backend reads {VERSION}")
    if 12 + length > len(data):
        raise SplatFormatError(f"splat pack header of {length} octets runs past the end")
    try:
        header = json.loads(bytes(data[12 : 12 + length]).decode("utf-8"))
        n, degree = int(header["count"]), int(header["sh_degree"])
        height = int(header["height"])
        sections = {
            s["name"]: (str(s["format"]), int(s["offset"]), int(s["bytes"]))
            for s in header["sections"]
        }
        aabb = tuple(float(v) for v in header["aabb"])
    # OverflowError: json reads Infinity, which int() refuses with it.
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise SplatFormatError(f"splat pack header is malformed: {exc}") from exc
    if not 0 <= n <= MAX_SPLATS or degree not in (0, 1, 2, 3) or len(aabb) != 6:
        raise SplatFormatError(f"splat pack header out of range: count {n}, sh_degree {degree}")
    if header.get("width") != TEXTURE_WIDTH or height != max(1, math.ceil(n / TEXTURE_WIDTH)):
        raise SplatFormatError("splat pack texture size does not match its count")
    per = sh_texels(degree) if degree else 0
    sh_height = math.ceil(n / SH_SPLATS_PER_ROW) if degree else 0
    expected = {name: (fmt, height * TEXTURE_WIDTH * _TEXEL_BYTES[fmt]) for name, fmt in _SECTIONS}
    if degree:
        expected["sh"] = ("rgba16f", sh_height * SH_SPLATS_PER_ROW * per * 8)
    for name, (fmt, size) in expected.items():
        got = sections.get(name)
        if got is None or got[0] != fmt or got[2] != size:
            raise SplatFormatError(
                f"splat pack section {name!r} should be {fmt} of {size} octets, got {got}"
            )
        if got[1] % 16 or got[1] < 12 + length or got[1] + size > len(data):
            raise SplatFormatError(f"splat pack section {name!r} lies outside the pack")
    return PackHeader(n, degree, height, per, sh_height, aabb, sections)


def unpack_splats(data: bytes | memoryview) -> SplatCloud:
    """Read a pack back into a float32 SplatCloud (halves widened; the reference for the engine)."""
    head = read_pack_header(data)
    n = head.count

    def section(name: str, dtype: str, width: int) -> torch.Tensor:
        _, offset, size = head.sections[name]
        arr = np.frombuffer(
            data, dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=offset
        ).reshape(-1, width)
        return torch.from_numpy(arr[:n].astype(np.float32))

    means = section("means", "<f4", 4)
    rest = torch.zeros(n, 0, 3)
    if head.sh_degree:
        k = num_coeffs(head.sh_degree) - 1
        rest = section("sh", "<f2", head.sh_texels * 4)[:, : 3 * k].reshape(n, k, 3)
    return SplatCloud(
        means=means[:, :3].contiguous(),
        quats=section("rotations", "<f2", 4),
        log_scales=section("scales", "<f2", 4)[:, :3].contiguous(),
        opacity_logits=means[:, 3].contiguous(),
        sh=torch.cat([section("colors", "<f2", 4)[:, None, :3], rest], dim=1),
    )


def _header_bytes(header: dict) -> bytes:
    return json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _align(offset: int) -> int:
    return (offset + 15) // 16 * 16
