"""PlayCanvas compressed PLY (SuperSplat, splat-transform): read only.

Follows playcanvas/splat-transform src/lib/readers/decompress-ply.ts (and its writer,
src/lib/writers/compressed-chunk.ts and write-compressed-ply.ts), which agrees with the engine's
src/scene/gsplat/gsplat-compressed-data.js except where noted. Three elements, in any order:

    chunk   one per 256 Gaussians (the last one partial), float: min_x min_y min_z max_x max_y
            max_z min_scale_x min_scale_y min_scale_z max_scale_x max_scale_y max_scale_z, and
            optionally min_r min_g min_b max_r max_g max_b (older files have 12 properties)
    vertex  uint packed_position, packed_rotation, packed_scale, packed_color
    sh      optional, one per Gaussian: uchar f_rest_0..f_rest_{m-1}, m = 9, 24 or 45, in the
            channel-major order of 3DGS PLY

    packed_position, packed_scale  11-10-11 bits (x in the top 11) as unorm v / (2^bits - 1),
                    lerped between the chunk's min and max; scales are log-scales
    packed_rotation the top 2 bits the index of the largest of (rot_0..rot_3) = (w, x, y, z);
                    then three 10-bit unorms, (v / 1023 - 0.5) * sqrt(2), for the others in
                    increasing index order; the largest is sqrt(1 - a^2 - b^2 - c^2)
    packed_color    8-8-8-8 (r in the top byte) unorm; r g b lerped in the chunk's colour range
                    when it has one, f_dc = (colour - 0.5) / C0; a = sigmoid(opacity)
    sh bytes        ((v + 0.5) / 256 - 0.5) * 8, with 0 -> -4 and 255 -> +4: the centre of the
                    bin the writer truncates into (the engine's v * 8/255 - 4 is within 1/64)

Opacity bytes 0 and 255 decode to finite logits (about -/+6.93; the engine uses -/+40 and
splat-transform -/+inf); see _quantize. Coordinates are returned as stored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.lib.recfunctions import structured_to_unstructured

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats._io import cloud_from_arrays, format_error
from continuum.splats.formats._ply_header import PlyHeader, parse_header, read_elements
from continuum.splats.formats._quantize import opacity_from_u8, smallest_three
from continuum.splats.sh import C0

CHUNK_SIZE = 256
_CHUNK = [f"{e}_{a}" for e in ("min", "max") for a in "xyz"]
_CHUNK += [f"{e}_scale_{a}" for e in ("min", "max") for a in "xyz"]
_CHUNK_COLOUR = [f"{e}_{c}" for e in ("min", "max") for c in "rgb"]
_PACKED = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]
_SH_COUNTS = (9, 24, 45)


def is_compressed_ply(header: PlyHeader) -> bool:
    """Whether a parsed PLY header is PlayCanvas compressed: a chunk element and packed vertices."""
    vertex = header.element("vertex")
    return (
        header.element("chunk") is not None
        and vertex is not None
        and "packed_position" in vertex.property_names()
    )


def read_compressed_ply(path: str | os.PathLike) -> SplatCloud:
    """Read a PlayCanvas compressed PLY into a float32 CPU cloud; see the module docstring.

    Raises:
        SplatFormatError: an element or property is missing or of the wrong type, the chunk
            count does not match ceil(N / 256), or the file is shorter than its header says.
    """
    data = Path(path).read_bytes()
    header = parse_header(data, path)
    n, has_colour, sh_names = _check_layout(header, path)
    wanted = {"chunk", "vertex"} | ({"sh"} if sh_names else set())
    tables = read_elements(data, header, wanted, path)
    # Corrupt chunk floats (inf, NaN) decode to inf and NaN, as IEEE arithmetic has it.
    with np.errstate(over="ignore", invalid="ignore"):
        return _decode(tables, n, has_colour, sh_names)


def _decode(
    tables: dict[str, np.ndarray], n: int, has_colour: bool, sh_names: list[str]
) -> SplatCloud:
    """The cloud from the chunk, vertex and (when ``sh_names``) sh tables; see the module."""
    chunk_names = _CHUNK + (_CHUNK_COLOUR if has_colour else [])
    chunks = structured_to_unstructured(tables["chunk"][chunk_names], dtype=np.float64)
    chunks = chunks[np.arange(n) // CHUNK_SIZE]  # each Gaussian's chunk row
    packed = structured_to_unstructured(tables["vertex"][_PACKED], dtype=np.uint32)

    means = _lerp(chunks[:, 0:3], chunks[:, 3:6], _unpack_111011(packed[:, 0]))
    log_scales = _lerp(chunks[:, 6:9], chunks[:, 9:12], _unpack_111011(packed[:, 2]))
    rotation = packed[:, 1]
    shifts = np.array([20, 10, 0], dtype=np.uint32)
    others = (((rotation[:, None] >> shifts) & 0x3FF) / 1023.0 - 0.5) * np.sqrt(2.0)
    quats = smallest_three(others, (rotation >> 30).astype(np.intp))
    colour = packed[:, 3]
    rgba = (colour[:, None] >> np.array([24, 16, 8, 0], dtype=np.uint32)) & 0xFF
    rgb = rgba[:, :3] / 255.0
    if has_colour:
        rgb = _lerp(chunks[:, 12:15], chunks[:, 15:18], rgb)
    k = len(sh_names) // 3 + 1
    sh = np.empty((n, k, 3), dtype=np.float32)
    sh[:, 0] = (rgb - 0.5) / C0
    if sh_names:
        v = structured_to_unstructured(tables["sh"][sh_names], dtype=np.float64)
        unit = np.where(v == 0, 0.0, np.where(v == 255, 1.0, (v + 0.5) / 256))
        sh[:, 1:] = ((unit - 0.5) * 8).reshape(n, 3, k - 1).transpose(0, 2, 1)
    return cloud_from_arrays(means, quats, log_scales, opacity_from_u8(rgba[:, 3]), sh)


def _check_layout(header: PlyHeader, path: object) -> tuple[int, bool, list[str]]:
    """(N, whether chunks carry a colour range, the sh element's f_rest names)."""
    chunk, vertex, sh = (header.element(name) for name in ("chunk", "vertex", "sh"))
    if chunk is None or vertex is None:
        elements = [e.name for e in header.elements]
        raise format_error(path, f"expected 'chunk' and 'vertex' elements, got {elements}")
    types = {p.name: p.type for p in chunk.properties}
    has_colour = all(name in types for name in _CHUNK_COLOUR)
    for name in _CHUNK + (_CHUNK_COLOUR if has_colour else []):
        if types.get(name, "")[:1] != "f":
            raise format_error(
                path, f"chunk property {name!r} must be a float, got {types.get(name)}"
            )
    types = {p.name: p.type for p in vertex.properties}
    for name in _PACKED:
        if types.get(name) != "u4":
            raise format_error(
                path, f"vertex property {name!r} must be a uint, got {types.get(name)}"
            )
    n = vertex.count
    if chunk.count != -(-n // CHUNK_SIZE):
        raise format_error(
            path,
            f"{n} Gaussians need {-(-n // CHUNK_SIZE)} chunks of {CHUNK_SIZE}, "
            f"the header declares {chunk.count}",
        )
    if sh is None:
        return n, has_colour, []
    names = [f"f_rest_{i}" for i in range(len(sh.properties))]
    if (
        sh.count != n
        or len(names) not in _SH_COUNTS
        or set(names) != set(sh.property_names())
        or any(p.type != "u1" for p in sh.properties)
    ):
        raise format_error(
            path,
            f"the sh element must have {n} rows of uchar f_rest_0..f_rest_(m-1), m in "
            f"{_SH_COUNTS}; got {sh.count} rows of {len(names)} properties",
        )
    return n, has_colour, names


def _unpack_111011(packed: np.ndarray) -> np.ndarray:
    """11-10-11-bit unorms, x in the top bits  # [N] uint32 -> [N, 3] in [0, 1]"""
    shifts = np.array([21, 11, 0], dtype=np.uint32)
    masks = np.array([0x7FF, 0x3FF, 0x7FF], dtype=np.uint32)
    return ((packed[:, None] >> shifts) & masks) / masks.astype(np.float64)


def _lerp(lo: np.ndarray, hi: np.ndarray, t: np.ndarray) -> np.ndarray:
    return lo * (1 - t) + hi * t
