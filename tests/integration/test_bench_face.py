"""``continuum bench face`` at a tiny size: every figure is there with its type (the figures'
values and timings are not asserted)."""

from __future__ import annotations

from continuum.bench.face import YAWS, bench_face
from continuum.cli import BENCHMARKS


def test_every_figure_is_measured():
    figures = bench_face(
        photos=("astronaut",), steps=2, gaussians=2000, size=256, billboard_side=96
    )
    photo = figures["photos"]["astronaut"]
    for where in (figures, photo):
        assert isinstance(where["psnr_input_view_db"], float) and where["psnr_input_view_db"] > 10
        assert 0 < where["ssim_input_view"] <= 1
        assert where["seconds"] > 0
        for suffix in ("", "_billboard", "_noprior"):
            distances = where[f"id_dist_yaw{suffix}"]
            assert len(distances) == len(YAWS)
            assert all(d is None or 0 <= d < 2 for d in distances)
            detected = where[f"faces_detected{suffix}"]
            assert isinstance(detected, int) and 0 <= detected <= len(YAWS)
    # a render without a face is a null distance, counted, never skipped
    assert photo["faces_detected"] == sum(d is not None for d in photo["id_dist_yaw"])
    assert photo["gaussians"] == 2000 and photo["faces_found"] == 1
    assert -30 < photo["elevation_deg"] < 30  # the photo's camera, seen from the face
    assert figures["yaws_deg"] == list(YAWS) and figures["renders_per_method"] == len(YAWS)


def test_the_benchmark_is_registered():
    assert BENCHMARKS["face"] == ("continuum.bench.face", "bench_face")
