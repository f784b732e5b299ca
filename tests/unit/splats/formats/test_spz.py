import gzip
import math
import struct

import numpy as np
import pytest
import torch

from continuum.errors import SplatFormatError
from continuum.splats import SplatCloud
from continuum.splats.formats.spz import read_spz, write_spz

_HEADER = struct.Struct("<IIIBBBB")
_MAGIC = 0x5053474E


def _reference_unpack(payload: bytes) -> dict[str, list]:
    """A plain transcription of nianticlabs/spz unpackGaussians (load-spz.cc), point by point,
    for versions 2 and 3, with the reference's logit (so alpha 255 gives inf)."""
    _, version, n, degree, bits, _, _ = _HEADER.unpack_from(payload)
    dim = (degree + 1) ** 2 - 1
    rot_bytes = 3 if version == 2 else 4
    offsets = {}
    at = 16
    for name, size in [
        ("pos", 9),
        ("alpha", 1),
        ("color", 3),
        ("scale", 3),
        ("rot", rot_bytes),
        ("sh", 3 * dim),
    ]:
        offsets[name] = at
        at += size * n
    out = {"means": [], "quats": [], "log_scales": [], "opacity": [], "dc": [], "sh": []}
    sqrt1_2 = 0.7071067811865476
    for i in range(n):
        p = payload[offsets["pos"] + 9 * i : offsets["pos"] + 9 * i + 9]
        mean = []
        for c in range(3):
            fixed = p[3 * c] | p[3 * c + 1] << 8 | p[3 * c + 2] << 16
            if fixed & 0x800000:
                fixed -= 1 << 24
            mean.append(fixed / (1 << bits))
        out["means"].append(mean)
        s = payload[offsets["scale"] + 3 * i : offsets["scale"] + 3 * i + 3]
        out["log_scales"].append([b / 16 - 10 for b in s])
        a = payload[offsets["alpha"] + i] / 255
        out["opacity"].append(
            math.log(a / (1 - a)) if 0 < a < 1 else math.copysign(math.inf, a - 0.5)
        )
        col = payload[offsets["color"] + 3 * i : offsets["color"] + 3 * i + 3]
        out["dc"].append([(b / 255 - 0.5) / 0.15 for b in col])
        r = payload[offsets["rot"] + rot_bytes * i : offsets["rot"] + rot_bytes * (i + 1)]
        if version == 2:
            xyz = [b / 127.5 - 1 for b in r]
            w = math.sqrt(max(0.0, 1 - sum(v * v for v in xyz)))
            out["quats"].append([w, *xyz])
        else:
            comp = int.from_bytes(r, "little")
            largest = comp >> 30
            q = [0.0] * 4
            for j in (3, 2, 1, 0):
                if j == largest:
                    continue
                magnitude, negative = comp & 511, (comp >> 9) & 1
                comp >>= 10
                q[j] = sqrt1_2 * magnitude / 511 * (-1 if negative else 1)
            q[largest] = math.sqrt(max(0.0, 1 - sum(v * v for v in q)))
            out["quats"].append([q[3], q[0], q[1], q[2]])
        base = offsets["sh"] + 3 * dim * i
        out["sh"].append(
            [[(payload[base + 3 * j + c] - 128) / 128 for c in range(3)] for j in range(dim)]
        )
    return out


def test_real_file_matches_its_header_and_the_manifest(data):
    path = data / "spz" / "yashica-t4-top8192.spz"
    payload = gzip.decompress(path.read_bytes())
    assert len(payload) == 524304
    assert _HEADER.unpack_from(payload) == (_MAGIC, 2, 8192, 3, 12, 1, 0)
    cloud = read_spz(path)
    assert (len(cloud), cloud.sh_degree) == (8192, 3)
    assert cloud.means.abs().max() <= 0.25
    assert (cloud.log_scales.min().item(), cloud.log_scales.max().item()) == (-10.0, -3.4375)
    alpha = torch.round(cloud.opacities() * 255)
    assert (alpha.min().item(), alpha.max().item()) == (213, 255)


def test_real_file_decodes_as_the_reference_does(data):
    path = data / "spz" / "yashica-t4-top8192.spz"
    cloud = read_spz(path)
    ref = _reference_unpack(gzip.decompress(path.read_bytes()))
    assert torch.equal(cloud.means, torch.tensor(ref["means"]))
    assert torch.equal(cloud.log_scales, torch.tensor(ref["log_scales"]))
    # float32 here as in the reference; the float64 transcription differs where w is tiny
    assert torch.allclose(cloud.quats, torch.tensor(ref["quats"]), atol=1e-5)
    assert torch.allclose(cloud.sh[:, 0], torch.tensor(ref["dc"]), atol=1e-6)
    assert torch.equal(cloud.sh[:, 1:], torch.tensor(ref["sh"]))
    finite = torch.isfinite(torch.tensor(ref["opacity"]))
    assert torch.allclose(cloud.opacity_logits[finite], torch.tensor(ref["opacity"])[finite])
    assert cloud.opacity_logits[~finite] == pytest.approx(math.log(254.75 / 0.25), rel=1e-6)


def test_re_encoding_the_real_file_gives_back_its_bytes(data, tmp_path):
    path = data / "spz" / "yashica-t4-top8192.spz"
    write_spz(read_spz(path), tmp_path / "again.spz", version=2, antialiased=True)
    assert gzip.decompress((tmp_path / "again.spz").read_bytes()) == gzip.decompress(
        path.read_bytes()
    )


def _quat_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b| of normalised quaternions, sign-aligned  # [N]"""
    a = torch.nn.functional.normalize(a.double(), dim=1)
    b = torch.nn.functional.normalize(b.double(), dim=1)
    return (a - torch.sign((a * b).sum(dim=1, keepdim=True)) * b).norm(dim=1)


@pytest.mark.parametrize("version", [2, 3])
def test_round_trip_stays_within_the_quantisation_bounds(make_cloud, tmp_path, version):
    cloud = make_cloud(n=3000, degree=3, seed=version)
    cloud.sh[:, 1:].clamp_(-0.99, 0.99)
    cloud.sh[:, 0].clamp_(-3.3, 3.3)
    write_spz(cloud, tmp_path / "c.spz", version=version)
    back = read_spz(tmp_path / "c.spz")
    assert (len(back), back.sh_degree) == (3000, 3)
    assert (back.means - cloud.means).abs().max() <= 0.5 / 4096 + 1e-6
    assert (back.log_scales - cloud.log_scales).abs().max() <= 0.5 / 16 + 1e-6
    assert (back.sh[:, 0] - cloud.sh[:, 0]).abs().max() <= 0.5 / 38.25 + 1e-6
    assert (back.opacities() - cloud.opacities()).abs().max() <= 0.5 / 255 + 1e-6
    # SH: rounding (0.5) plus the bucket (8 for degree 1, 16 above) in 1/128 steps
    assert (back.sh[:, 1:4] - cloud.sh[:, 1:4]).abs().max() <= 4.5 / 128 + 1e-6
    assert (back.sh[:, 4:] - cloud.sh[:, 4:]).abs().max() <= 8.5 / 128 + 1e-6
    error = _quat_error(back.quats, cloud.quats)
    if version == 3:
        # Three components within e = 0.5 * sqrt(1/2) / 511; the largest (>= 1/2) is rebuilt
        # within sum|q_i| e / (1/2) <= 3 sqrt(1/2) e / (1/2); together |dq| <= sqrt(3 + 18) e.
        assert error.max() <= math.sqrt(21) * 0.5 * math.sqrt(0.5) / 511 + 1e-6
    else:
        # x, y, z within e = 0.5/127.5; w = sqrt(1 - |xyz|^2) within sqrt(2 |dxyz| + |dxyz|^2).
        e = math.sqrt(3) * 0.5 / 127.5
        assert error.max() <= math.sqrt(e**2 + 2 * e + e**2) + 1e-6


def test_smallest_three_packs_as_the_reference_layout(tmp_path):
    q = torch.tensor([[0.5, -0.5, 0.5, -0.5], [0.1, 0.2, -0.9, 0.3]])  # (w, x, y, z)
    cloud = SplatCloud(
        torch.zeros(2, 3), q, torch.zeros(2, 3), torch.zeros(2), torch.zeros(2, 1, 3)
    )
    write_spz(cloud, tmp_path / "q.spz", version=3)
    payload = gzip.decompress((tmp_path / "q.spz").read_bytes())
    words = np.frombuffer(payload, "<u4", count=2, offset=16 + 2 * (9 + 1 + 3 + 3))
    # SPZ order (x, y, z, w) = (-0.5, 0.5, -0.5, 0.5). A tie goes to the first, x, which is
    # negative: negate all, and y z w = -0.5 0.5 -0.5 give sign bits 1 0 1 and magnitudes
    # round(511 * 0.5 / sqrt(1/2)) = 361.
    assert words[0] == (0 << 30) | (0x200 | 361) << 20 | 361 << 10 | (0x200 | 361)
    # Second (normalised by 1/sqrt(0.95)): y is largest and negative: negate; x z w.
    q2 = np.array([0.2, -0.9, 0.3, 0.1]) / math.sqrt(0.95)
    m = [round(511 * abs(v) / math.sqrt(0.5)) for v in q2[[0, 2, 3]]]
    assert words[1] == (1 << 30) | (0x200 | m[0]) << 20 | (0x200 | m[1]) << 10 | (0x200 | m[2])


def _spz(header: tuple, body: bytes) -> bytes:
    return gzip.compress(_HEADER.pack(*header) + body)


_ONE = bytes(9 + 1 + 3 + 3 + 3)  # one point, version 2, degree 0
_BROKEN = {
    "not gzip": (b"NGSP" + bytes(40), "not gzip"),
    "bad magic": (_spz((0x12345678, 2, 1, 0, 12, 0, 0), _ONE), "bad magic 0x12345678"),
    "version 1": (_spz((_MAGIC, 1, 1, 0, 12, 0, 0), _ONE), r"SPZ version 1 is not supported"),
    "version 4": (_spz((_MAGIC, 4, 1, 0, 12, 0, 0), _ONE), r"version 4 is not supported"),
    "degree 4": (_spz((_MAGIC, 2, 1, 4, 12, 0, 0), _ONE), "SH degree 4 is not supported"),
    "extensions": (_spz((_MAGIC, 2, 1, 0, 12, 2, 0), _ONE), r"extensions \(flags bit 0x2\)"),
    "short header": (gzip.compress(b"NGSP"), "ends after 4 bytes of the header"),
    "short body": (
        _spz((_MAGIC, 2, 2, 0, 12, 0, 0), _ONE),
        "header promises 2 points of 19 bytes \\(38 bytes\\) but the stream holds only 19",
    ),
    "long body": (_spz((_MAGIC, 2, 1, 0, 12, 0, 0), _ONE * 2), "more than the 19 bytes of 1 point"),
    "huge count": (
        _spz((_MAGIC, 3, 0xFFFFFFFF, 3, 12, 0, 0), _ONE),
        "header promises 4294967295 points .* cannot inflate to that much",
    ),
    "bomb": (
        _spz((_MAGIC, 2, 1, 0, 12, 0, 0), bytes(50_000_000)),
        "more than the 19 bytes of 1 point",
    ),
    "cut stream": (_spz((_MAGIC, 2, 1, 0, 12, 0, 0), _ONE)[:-6], "truncated"),
    "corrupt deflate": (
        _spz((_MAGIC, 2, 1, 0, 12, 0, 0), _ONE)[:10] + b"\xff" * 30,  # block type 3
        "corrupt gzip stream",
    ),
}


@pytest.mark.parametrize("case", sorted(_BROKEN))
def test_broken_files_raise_a_format_error_that_names_the_file_and_the_fault(assert_refused, case):
    content, words = _BROKEN[case]
    assert_refused(read_spz, content, words, suffix=".spz")


def test_writer_refuses_what_it_cannot_encode(make_cloud, tmp_path):
    cloud = make_cloud(n=4)
    with pytest.raises(ValueError, match="version must be one of"):
        write_spz(cloud, tmp_path / "c.spz", version=1)
    with pytest.raises(ValueError, match=r"fractional_bits must be 0\.\.23"):
        write_spz(cloud, tmp_path / "c.spz", fractional_bits=24)
    cloud.means[0, 0] = 3000.0
    with pytest.raises(SplatFormatError, match=r"within \+/-2048 .* pass a smaller"):
        write_spz(cloud, tmp_path / "c.spz")
    write_spz(cloud, tmp_path / "c.spz", fractional_bits=8)
    assert read_spz(tmp_path / "c.spz").means[0, 0] == 3000.0
    cloud.quats[1, 2] = float("inf")
    with pytest.raises(SplatFormatError, match=r"cloud\.quats has 1 non-finite values"):
        write_spz(cloud, tmp_path / "c.spz")


def test_an_empty_cloud_round_trips(tmp_path):
    write_spz(SplatCloud.empty(sh_degree=2), tmp_path / "e.spz")
    back = read_spz(tmp_path / "e.spz")
    assert (len(back), back.sh_degree) == (0, 2)


def _edit_count(data: bytes, rng) -> bytes:
    payload = bytearray(gzip.decompress(data))
    payload[8:12] = rng.choice([0, 1, 8191, 8193, 2**32 - 1, rng.randrange(2**32)]).to_bytes(
        4, "little"
    )
    payload[12] = rng.choice([payload[12], rng.randrange(256)])
    return gzip.compress(bytes(payload), compresslevel=1)


def _flip_payload(data: bytes, rng) -> bytes:
    """Byte flips inside the gzip stream (which its checksum would catch in the file)."""
    payload = bytearray(gzip.decompress(data))
    for _ in range(rng.randint(1, 8)):
        payload[rng.randrange(len(payload))] = rng.randrange(256)
    return gzip.compress(bytes(payload), compresslevel=1)


def test_fuzzed_real_file_gives_a_cloud_or_a_format_error(data, fuzz):
    spz = (data / "spz" / "yashica-t4-top8192.spz").read_bytes()
    outcomes = fuzz(spz, read_spz, rounds=300, edits=(_edit_count, _flip_payload))
    assert outcomes["cloud"] and outcomes["error"]


@pytest.mark.parametrize("version", [2, 3])
def test_fuzzed_small_files_give_a_cloud_or_a_format_error(make_cloud, fuzz, tmp_path, version):
    write_spz(make_cloud(n=20, degree=2), tmp_path / "c.spz", version=version)
    data = (tmp_path / "c.spz").read_bytes()
    outcomes = fuzz(data, read_spz, rounds=500, seed=version, edits=(_edit_count, _flip_payload))
    assert outcomes["cloud"] and outcomes["error"]
