import json
import struct

import numpy as np
import pytest
import torch

from continuum.errors import SplatFormatError
from continuum.splats import SplatCloud
from continuum.splats.pack import (
    MAGIC,
    SH_SPLATS_PER_ROW,
    TEXTURE_WIDTH,
    pack_splats,
    read_pack_header,
    sh_texels,
    unpack_splats,
)


def _cloud(n: int, degree: int, seed: int = 0) -> SplatCloud:
    g = torch.Generator().manual_seed(seed)
    return SplatCloud(
        torch.randn(n, 3, generator=g) * 2,
        torch.randn(n, 4, generator=g),
        torch.randn(n, 3, generator=g) * 0.5 - 3,
        torch.randn(n, generator=g) * 2,
        torch.randn(n, (degree + 1) ** 2, 3, generator=g) * 0.5,
    )


def _half(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float16).to(torch.float32)


@pytest.mark.parametrize(("n", "degree"), [(1, 0), (300, 1), (2049, 3)])
def test_round_trip_within_half_precision(n, degree):
    cloud = _cloud(n, degree)
    back = unpack_splats(pack_splats(cloud))
    assert len(back) == n and back.sh_degree == degree
    # Means and opacity travel as float32 (exact); the rest as halves (rounded once).
    torch.testing.assert_close(back.means, cloud.means, rtol=0, atol=0)
    torch.testing.assert_close(back.opacity_logits, cloud.opacity_logits, rtol=0, atol=0)
    for name in ("quats", "log_scales", "sh"):
        got, sent = getattr(back, name), getattr(cloud, name)
        torch.testing.assert_close(got, _half(sent), rtol=0, atol=0)
        torch.testing.assert_close(got, sent, rtol=1e-3, atol=1e-4)


def test_layout_matches_the_header():
    n = TEXTURE_WIDTH + 1  # two rows of the per-splat images
    data = pack_splats(_cloud(n, 2))
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version) == (MAGIC, 1)
    head = read_pack_header(data)
    assert (head.count, head.sh_degree, head.height) == (n, 2, 2)
    assert head.sh_texels == sh_texels(2) == 6 and head.sh_height == -(-n // SH_SPLATS_PER_ROW)
    assert list(head.sections) == ["means", "rotations", "scales", "colors", "sh"]
    previous_end = 12 + length
    for _, offset, size in head.sections.values():
        assert offset % 16 == 0 and offset >= previous_end
        previous_end = offset + size
    assert len(data) % 16 == 0 and len(data) >= previous_end
    _, offset, size = head.sections["means"]
    assert size == 2 * TEXTURE_WIDTH * 16
    texels = np.frombuffer(data, "<f4", count=size // 4, offset=offset).reshape(-1, 4)
    assert not texels[n:].any()  # the padding texels are zero


def test_sh_degree_is_trimmed():
    cloud = _cloud(100, 3)
    one = unpack_splats(pack_splats(cloud, sh_degree=1))
    assert one.sh_degree == 1
    torch.testing.assert_close(one.sh, _half(cloud.sh[:, :4]), rtol=0, atol=0)
    zero = pack_splats(cloud, sh_degree=0)
    assert "sh" not in read_pack_header(zero).sections
    assert unpack_splats(zero).sh.shape == (100, 1, 3)
    assert len(zero) < len(pack_splats(cloud, sh_degree=1)) < len(pack_splats(cloud))
    with pytest.raises(ValueError, match=r"sh_degree must be 0\.\.3"):
        pack_splats(cloud, sh_degree=4)
    with pytest.raises(ValueError, match=r"sh_degree must be 0\.\.1"):
        pack_splats(_cloud(5, 1), sh_degree=2)


def test_aabb_holds_every_splat():
    cloud = _cloud(500, 0)
    lo, hi = np.split(np.array(read_pack_header(pack_splats(cloud)).aabb), 2)
    reach = 3 * cloud.log_scales.exp().max(dim=1).values[:, None].numpy()
    means = cloud.means.numpy()
    assert (means - reach >= lo - 1e-6).all() and (means + reach <= hi + 1e-6).all()
    assert np.allclose(lo, (means - reach).min(0)) and np.allclose(hi, (means + reach).max(0))


def test_empty_cloud():
    data = pack_splats(SplatCloud.empty(sh_degree=1))
    head = read_pack_header(data)
    assert (head.count, head.height, head.aabb) == (0, 1, (0.0,) * 6)
    assert len(unpack_splats(data)) == 0


def _rewrite_header(data: bytes, change) -> bytes:
    """``data`` with its JSON header changed by ``change(dict)``, the sections left in place."""
    (length,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12 : 12 + length])
    first = min(s["offset"] for s in header["sections"])
    change(header)
    raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    assert 12 + len(raw) <= first, "the test's change must fit the header's padding"
    return data[:8] + struct.pack("<I", len(raw)) + raw.ljust(first - 12, b"\0") + data[first:]


def _section(name: str, field: str, value):
    def change(header):
        for s in header["sections"]:
            if s["name"] == name:
                s[field] = value

    return change


PACK = pack_splats(_cloud(40, 1))
OFFSET = {s: o for s, (_, o, _) in read_pack_header(PACK).sections.items()}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "does not start with b'CSPK'"),
        (b"PK\x03\x04" + PACK[4:], "does not start with b'CSPK'"),
        (PACK[:4] + struct.pack("<I", 2) + PACK[8:], "version 2; this backend reads 1"),
        (PACK[:8] + struct.pack("<I", 1 << 30) + PACK[12:], "runs past the end"),
        (PACK[:40], "runs past the end"),
        (PACK[:-16], "'sh' lies outside the pack"),
        (_rewrite_header(PACK, lambda h: h.update(count=5000)), "texture size"),
        (_rewrite_header(PACK, lambda h: h.update(count=-1)), "out of range"),
        (_rewrite_header(PACK, lambda h: h.update(sh_degree=4)), "out of range"),
        (_rewrite_header(PACK, lambda h: h.update(sh_degree=2)), "'sh' should be rgba16f"),
        (_rewrite_header(PACK, lambda h: h.update(count="many")), "malformed"),
        (_rewrite_header(PACK, lambda h: h.pop("aabb")), "malformed"),
        (_rewrite_header(PACK, lambda h: h.update(aabb=[0, 0])), "out of range"),
        (_rewrite_header(PACK, lambda h: h.update(width=1024)), "texture size"),
        (_rewrite_header(PACK, lambda h: h.update(sections=[])), "'means' should be"),
        (_rewrite_header(PACK, _section("scales", "bytes", 16)), "'scales' should be"),
        (_rewrite_header(PACK, _section("colors", "format", "rgba32f")), "'colors' should be"),
        (_rewrite_header(PACK, _section("means", "offset", 16)), "'means' lies outside"),
        (_rewrite_header(PACK, _section("sh", "offset", OFFSET["sh"] + 8)), "'sh' lies outside"),
        (_rewrite_header(PACK, _section("sh", "offset", OFFSET["sh"] + 16)), "'sh' lies outside"),
        (PACK[:12] + b"\xff" + PACK[13:], "malformed"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_broken_packs_are_refused(data, words):
    with pytest.raises(SplatFormatError, match=words):
        read_pack_header(data)
    with pytest.raises(SplatFormatError, match=words):
        unpack_splats(data)


def test_a_count_of_infinity_is_refused():
    (length,) = struct.unpack_from("<I", PACK, 8)
    text = PACK[12 : 12 + length].replace(b'"count":40', b'"count":Infinity')
    data = PACK[:8] + struct.pack("<I", len(text)) + text + PACK[12 + length :]
    with pytest.raises(SplatFormatError, match="malformed"):
        read_pack_header(data)
