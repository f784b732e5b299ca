"""``continuum bench identity`` on small sizes: every figure is there and sane (timings and
which policy wins are not asserted)."""

from __future__ import annotations

import math

from continuum.bench.identity import IMAGES, bench_identity
from continuum.cli import BENCHMARKS


def test_every_figure_is_measured():
    figures = bench_identity(
        entities=3, steps=20, points=4, face_steps=4, memories=(1000, 4000), timed=20
    )
    for key in (
        "reid_acc_adaptive",
        "reid_acc_fifo",
        "reid_acc_single_ref",
        "reid_acc_adaptive_id_switch",
        "reid_acc_fifo_id_switch",
        "reid_acc_adaptive_tuned",
        "face_detect_rate",
    ):
        assert 0 <= figures[key] <= 1, key
    for key in ("decay_adaptive", "decay_fifo", "decay_single_ref", "decay_to_original"):
        curve = figures[key]
        assert len(curve) == 4 and all(-1 <= s <= 1 for s in curve), key
    # the single reference is never updated: its bank is the original
    assert figures["decay_single_ref"] == figures["decay_to_original"]
    # the walk starts at the original and moves away from it
    assert figures["decay_to_original"][0] > 0.9
    assert figures["step_similarity_p5"] <= figures["step_similarity_p50"] <= 1
    assert sum(figures["updates_adaptive"].values()) == 3 * 20
    face = figures["face_similarity_decay"]
    assert len(face["original"]) == len(face["adaptive"]) == 4
    for n in (1000, 4000):
        for kind in ("update", "query", "observe"):
            value = figures[f"{kind}_us_{n}"]
            assert math.isfinite(value) and value > 0, (kind, n)
    assert figures["images"] == list(IMAGES[:3]) and figures["entities"] == 3
    assert figures["embed_ms"] > 0 and figures["steps"] == 20


def test_the_benchmark_is_registered():
    assert BENCHMARKS["identity"] == ("continuum.bench.identity", "bench_identity")
