"""Splat files: read any supported format into a SplatCloud, write the writable ones.

Public names:
- ``read_splats(path)``: the format from the file's first bytes (then its extension)
- ``write_splats(cloud, path, *, format=None)``: the format from ``format`` or the extension
- ``detect_format(path)``: the format name ``read_splats`` would use
- ``FORMATS``: the format names, and per format module its reader (and writer):
  ``ply`` (3DGS PLY, read and write, exact), ``splat`` (antimatter15 .splat, read and write,
  degree 0, 8-bit colour), ``spz`` (Niantic SPZ v2/v3, read and write, quantised),
  ``compressed_ply`` (PlayCanvas compressed PLY, read), ``sog`` (PlayCanvas SOG v2, read)

Every reader raises ``continuum.errors.SplatFormatError`` naming the file and what was wrong for
a corrupt, truncated or header-lying file, and checks every count against the bytes that follow
before allocating. A missing file is a plain ``FileNotFoundError``.
"""

from continuum.splats.formats._dispatch import FORMATS, detect_format, read_splats, write_splats

__all__ = ["FORMATS", "detect_format", "read_splats", "write_splats"]
