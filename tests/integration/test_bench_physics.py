"""``continuum bench physics`` end to end on small sizes, with a real Godot sending the controls
(the figures are not asserted, only that every one is measured)."""

from __future__ import annotations

import pytest

from continuum.bench.physics import bench_physics

pytestmark = pytest.mark.godot


def test_every_figure_is_measured():
    figures = bench_physics(settle_s=0.1, sim_seconds=0.1, publish_seconds=0.5, samples=20)
    for key in (
        "rtf_10",
        "rtf_100",
        "rtf_500",
        "publish_us_per_tick_100",
        "control_to_pose_p50_ms",
        "control_to_pose_p99_ms",
        "engine_jitter_ms_p99",
    ):
        assert isinstance(figures[key], float) and figures[key] >= 0, key
    assert figures["control_to_pose_p50_ms"] <= figures["control_to_pose_p99_ms"]
    assert figures["latency_samples"] == 20 and figures["publish_hz"] == 90.0
