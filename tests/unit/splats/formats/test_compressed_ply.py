import math
import re
import struct

import numpy as np
import pytest
import torch

from continuum.splats.formats import detect_format
from continuum.splats.formats.compressed_ply import read_compressed_ply

_CHUNK = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z"]
_CHUNK += ["min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z"]
_COLOUR = ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
_PACKED = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]


def _reference_decode(data: bytes, only: list[int] | None = None) -> list[dict]:
    """A plain transcription of splat-transform decompressPly (decompress-ply.ts), splat by
    splat (those in ``only``, by default all), with struct; binary little-endian files whose
    elements are chunk, vertex, sh."""
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    counts = {w[1]: int(w[2]) for w in (line.split() for line in header) if w[0] == "element"}
    chunk_props = 18 if "property float min_r" in header else 12
    sh_props = sum(line.startswith("property uchar f_rest_") for line in header)
    at = end
    chunks = [
        struct.unpack_from(f"<{chunk_props}f", data, at + 4 * chunk_props * c)
        for c in range(counts["chunk"])
    ]
    at += 4 * chunk_props * counts["chunk"]
    out = []
    for i in range(counts["vertex"]) if only is None else only:
        position, rotation, scale, colour = struct.unpack_from("<4I", data, at + 16 * i)
        c = chunks[i // 256]

        def unorm(value, bits):
            return (value & ((1 << bits) - 1)) / ((1 << bits) - 1)

        def lerp(a, b, t):
            return a * (1 - t) + b * t

        p = [unorm(position >> 21, 11), unorm(position >> 11, 10), unorm(position, 11)]
        s = [unorm(scale >> 21, 11), unorm(scale >> 11, 10), unorm(scale, 11)]
        abc = [(unorm(rotation >> shift, 10) - 0.5) * math.sqrt(2) for shift in (20, 10, 0)]
        m = math.sqrt(max(0.0, 1 - sum(v * v for v in abc)))
        quat = abc[:]
        quat.insert(rotation >> 30, m)
        rgba = [unorm(colour >> shift, 8) for shift in (24, 16, 8, 0)]
        if chunk_props == 18:
            rgba[:3] = [lerp(c[12 + k], c[15 + k], rgba[k]) for k in range(3)]
        sh = []
        base = at + 16 * counts["vertex"] + sh_props * i
        for v in data[base : base + sh_props]:
            unit = 0 if v == 0 else 1 if v == 255 else (v + 0.5) / 256
            sh.append((unit - 0.5) * 8)
        out.append(
            {
                "mean": [lerp(c[k], c[3 + k], p[k]) for k in range(3)],
                "log_scale": [lerp(c[6 + k], c[9 + k], s[k]) for k in range(3)],
                "quat": quat,
                "dc": [(v - 0.5) / 0.28209479177387814 for v in rgba[:3]],
                "alpha": rgba[3],
                "f_rest": sh,
            }
        )
    return out


@pytest.mark.parametrize(
    ("name", "count", "degree", "scales", "alphas"),
    [
        ("playcanvas-test", 64, 3, (-17.164, -1.711), (0.035, 1.0)),
        ("guitar", 90854, 0, (-19.413, -0.902), (0.004, 1.0)),
    ],
)
def test_real_files_decode_as_the_reference_and_match_the_manifest(
    data, name, count, degree, scales, alphas
):
    path = data / "compressed-ply" / f"{name}.compressed.ply"
    assert detect_format(path) == "compressed_ply"
    cloud = read_compressed_ply(path)
    assert (len(cloud), cloud.sh_degree) == (count, degree)
    assert (cloud.log_scales.min().item(), cloud.log_scales.max().item()) == pytest.approx(
        scales, abs=1e-3
    )
    alpha = cloud.opacities()
    assert alpha.min().item() == pytest.approx(alphas[0], abs=1e-3)
    assert alpha.max().item() >= 254.75 / 255 - 1e-6  # byte 255, decoded finite
    step = max(1, count // 2000)  # every splat of the small file, 2000 of the guitar
    indices = [*range(0, count, step), count - 1]
    picked = _reference_decode(path.read_bytes(), indices)
    k = (degree + 1) ** 2
    assert torch.allclose(
        cloud.means[indices], torch.tensor([r["mean"] for r in picked]), atol=1e-6
    )
    assert torch.allclose(
        cloud.log_scales[indices], torch.tensor([r["log_scale"] for r in picked]), atol=1e-5
    )
    assert torch.allclose(
        cloud.quats[indices], torch.tensor([r["quat"] for r in picked]), atol=1e-6
    )
    assert torch.allclose(cloud.sh[indices, 0], torch.tensor([r["dc"] for r in picked]), atol=1e-5)
    alpha_ref = torch.tensor([r["alpha"] for r in picked]).clamp(0.25 / 255, 254.75 / 255)
    assert torch.allclose(alpha[indices], alpha_ref, atol=1e-6)
    if degree:
        rest = torch.tensor([r["f_rest"] for r in picked]).reshape(-1, 3, k - 1).transpose(1, 2)
        assert torch.equal(cloud.sh[indices, 1:], rest)


def _compressed(
    n: int, *, colour: bool = True, sh: int = 9, seed: int = 0, chunks: int | None = None
) -> bytes:
    """A small compressed PLY of random packed words, as SuperSplat lays it out."""
    rng = np.random.default_rng(seed)
    chunk_names = _CHUNK + (_COLOUR if colour else [])
    chunks = -(-n // 256) if chunks is None else chunks
    lines = ["ply", "format binary_little_endian 1.0", f"element chunk {chunks}"]
    lines += [f"property float {p}" for p in chunk_names]
    lines += [f"element vertex {n}", *(f"property uint {p}" for p in _PACKED)]
    if sh:
        lines += [f"element sh {n}", *(f"property uchar f_rest_{i}" for i in range(sh))]
    table = {name: rng.normal(size=chunks) for name in chunk_names if name.startswith("min")}
    table |= {"max" + name[3:]: low + rng.random(chunks) for name, low in table.items()}
    body = np.stack([table[name] for name in chunk_names], axis=1).astype("<f4").tobytes()
    body += rng.integers(0, 2**32, size=(n, 4), dtype=np.uint64).astype("<u4").tobytes()
    body += rng.integers(0, 256, size=(n, sh), dtype=np.uint8).tobytes()
    return ("\n".join(lines) + "\nend_header\n").encode() + body


@pytest.mark.parametrize("colour", [True, False])
@pytest.mark.parametrize("sh", [0, 9, 24, 45])
def test_generated_files_decode_as_the_reference(tmp_path, colour, sh):
    data = _compressed(300, colour=colour, sh=sh, seed=sh)
    (tmp_path / "g.ply").write_bytes(data)
    cloud = read_compressed_ply(tmp_path / "g.ply")
    reference = _reference_decode(data)
    assert cloud.sh_degree == {0: 0, 9: 1, 24: 2, 45: 3}[sh]
    assert torch.allclose(cloud.means, torch.tensor([r["mean"] for r in reference]), atol=1e-5)
    assert torch.allclose(cloud.quats, torch.tensor([r["quat"] for r in reference]), atol=1e-6)
    assert torch.allclose(cloud.sh[:, 0], torch.tensor([r["dc"] for r in reference]), atol=1e-4)


def _edit(data: bytes, pattern: bytes, new: bytes) -> bytes:
    assert re.search(pattern, data)
    return re.sub(pattern, new, data, count=1)


_GOOD = _compressed(300)
_BROKEN = {
    "chunk count": (_edit(_GOOD, rb"element chunk 2", b"element chunk 3"), "need 2 chunks"),
    "packed type": (
        _edit(_GOOD, rb"property uint packed_scale", b"property float packed_scale"),
        "'packed_scale' must be a uint",
    ),
    "chunk type": (_edit(_GOOD, rb"property float max_z", b"property int max_z"), "'max_z'"),
    "no chunk": (_edit(_GOOD, rb"element chunk 2", b"element chonk 2"), "expected 'chunk'"),
    "sh count": (_edit(_GOOD, rb"element sh 300", b"element sh 299"), "the sh element must"),
    "sh props": (
        _edit(_GOOD, rb"property uchar f_rest_8\n", b""),
        "the sh element must .* got 300 rows of 8",
    ),
    "truncated": (_GOOD[:-100], "header promises 300 sh rows of 9 bytes"),
    "huge count": (
        _edit(_GOOD, rb"element vertex 300", b"element vertex 1000000000000")
        .replace(b"element chunk 2", b"element chunk 3906250000")
        .replace(b"element sh 300", b"element sh 1000000000000"),
        "header promises 3906250000 chunk rows",
    ),
}


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_broken_files_raise_a_format_error_that_names_the_file_and_the_fault(assert_refused, case):
    content, words = _BROKEN[case]
    assert_refused(read_compressed_ply, content, words, suffix=".ply")


def _edit_counts(data: bytes, rng) -> bytes:
    name = rng.choice([b"chunk", b"vertex", b"sh"])
    count = str(rng.choice([0, 1, 255, 256, 257, rng.randrange(10**6), 10**15])).encode()
    return re.sub(rb"element " + name + rb" \d+", b"element " + name + b" " + count, data, count=1)


def test_fuzzed_real_file_gives_a_cloud_or_a_format_error(data, fuzz):
    real = (data / "compressed-ply" / "playcanvas-test.compressed.ply").read_bytes()
    outcomes = fuzz(real, read_compressed_ply, rounds=400, edits=(_edit_counts,))
    assert outcomes["cloud"] and outcomes["error"]


def test_fuzzed_small_files_give_a_cloud_or_a_format_error(fuzz):
    outcomes = fuzz(_compressed(70, sh=24), read_compressed_ply, rounds=500, edits=(_edit_counts,))
    assert outcomes["cloud"] and outcomes["error"]
