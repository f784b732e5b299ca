"""``continuum bench engine-splats`` end to end, on small sizes (the figures are not asserted,
only that every one is measured and the quality ones hold)."""

from __future__ import annotations

import pytest

from continuum.bench.engine_splats import bench_engine_splats

pytestmark = pytest.mark.godot


def test_every_figure_is_measured():
    figures = bench_engine_splats(million=20_000, frame_splats=5_000, frames=2)
    for key in ("import_s_1m", "sync_s_1m", "sort_ms_100k", "sort_ms_1m", "frame_ms_100k_software"):
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["gpu_bytes_per_splat"] <= 64
    assert figures["psnr_vs_backend_db"] >= 28
    assert figures["splats_1m"] == 20_000 and figures["renderer"] == "gl_compatibility"
