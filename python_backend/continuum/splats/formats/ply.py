"""3DGS PLY: the format of the reference trainer (graphdeco-inria/gaussian-splatting) and others.

One ``vertex`` element; its properties are mapped by name, in whatever order the file has them:

    x y z                 means
    f_dc_0 f_dc_1 f_dc_2  sh[:, 0, c], the DC term of channel c
    f_rest_i              sh[:, 1 + j, c] with i = c * (K - 1) + j: channel-major. 0, 9, 24 or 45 of
                          them for SH degree 0..3. This is the reference layout:
                          GaussianModel.save_ply flattens _features_rest [N, K-1, 3] after
                          transpose(1, 2), i.e. as [N, 3, K-1], and load_ply reshapes to
                          (N, 3, K-1) and transposes back. So f_rest_0..f_rest_{K-2} are the red
                          coefficients 1..K-1, then come green and blue.
    opacity               opacity_logits
    scale_0..2            log_scales
    rot_0..3              quats (w, x, y, z), as stored (trainers do not normalise them)

Other properties (nx ny nz, anything) and other elements are ignored. The header may declare
float, half, double or integer properties, in ASCII or binary of either byte order; the cloud is
float32. Coordinates are returned as stored: a PLY does not say its axes (reference-trainer files
are in COLMAP's frame, x right, y down, z forward).

Writing gives binary little-endian float32 in the reference order:
x y z nx ny nz f_dc_0..2 f_rest_* opacity scale_0..2 rot_0..3, normals zero. A float32 cloud
round-trips exactly; a float64 one is rounded to float32.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from numpy.lib.recfunctions import structured_to_unstructured

from continuum.splats.cloud import SplatCloud
from continuum.splats.formats._io import arrays_from_cloud, cloud_from_arrays, format_error
from continuum.splats.formats._ply_header import parse_header, read_elements

_MEANS = ("x", "y", "z")
_DC = ("f_dc_0", "f_dc_1", "f_dc_2")
_SCALES = ("scale_0", "scale_1", "scale_2")
_ROTS = ("rot_0", "rot_1", "rot_2", "rot_3")
_REQUIRED = (*_MEANS, *_DC, "opacity", *_SCALES, *_ROTS)
_F_REST = re.compile(r"f_rest_(\d+)")
_REST_COUNTS = (0, 9, 24, 45)  # 3 * ((degree + 1)^2 - 1) for degree 0..3


def read_ply(path: str | os.PathLike) -> SplatCloud:
    """Read a 3DGS PLY file into a float32 CPU cloud of N Gaussians, SH degree from f_rest_*.

    Raises:
        SplatFormatError: the file is no PLY, lacks a 3DGS property, or is shorter than its
            header promises. The message names the file and what was wrong.
    """
    data = Path(path).read_bytes()
    header = parse_header(data, path)
    element = header.element("vertex")
    if element is None:
        elements = [e.name for e in header.elements]
        raise format_error(path, f"no 'vertex' element; the elements are {elements}")
    names = element.property_names()
    rest = _f_rest_names(names, path)
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        hint = (
            " (this is a PlayCanvas compressed PLY; read it with read_splats)"
            if "packed_position" in names
            else ""
        )
        raise format_error(path, f"the vertex element lacks {missing}{hint}")
    table = read_elements(data, header, {"vertex"}, path)["vertex"]
    columns = [names.index(name) for name in (*_MEANS, *_DC, *rest, "opacity", *_SCALES, *_ROTS)]
    # A view when every property has one type (the usual case), so only the gather copies.
    values = np.take(structured_to_unstructured(table), columns, axis=1)  # [N, 14 + m]
    with np.errstate(over="ignore"):  # a double beyond float32's range becomes inf
        values = values.astype(np.float32, copy=False)
    n, k = len(table), len(rest) // 3 + 1
    sh = np.empty((n, k, 3), dtype=np.float32)
    sh[:, 0] = values[:, 3:6]
    sh[:, 1:] = values[:, 6 : 6 + len(rest)].reshape(n, 3, k - 1).transpose(0, 2, 1)
    tail = values[:, 6 + len(rest) :]  # opacity, scale_0..2, rot_0..3
    return cloud_from_arrays(values[:, 0:3], tail[:, 4:8], tail[:, 1:4], tail[:, 0], sh)


def write_ply(cloud: SplatCloud, path: str | os.PathLike) -> None:
    """Write ``cloud`` as a binary little-endian float32 3DGS PLY in the reference order."""
    a = arrays_from_cloud(cloud, path, quantised=False)
    n, k = len(cloud), cloud.sh.shape[1]
    rest = a["sh"][:, 1:].transpose(0, 2, 1).reshape(n, 3 * (k - 1))  # channel-major
    table = np.concatenate(
        [
            a["means"],
            np.zeros((n, 3), dtype=np.float32),
            a["sh"][:, 0],
            rest,
            a["opacity_logits"][:, None],
            a["log_scales"],
            a["quats"],
        ],
        axis=1,
        dtype="<f4",
    )
    names = [*_MEANS, "nx", "ny", "nz", *_DC, *(f"f_rest_{i}" for i in range(rest.shape[1]))]
    names += ["opacity", *_SCALES, *_ROTS]
    header = "".join(
        [
            "ply\nformat binary_little_endian 1.0\n",
            f"element vertex {n}\n",
            *(f"property float {name}\n" for name in names),
            "end_header\n",
        ]
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(memoryview(np.ascontiguousarray(table)))


def _f_rest_names(names: list[str], path: object) -> list[str]:
    """The f_rest_* names in index order, checked to be f_rest_0..f_rest_{m-1}, m in 0/9/24/45."""
    indices = sorted(int(m.group(1)) for name in names if (m := _F_REST.fullmatch(name)))
    if indices != list(range(len(indices))) or len(indices) not in _REST_COUNTS:
        raise format_error(
            path,
            f"expected f_rest_0..f_rest_(m-1) with m in {_REST_COUNTS} (SH degree 0..3), "
            f"got {len(indices)} f_rest properties: {sorted(set(names) - set(_REQUIRED))}",
        )
    return [f"f_rest_{i}" for i in indices]
