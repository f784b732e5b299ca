import gzip

import pytest
import torch

from continuum.errors import SplatFormatError
from continuum.splats.formats import FORMATS, detect_format, read_splats, write_splats

_REAL = [
    ("ply/yashica-t4-top8192.ply", "ply", 8192, 3),
    ("ply/pc_short.ply", "ply", 100, 3),
    ("ply/v3dg-donut-fused.ply", "ply", 45624, 0),
    ("spz/yashica-t4-top8192.spz", "spz", 8192, 3),
    ("sog/yashica-t4-top8192.sog", "sog", 8192, 3),
    ("compressed-ply/playcanvas-test.compressed.ply", "compressed_ply", 64, 3),
    ("compressed-ply/guitar.compressed.ply", "compressed_ply", 90854, 0),
]


@pytest.mark.parametrize(("name", "fmt", "count", "degree"), _REAL)
def test_every_real_file_is_recognised_and_read(data, name, fmt, count, degree):
    assert fmt in FORMATS
    assert detect_format(data / name) == fmt
    cloud = read_splats(data / name)
    assert (len(cloud), cloud.sh_degree, cloud.dtype) == (count, degree, torch.float32)


@pytest.mark.parametrize(("suffix", "fmt"), [(".ply", "ply"), (".SPZ", "spz"), (".splat", "splat")])
def test_writing_follows_the_extension_and_reading_the_content(make_cloud, tmp_path, suffix, fmt):
    cloud = make_cloud(n=20, degree=1)
    path = tmp_path / f"c{suffix}"
    write_splats(cloud, path)
    assert detect_format(path) == fmt
    back = read_splats(path)
    assert len(back) == 20
    assert torch.allclose(back.means, cloud.means, atol=1e-3)


def test_format_overrides_the_extension_and_magic_bytes_win(make_cloud, tmp_path):
    cloud = make_cloud(n=5)
    write_splats(cloud, tmp_path / "c.bin", format="spz")
    assert detect_format(tmp_path / "c.bin") == "spz"
    write_splats(cloud, tmp_path / "really-a-ply.splat", format="ply")
    assert detect_format(tmp_path / "really-a-ply.splat") == "ply"
    assert torch.equal(read_splats(tmp_path / "really-a-ply.splat").sh, cloud.sh)


@pytest.mark.parametrize(
    ("name", "fmt"), [("c.sog", None), ("c.ply", "compressed_ply"), ("c.xyz", None)]
)
def test_writing_an_unwritable_format_is_refused(make_cloud, tmp_path, name, fmt):
    with pytest.raises(ValueError, match="writable formats are"):
        write_splats(make_cloud(n=2), tmp_path / name, format=fmt)


def test_an_unknown_file_is_a_format_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SplatFormatError, match="cannot tell the format: it starts b'hell'"):
        read_splats(tmp_path / "notes.txt")
    (tmp_path / "x.spz").write_bytes(gzip.compress(b"not an spz, though gzip"))
    with pytest.raises(SplatFormatError, match="bad magic"):
        read_splats(tmp_path / "x.spz")
