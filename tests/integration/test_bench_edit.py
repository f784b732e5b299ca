import math

from continuum.bench.edit import bench_edit


def test_bench_edit_reports_its_figures():
    result = bench_edit(per_part=300, side=48, optimize_steps=3, big=5000)
    for key in ("select_miou_1view", "select_miou_3view", "select_miou_8view"):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["select_miou_8view"] >= result["select_miou_1view"]
    # bit-identical outside the selection: infinite, reported as such
    assert result["outside_psnr_db_recolor"] == "inf"
    assert result["outside_psnr_db_optimised"] == "inf"
    assert all(math.isfinite(result[k]) and result[k] >= 0 for k in ("edit_s_100k", "lift_s_8view"))
