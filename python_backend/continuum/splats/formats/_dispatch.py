"""Choosing the format of a splat file, for reading and for writing."""

from __future__ import annotations

import os
from pathlib import Path

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats._io import format_error
from continuum.splats.formats._ply_header import MAX_HEADER_BYTES, parse_header
from continuum.splats.formats.compressed_ply import is_compressed_ply, read_compressed_ply
from continuum.splats.formats.ply import read_ply, write_ply
from continuum.splats.formats.sog import read_sog
from continuum.splats.formats.splat import read_splat, write_splat
from continuum.splats.formats.spz import read_spz, write_spz

FORMATS = ("ply", "splat", "spz", "compressed_ply", "sog")
_READERS = {
    "ply": read_ply,
    "compressed_ply": read_compressed_ply,
    "splat": read_splat,
    "spz": read_spz,
    "sog": read_sog,
}
_WRITERS = {"ply": write_ply, "splat": write_splat, "spz": write_spz}
_EXTENSIONS = {".ply": "ply", ".splat": "splat", ".spz": "spz", ".sog": "sog", ".json": "sog"}


def read_splats(path: str | os.PathLike) -> SplatCloud:
    """Read a splat file of any supported format into a float32 CPU cloud.

    The format comes from the first bytes: ``ply`` (3DGS or, with a ``chunk`` element and
    packed vertices, PlayCanvas compressed), gzip (SPZ), zip (SOG); otherwise from the
    extension: ``.splat``, or ``.json`` for an unbundled SOG ``meta.json``.

    Raises:
        SplatFormatError: the format cannot be told, or the file is not valid in it.
    """
    return _READERS[detect_format(path)](path)


def write_splats(cloud: SplatCloud, path: str | os.PathLike, *, format: str | None = None) -> None:
    """Write ``cloud`` as ``format`` ("ply", "splat" or "spz"), by default from the extension.

    Each writer's defaults apply (SPZ: version 3, 12 fractional bits); call
    ``formats.spz.write_spz`` for its options.

    Raises:
        ValueError: no writable format given or implied by the extension.
    """
    name = format or _EXTENSIONS.get(Path(path).suffix.lower())
    if name not in _WRITERS:
        raise ValueError(
            f"cannot write {path} as {name!r}: writable formats are {sorted(_WRITERS)}; "
            f"pass format= or use the extension .ply, .splat or .spz"
        )
    _WRITERS[name](cloud, path)


def detect_format(path: str | os.PathLike) -> str:
    """The name in ``FORMATS`` of the file's format, from its first bytes or its extension."""
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if head.startswith(b"ply"):
        return "compressed_ply" if is_compressed_ply(parse_header(head, path)) else "ply"
    if head.startswith(b"\x1f\x8b"):
        return "spz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "sog"
    by_extension = _EXTENSIONS.get(Path(path).suffix.lower())
    if by_extension in ("splat", "sog"):
        return by_extension
    raise format_error(
        path,
        f"cannot tell the format: it starts {head[:4]!r}, which is no PLY, gzip (SPZ) or zip "
        f"(SOG), and its extension is not .splat or .json (SOG meta.json)",
    )
