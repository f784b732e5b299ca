"""``continuum bench physmotion`` end to end at a tiny size (the figures are not asserted, only
that every one is measured and in its range)."""

from __future__ import annotations

import math

from continuum.bench.physmotion import bench_physmotion


def test_every_figure_is_measured():
    figures = bench_physmotion(
        samples=8, train_steps=3, align_steps=1, eval_settings=1, width=16, layers=1, frames=16
    )
    for stage in ("pre", "post"):
        for key in ("offset_m", "freefall_accel_residual", "energy_gain"):
            value = figures[f"{key}_{stage}"]
            assert isinstance(value, float) and (math.isnan(value) or value >= 0), key
        for key in ("penetration_rate", "constraint_success"):
            assert 0.0 <= figures[f"{key}_{stage}"] <= 1.0, key
        assert figures[f"reward_{stage}"] <= 0.0
    for key in ("train_s", "align_s", "sample_ms"):
        assert isinstance(figures[key], float) and figures[key] >= 0, key
    assert figures["samples"] == 8 and figures["train_steps"] == 3 and figures["align_steps"] == 1
    assert figures["eval_settings"] == 4 and figures["frames"] == 16
    assert isinstance(figures["parameters"], int) and figures["parameters"] > 0
