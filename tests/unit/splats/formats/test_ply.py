import re
import struct

import numpy as np
import pytest
import torch

from continuum.errors import SplatFormatError
from continuum.splats.formats.ply import read_ply, write_ply

_STRUCT = {"char": "b", "uchar": "B", "short": "h", "int": "i", "uint": "I"}
_STRUCT |= {"half": "e", "float": "f", "double": "d"}
_REFERENCE_ORDER = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]


def _ply_bytes(fmt: str, elements: list[tuple[str, list[tuple[str, list]]]]) -> bytes:
    """A plain PLY writer: elements as (name, [(declaration, column of values or lists)])."""
    lines = ["ply", f"format {fmt} 1.0", "comment written by test_ply"]
    for name, props in elements:
        lines.append(f"element {name} {len(props[0][1])}")
        lines += [f"property {decl}" for decl, _ in props]
    out = bytearray(("\n".join(lines) + "\nend_header\n").encode())
    order = ">" if fmt == "binary_big_endian" else "<"
    for _, props in elements:
        for row in range(len(props[0][1])):
            words = []
            for decl, column in props:
                kinds, value = decl.split()[:-1], column[row]
                if kinds[0] == "list":
                    if fmt == "ascii":
                        words += [str(len(value)), *map(repr, value)]
                    else:
                        out += struct.pack(order + _STRUCT[kinds[1]], len(value))
                        out += struct.pack(order + _STRUCT[kinds[2]] * len(value), *value)
                elif fmt == "ascii":
                    words.append(repr(value))
                else:
                    out += struct.pack(order + _STRUCT[kinds[0]], value)
            if fmt == "ascii":
                out += (" ".join(words) + "\n").encode()
    return bytes(out)


def _splat_columns(n: int, k: int, seed: int = 0, kind: str = "float") -> list[tuple[str, list]]:
    rng = np.random.default_rng(seed)
    names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    names += [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    names += [f"f_rest_{i}" for i in range(3 * (k - 1))]
    return [(f"{kind} {name}", [float(v) for v in rng.normal(size=n)]) for name in names]


def _header_and_rows(path) -> tuple[list[str], np.ndarray]:
    """Property names and the float32 rows of a binary little-endian float-only PLY."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode().splitlines()
    names = [line.split()[2] for line in lines if line.startswith("property")]
    count = int(next(line for line in lines if line.startswith("element vertex")).split()[2])
    rows = np.frombuffer(data, dtype="<f4", count=count * len(names), offset=end)
    return names, rows.reshape(count, len(names))


@pytest.mark.parametrize(
    ("name", "count", "degree"),
    [("yashica-t4-top8192", 8192, 3), ("pc_short", 100, 3), ("v3dg-donut-fused", 45624, 0)],
)
def test_real_files_load_exactly_as_their_bytes_say(data, name, count, degree):
    path = data / "ply" / f"{name}.ply"
    cloud = read_ply(path)
    assert (len(cloud), cloud.sh_degree, cloud.dtype) == (count, degree, torch.float32)
    names, rows = _header_and_rows(path)
    k = (degree + 1) ** 2
    for i in (0, 1, count - 1):  # first, second (the stride) and last Gaussian
        raw = dict(zip(names, rows[i].tolist(), strict=True))
        assert cloud.means[i].tolist() == [raw["x"], raw["y"], raw["z"]]
        assert cloud.quats[i].tolist() == [raw[f"rot_{j}"] for j in range(4)]
        assert cloud.log_scales[i].tolist() == [raw[f"scale_{j}"] for j in range(3)]
        assert cloud.opacity_logits[i].item() == raw["opacity"]
        assert cloud.sh[i, 0].tolist() == [raw[f"f_dc_{c}"] for c in range(3)]
        for c in range(3):  # f_rest is channel-major: f_rest_[c * (K - 1) + j]
            expected = [raw[f"f_rest_{c * (k - 1) + j}"] for j in range(k - 1)]
            assert cloud.sh[i, 1:, c].tolist() == expected


def test_real_files_match_the_manifest(data):
    yashica = read_ply(data / "ply" / "yashica-t4-top8192.ply")
    assert yashica.log_scales.min() == pytest.approx(-15.087, abs=1e-3)
    assert yashica.log_scales.max() == pytest.approx(2.852, abs=1e-3)
    assert yashica.opacity_logits.min() == pytest.approx(0.694, abs=1e-3)
    assert yashica.opacity_logits.max() == pytest.approx(11.879, abs=1e-3)
    assert torch.allclose(yashica.quats.norm(dim=1), torch.ones(8192), atol=1e-3)
    assert 0.7 < yashica.sh[:, 1:].abs().max() < 0.81
    assert yashica.means.min(0).values.tolist() == pytest.approx([-10.821, -5.212, 0.328], abs=1e-3)
    short = read_ply(data / "ply" / "pc_short.ply")
    assert (short.log_scales.min().item(), short.log_scales.max().item()) == pytest.approx(
        (-10.592, -2.145), abs=1e-3
    )
    norms = short.quats.norm(dim=1)
    assert (norms.min().item(), norms.max().item()) == pytest.approx((0.723, 1.368), abs=1e-3)
    donut = read_ply(data / "ply" / "v3dg-donut-fused.ply")
    assert (donut.log_scales.min().item(), donut.log_scales.max().item()) == pytest.approx(
        (-9.663, -3.377), abs=1e-3
    )
    assert torch.isfinite(torch.cat([t.flatten() for t in donut._tensors()])).all()


def test_writing_pc_short_reproduces_its_reference_layout_byte_for_byte(data, tmp_path):
    # pc_short.ply is in the INRIA order with zero normals; it was cut from a larger file and
    # carries 14,029 bytes after its 100 vertices, which a writer does not reproduce.
    original = (data / "ply" / "pc_short.ply").read_bytes()
    write_ply(read_ply(data / "ply" / "pc_short.ply"), tmp_path / "out.ply")
    written = (tmp_path / "out.ply").read_bytes()
    assert written == original[: len(written)]
    assert len(original) - len(written) == 14029


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_exact_in_the_reference_order(make_cloud, tmp_path, degree):
    cloud = make_cloud(n=40, degree=degree, seed=degree)
    write_ply(cloud, tmp_path / "c.ply")
    back = read_ply(tmp_path / "c.ply")
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        assert torch.equal(getattr(back, name), getattr(cloud, name)), name
    names, rows = _header_and_rows(tmp_path / "c.ply")
    rest = [f"f_rest_{i}" for i in range(3 * ((degree + 1) ** 2 - 1))]
    tail = ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert names == _REFERENCE_ORDER + rest + tail
    assert not rows[:, 3:6].any()  # normals


def test_a_float64_cloud_is_written_as_float32(make_cloud, tmp_path):
    cloud = make_cloud(n=10).to(dtype=torch.float64)
    cloud.means[0, 0] = 1 / 3
    write_ply(cloud, tmp_path / "c.ply")
    back = read_ply(tmp_path / "c.ply")
    assert torch.equal(back.means, cloud.means.float())


def test_properties_map_by_name_in_any_order_with_extras(tmp_path):
    n, k = 5, 16
    columns = _splat_columns(n, k)
    for i, (decl, _) in enumerate(columns):  # f_rest_i of Gaussian r holds 1000 r + i
        if decl.startswith("float f_rest_"):
            index = int(decl.rsplit("_", 1)[1])
            columns[i] = (decl, [1000.0 * r + index for r in range(n)])
    columns += [("float nx", [0.0] * n), ("uchar red", [7] * n), ("double foo", [1e300] * n)]
    np.random.default_rng(1).shuffle(columns)
    (tmp_path / "c.ply").write_bytes(_ply_bytes("binary_little_endian", [("vertex", columns)]))
    cloud = read_ply(tmp_path / "c.ply")
    expected = torch.tensor(
        [[[1000.0 * r + c * (k - 1) + j for c in range(3)] for j in range(k - 1)] for r in range(n)]
    )
    assert torch.equal(cloud.sh[:, 1:], expected)
    by_name = {decl.split()[1]: values for decl, values in columns}
    assert cloud.quats[:, 2].tolist() == pytest.approx(by_name["rot_2"])
    assert cloud.opacity_logits.tolist() == pytest.approx(by_name["opacity"])


@pytest.mark.parametrize("fmt", ["ascii", "binary_big_endian", "binary_little_endian"])
@pytest.mark.parametrize("kind", ["float", "double", "half"])
def test_formats_and_float_types_read_the_same(tmp_path, fmt, kind):
    columns = _splat_columns(7, 9, seed=3, kind=kind)
    (tmp_path / "c.ply").write_bytes(_ply_bytes(fmt, [("vertex", columns)]))
    cloud = read_ply(tmp_path / "c.ply")
    by_name = {decl.split()[1]: values for decl, values in columns}
    tolerance = {"half": 2e-3, "float": 1e-6, "double": 1e-6}[kind]
    assert cloud.means[:, 1].tolist() == pytest.approx(by_name["y"], rel=tolerance)
    # degree 2: K - 1 = 8, so f_rest_9 is channel 1, coefficient 1 + 1
    assert cloud.sh[:, 2, 1].tolist() == pytest.approx(by_name["f_rest_9"], rel=tolerance)
    assert cloud.log_scales[:, 0].tolist() == pytest.approx(by_name["scale_0"], rel=tolerance)


@pytest.mark.parametrize("fmt", ["ascii", "binary_big_endian", "binary_little_endian"])
def test_other_elements_are_skipped_lists_included(tmp_path, fmt):
    columns = _splat_columns(6, 1, seed=4)
    faces = [("list uchar int vertex_indices", [[0, 1, 2], [], [3, 4, 5, 1]])]
    camera = [("float f", [1.0, 2.0]), ("int id", [3, 4])]
    elements = [("camera", camera), ("face", faces), ("vertex", columns), ("edge", faces)]
    (tmp_path / "c.ply").write_bytes(_ply_bytes(fmt, elements))
    cloud = read_ply(tmp_path / "c.ply")
    assert len(cloud) == 6
    assert cloud.means[:, 0].tolist() == pytest.approx(dict(columns)["float x"])


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


_SMALL = _ply_bytes("binary_little_endian", [("vertex", _splat_columns(3, 1))])
_ASCII = _ply_bytes("ascii", [("vertex", _splat_columns(3, 1))])
_FACES = [("list uchar int vertex_indices", [[0, 1, 2]] * 4)]
_FACED = _ply_bytes("binary_little_endian", [("face", _FACES), ("vertex", _splat_columns(1, 1))])
_BROKEN = {
    "huge ascii count": (
        _replace(_ASCII, b"element vertex 3", b"element vertex 1000000000000"),
        "header promises 1000000000000 vertex rows of 14 values",
    ),
    "absurd digits": (
        _replace(_SMALL, b"element vertex 3", b"element vertex " + b"9" * 5000),
        "expected 'element NAME COUNT'",
    ),
    "missing property": (_replace(_SMALL, b"opacity", b"opacitx"), r"lacks \['opacity'\]"),
    "odd f_rest": (_replace(_SMALL, b"float x\n", b"float f_rest_0\n"), "f_rest_0..f_rest_"),
    "no vertex": (_replace(_SMALL, b"element vertex", b"element vortex"), "no 'vertex'"),
    "not ply": (b"PLY\n" + _SMALL[4:], "not a PLY file"),
    "no end": (_SMALL.replace(b"end_header", b"end_headex"), "no 'end_header'"),
    "duplicate": (_replace(_SMALL, b"float y\n", b"float x\n"), "declared twice"),
    "unknown type": (_replace(_SMALL, b"float y\n", b"quad y\n"), "expected 'property TYPE"),
    "no format": (_replace(_SMALL, b"format binary_little_endian 1.0\n", b""), "no 'format'"),
    "bad format": (_replace(_SMALL, b"binary_little_endian", b"binary_middle"), "format <"),
    "unknown keyword": (_replace(_SMALL, b"comment", b"remark"), "unknown keyword"),
    "list in vertex": (
        _replace(_SMALL, b"float y\n", b"list uchar float y\n"),
        "must have scalar properties and no lists",
    ),
    "ascii word": (_ASCII.rsplit(b" ", 1)[0] + b" zero\n", "non-number"),
    "ascii fraction in an int": (
        _ply_bytes("ascii", [("vertex", [*_splat_columns(2, 1), ("int id", [1.5, 2.0])])]),
        "vertex.id must hold integers in the int32 range",
    ),
    "ascii byte overflow": (
        _ply_bytes("ascii", [("vertex", [*_splat_columns(2, 1), ("uchar id", [1, 300])])]),
        "vertex.id must hold integers in the uint8 range",
    ),
    "faces past the end": (_FACED[: _FACED.index(b"end_header\n") + 11 + 20], "runs past the end"),
    "ascii faces past the end": (
        _ply_bytes("ascii", [("face", _FACES), ("vertex", _splat_columns(1, 1))])[:-60],
        "runs past the end|values follow",
    ),
}


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_broken_files_raise_a_format_error_that_names_the_file_and_the_fault(assert_refused, case):
    content, words = _BROKEN[case]
    assert_refused(read_ply, content, words, suffix=".ply")


def test_truncated_and_header_lying_real_files_fail_before_allocating(data, tmp_path):
    yashica = (data / "ply" / "yashica-t4-top8192.ply").read_bytes()
    path = tmp_path / "cut.ply"
    path.write_bytes(yashica[:-1000])
    expected = (
        "header promises 8192 vertex rows of 236 bytes (1933312 bytes) but only 1932312 bytes "
        "follow"
    )
    with pytest.raises(SplatFormatError, match=re.escape(expected)):
        read_ply(path)
    path.write_bytes(_replace(yashica, b"element vertex 8192", b"element vertex 1000000000000"))
    with pytest.raises(SplatFormatError, match="promises 1000000000000 vertex rows"):
        read_ply(path)
    compressed = data / "compressed-ply" / "guitar.compressed.ply"
    with pytest.raises(SplatFormatError, match="PlayCanvas compressed PLY"):
        read_ply(compressed)


def _edit_vertex_count(data: bytes, rng) -> bytes:
    count = str(rng.choice([0, 1, 2, rng.randrange(10**6), 10**15])).encode()
    return re.sub(rb"element vertex \d+", b"element vertex " + count, data, count=1)


def test_fuzzed_real_file_gives_a_cloud_or_a_format_error(data, fuzz):
    yashica = (data / "ply" / "yashica-t4-top8192.ply").read_bytes()
    outcomes = fuzz(yashica, read_ply, rounds=300, edits=(_edit_vertex_count,))
    assert outcomes["cloud"] and outcomes["error"]


@pytest.mark.parametrize("fmt", ["ascii", "binary_big_endian", "binary_little_endian"])
def test_fuzzed_small_files_give_a_cloud_or_a_format_error(fuzz, fmt):
    elements = [("face", _FACES), ("vertex", _splat_columns(5, 4, kind="double")), ("e", _FACES)]
    outcomes = fuzz(
        _ply_bytes(fmt, elements), read_ply, rounds=600, seed=1, edits=(_edit_vertex_count,)
    )
    assert outcomes["cloud"] and outcomes["error"]
