"""PlayCanvas SOG version 2 (Spatially Ordered Gaussians): read only.

Follows the specification at developer.playcanvas.com/user-manual/gaussian-splatting/formats/sog
and its reference reader and writer, playcanvas/splat-transform src/lib/readers/read-sog.ts and
src/lib/writers/write-sog.ts. A bundled ``.sog`` is a zip of ``meta.json`` and 8-bit images
(lossless WebP by default); an unbundled set is ``meta.json`` with the images beside it. Gaussian
i is pixel (i % W, i // W) of every per-Gaussian image, and ``count <= W * H``.

    means    means_l, means_u: RGB low and high bytes of 16-bit u per axis;
             v = mins + (maxs - mins) * u / 65535, mean = sign(v) * (exp(|v|) - 1)
             (the inverse of the writer's sign(x) * log(|x| + 1)); a zero range counts as 1
    quats    RGBA: A = 252 + index of the largest of (w, x, y, z); R G B the other three in
             increasing index order, as (byte / 255 * 2 - 1) / sqrt(2); the largest is
             sqrt(1 - sum of their squares)
    scales   RGB index the 256-entry ``scales.codebook`` of log-scales
    sh0      RGB index the 256-entry ``sh0.codebook`` of DC coefficients; A = sigmoid(opacity)
    shN      optional, ``bands`` 1..3 of K - 1 = 3, 8 or 15 coefficients: shN_labels RG is a
             16-bit index into a palette of ``count`` entries; palette entry p is the row of K - 1
             pixels starting at ((p % 64) * (K - 1), p // 64) of shN_centroids (64 entries a row),
             whose RGB index the 256-entry ``shN.codebook``

Stricter than read-sog.ts, which patches bad data: a quaternion tag outside 252..255 or a palette
label past ``shN.count`` is an error here, not an identity rotation or zero SH. Opacity bytes 0
and 255 decode to finite logits (about -/+6.93; read-sog.ts clamps to -/+13.8); see _quantize.
Coordinates are returned as stored (the specification says right-handed, z back). Images are
opened only as WebP or PNG, and their size is checked against ``count`` before decoding.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats._io import cloud_from_arrays, format_error
from continuum.splats.formats._quantize import opacity_from_u8, smallest_three

_MAX_META_BYTES = 64 << 20
_SPARE_ROWS = 4  # the reference writer rounds the image height up to a multiple of 4
_PALETTE_WIDTH = 64
_T = TypeVar("_T")
_LOG_RANGE = 88.7  # just under log(|x| + 1) of the largest float32
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
    OSError,
    OverflowError,
)
_IMAGE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


def read_sog(path: str | os.PathLike) -> SplatCloud:
    """Read a bundled ``.sog`` or an unbundled ``meta.json`` into a float32 CPU cloud.

    Raises:
        SplatFormatError: a broken zip or image, a missing file, a meta.json that is not
            version 2 or lacks a field, or images too small for (or far larger than) ``count``.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return _decode(_folder_loader(path), path)
    data = path.read_bytes()
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as e:
        raise format_error(path, f"not a readable zip: {type(e).__name__}: {e}") from e
    with bundle:
        return _decode(_zip_loader(bundle, path), path)


def _zip_loader(bundle: zipfile.ZipFile, path: Path) -> Callable[[str, int], bytes]:
    def load(name: str, limit: int) -> bytes:
        try:
            info = bundle.getinfo(name)
        except KeyError:
            raise format_error(path, f"the bundle has no {name!r}") from None
        if info.file_size > limit:
            raise format_error(path, f"{name} is {info.file_size} bytes, over {limit}")
        try:
            return bundle.read(info)
        except _ZIP_ERRORS as e:
            raise format_error(path, f"cannot unzip {name}: {type(e).__name__}: {e}") from e

    return load


def _folder_loader(meta_path: Path) -> Callable[[str, int], bytes]:
    def load(name: str, limit: int) -> bytes:
        if name == "meta.json":
            file = meta_path  # a missing meta.json is a FileNotFoundError, as for other formats
        elif Path(name).name != name or name in ("", ".", ".."):
            raise format_error(meta_path, f"file name {name!r} must name a file beside meta.json")
        elif not (file := meta_path.parent / name).is_file():
            raise format_error(meta_path, f"{file} does not exist")
        if file.stat().st_size > limit:
            raise format_error(meta_path, f"{file} is {file.stat().st_size} bytes, over {limit}")
        return file.read_bytes()

    return load


def _decode(load: Callable[[str, int], bytes], path: Path) -> SplatCloud:
    # 1. meta.json
    try:
        meta = json.loads(load("meta.json", _MAX_META_BYTES))
    except ValueError as e:
        raise format_error(path, f"meta.json is not JSON: {e}") from None
    if not isinstance(meta, dict) or "version" not in meta:
        raise format_error(
            path, "meta.json has no version: SOG v1 (per-channel mins/maxs) is not supported"
        )
    if meta["version"] != 2:
        raise format_error(path, f"meta.json version must be 2, got {meta['version']!r}")
    count = _field(meta, "count", int, path)
    if count < 0:
        raise format_error(path, f"meta.json count must be >= 0, got {count}")

    def image(section: str, index: int) -> np.ndarray:
        names = _field(meta, f"{section}.files", list, path)
        if len(names) <= index or not isinstance(names[index], str):
            raise format_error(path, f"meta.json {section}.files needs {index + 1} file names")
        return _image(load, names[index], count, path)  # [count, 4]

    # 2. means: 16-bit values in log space
    mins = _numbers(meta, "means.mins", 3, path)
    maxs = _numbers(meta, "means.maxs", 3, path)
    if np.abs(np.concatenate([mins, maxs])).max() > _LOG_RANGE:
        raise format_error(path, f"means.mins/maxs must lie within +/-{_LOG_RANGE} (log space)")
    low, high = image("means", 0), image("means", 1)
    u = low[:, :3].astype(np.float64) + high[:, :3].astype(np.float64) * 256
    span = np.where(maxs - mins == 0, 1.0, maxs - mins)
    v = mins + span * (u / 65535)
    means = np.sign(v) * np.expm1(np.abs(v))

    # 3. quaternions: smallest three and a tag
    q = image("quats", 0)
    tags = q[:, 3].astype(np.intp) - 252
    bad = (tags < 0) | (tags > 3)
    if bad.any():
        first = int(np.argmax(bad))
        raise format_error(
            path,
            f"quats: {int(bad.sum())} tags outside 252..255, first Gaussian {first} with "
            f"{int(q[first, 3])}",
        )
    quats = smallest_three((q[:, :3] / 255.0 * 2 - 1) / np.sqrt(2.0), tags)

    # 4. scales and DC colour through their codebooks, opacity as a byte
    log_scales = _numbers(meta, "scales.codebook", 256, path)[image("scales", 0)[:, :3]]
    sh0 = image("sh0", 0)
    dc = _numbers(meta, "sh0.codebook", 256, path)[sh0[:, :3]]

    # 5. higher SH bands through the palette
    bands = _field(meta, "shN.bands", int, path) if "shN" in meta else 0
    if bands not in (0, 1, 2, 3):
        raise format_error(path, f"meta.json shN.bands must be 0..3, got {bands}")
    k = (bands + 1) ** 2
    sh = np.empty((count, k, 3), dtype=np.float32)
    sh[:, 0] = dc
    if bands:
        sh[:, 1:] = _palette_sh(meta, load, image("shN", 1), k - 1, path)
    return cloud_from_arrays(means, quats, log_scales, opacity_from_u8(sh0[:, 3]), sh)


def _palette_sh(
    meta: dict, load: Callable[[str, int], bytes], labels_rgba: np.ndarray, coeffs: int, path: Path
) -> np.ndarray:
    """The shN coefficients of every Gaussian  # -> [count, coeffs, 3]"""
    size = _field(meta, "shN.count", int, path)
    if not 1 <= size <= 1 << 16:
        raise format_error(path, f"meta.json shN.count must be 1..65536, got {size}")
    codebook = _numbers(meta, "shN.codebook", 256, path)
    labels = labels_rgba[:, 0].astype(np.intp) | labels_rgba[:, 1].astype(np.intp) << 8
    if labels.size and labels.max() >= size:
        first = int(np.argmax(labels >= size))
        raise format_error(
            path, f"shN label {int(labels[first])} of Gaussian {first} is past shN.count {size}"
        )
    files = _field(meta, "shN.files", list, path)
    if not files or not isinstance(files[0], str):
        raise format_error(path, "meta.json shN.files needs the centroids image name")
    rows = -(-size // _PALETTE_WIDTH)
    width = _PALETTE_WIDTH * coeffs
    centroids = _image(load, files[0], rows * width, path, width=width)  # [H * W, 4]
    palette = centroids[: rows * width, :3].reshape(rows * _PALETTE_WIDTH, coeffs, 3)
    return codebook[palette[labels]]


def _image(
    load: Callable[[str, int], bytes], name: str, count: int, path: Path, *, width: int = 0
) -> np.ndarray:
    """The first ``count`` pixels of an 8-bit image, row-major  # -> [count, 4] uint8

    The size is checked before decoding: at least ``count`` pixels and at most a few spare rows
    (and exactly ``width`` wide when given).
    """
    data = load(name, 1 << 30)
    try:
        with Image.open(io.BytesIO(data), formats=["WEBP", "PNG"]) as img:
            w, h = img.size
            if (width and w != width) or w * h < count or (h - _SPARE_ROWS) * w >= max(count, 1):
                need = f"{width} wide, " if width else ""
                raise format_error(
                    path,
                    f"{name} is {w}x{h}; expected {need}{count} pixels with at most "
                    f"{_SPARE_ROWS} spare rows",
                )
            if img.mode not in ("RGB", "RGBA"):
                raise format_error(path, f"{name} has mode {img.mode}; expected RGB or RGBA")
            rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
    except _IMAGE_ERRORS as e:
        raise format_error(path, f"{name} is no readable image: {type(e).__name__}: {e}") from e
    return rgba.reshape(-1, 4)[:count]


def _field(meta: dict, dotted: str, kind: type[_T], path: Path) -> _T:
    """meta["a"]["b"] for ``dotted`` "a.b", checked to be a ``kind`` (bool is no int)."""
    value: object = meta
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise format_error(path, f"meta.json has no {dotted}")
        value = value[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise format_error(
            path, f"meta.json {dotted} must be a {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _numbers(meta: dict, dotted: str, length: int, path: Path) -> np.ndarray:
    """A list of ``length`` finite numbers from meta.json  # -> [length] float64"""
    values = _field(meta, dotted, list, path)
    if len(values) != length or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in values
    ):
        raise format_error(path, f"meta.json {dotted} must be {length} numbers")
    out = np.array(values, dtype=np.float64)
    if not np.isfinite(out).all():
        raise format_error(path, f"meta.json {dotted} must be finite")
    return out
