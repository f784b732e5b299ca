import math

import numpy as np
import pytest
import torch

from continuum.errors import SplatFormatError
from continuum.splats import SplatCloud
from continuum.splats.formats.ply import read_ply
from continuum.splats.formats.splat import read_splat, write_splat
from continuum.splats.sh import C0


def _unit(q: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(q.double(), dim=1)


def _check_within_bounds(cloud: SplatCloud, back: SplatCloud) -> None:
    """The bounds of the module docstring, derived from 8-bit rounding."""
    assert back.sh_degree == 0 and len(back) == len(cloud)
    assert torch.equal(back.means, cloud.means)
    assert torch.allclose(back.log_scales, cloud.log_scales, atol=1e-5)
    colour = 0.5 + C0 * cloud.sh[:, 0].double()
    inside = (colour >= 0) & (colour <= 1)
    error = (back.sh[:, 0].double() - cloud.sh[:, 0].double()).abs()
    assert error[inside].max() <= 0.5 / 255 / C0 + 1e-6  # 0.0070
    assert torch.equal(back.sh[:, 0][~inside] * C0 + 0.5 > 0.5, colour[~inside] > 0.5)  # clamped
    opacity = (back.opacities().double() - cloud.opacities().double()).abs()
    assert opacity.max() <= 0.5 / 255 + 1e-6
    # Each component of the normalised quaternion is within 0.5/128, or 1/128 where +1 clamps to
    # 255/128 - 1; the decoded norm is then within 2/128 of 1, so after normalising both, the
    # (sign-aligned) difference is at most |dq| + |1 - norm| <= 2/128 + 2/128.
    a, b = _unit(back.quats), _unit(cloud.quats)
    sign = torch.sign((a * b).sum(dim=1, keepdim=True))
    assert (a - sign * b).norm(dim=1).max() <= 4 / 128
    assert (back.quats.double() - _unit(cloud.quats)).abs().max() <= 1 / 128 + 1e-6


def test_round_trip_stays_within_the_8_bit_bounds(make_cloud, tmp_path):
    cloud = make_cloud(n=2000, degree=3)
    write_splat(cloud, tmp_path / "c.splat")
    assert (tmp_path / "c.splat").stat().st_size == 32 * 2000
    _check_within_bounds(cloud, read_splat(tmp_path / "c.splat"))


def test_real_ply_converts_within_the_bounds(data, tmp_path):
    cloud = read_ply(data / "ply" / "yashica-t4-top8192.ply")
    write_splat(cloud, tmp_path / "y.splat")
    _check_within_bounds(cloud, read_splat(tmp_path / "y.splat"))


def test_records_hold_what_the_antimatter15_layout_says(tmp_path):
    q = torch.tensor([[2.0, 0.0, 0.0, -2.0]])  # normalised: (0.707, 0, 0, -0.707)
    sh = torch.tensor([[[0.0, (1.0 - 0.5) / C0, -10.0]]])  # colours 0.5, 1.0, clamped to 0
    cloud = SplatCloud(
        torch.tensor([[1.0, -2.0, 3.5]]),
        q,
        torch.tensor([[0.0, math.log(2), -1.0]]),
        torch.tensor([0.0]),
        sh,
    )
    write_splat(cloud, tmp_path / "one.splat")
    raw = (tmp_path / "one.splat").read_bytes()
    assert np.frombuffer(raw[:12], "<f4").tolist() == [1.0, -2.0, 3.5]
    assert np.frombuffer(raw[12:24], "<f4").tolist() == pytest.approx([1.0, 2.0, math.exp(-1)])
    assert list(raw[24:28]) == [128, 255, 0, 128]  # 127.5 rounds up, like C's round
    assert list(raw[28:32]) == [219, 128, 128, 37]  # 128 +/- 0.707 * 128 = 218.5 / 37.5


def test_zero_and_negative_scales_read_as_their_magnitude(tmp_path):
    record = np.zeros(2, dtype=[("p", "<f4", 3), ("s", "<f4", 3), ("c", "u1", 8)])
    record["s"] = [[0.0, -2.0, 1.0], [1.0, 1.0, 1.0]]
    (tmp_path / "z.splat").write_bytes(record.tobytes())
    cloud = read_splat(tmp_path / "z.splat")
    assert cloud.log_scales[0].tolist() == pytest.approx([math.log(1.1754944e-38), math.log(2), 0])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes(33), "size 33 is not a multiple of the 32-byte record"),
        (np.array([0, 0, 0, np.nan, 1, 1, 0, 0], "<f4").tobytes(), "Gaussian 0 has scale"),
    ],
)
def test_broken_files_raise_a_format_error(assert_refused, content, words):
    assert_refused(read_splat, content, words, suffix=".splat")


def test_nan_is_refused_on_writing(make_cloud, tmp_path):
    cloud = make_cloud(n=3)
    cloud.opacity_logits[1] = float("nan")
    with pytest.raises(SplatFormatError, match="opacity_logits has 1 non-finite"):
        write_splat(cloud, tmp_path / "nan.splat")


def test_an_empty_file_is_an_empty_cloud(tmp_path):
    (tmp_path / "empty.splat").write_bytes(b"")
    assert len(read_splat(tmp_path / "empty.splat")) == 0


def test_fuzzed_files_give_a_cloud_or_a_format_error(make_cloud, fuzz, tmp_path):
    write_splat(make_cloud(n=64), tmp_path / "c.splat")
    outcomes = fuzz((tmp_path / "c.splat").read_bytes(), read_splat, rounds=400)
    assert outcomes["cloud"] and outcomes["error"]
