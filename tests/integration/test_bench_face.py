"""``continuum bench face`` at a tiny size: every figure is there with its type (the figures'
values and timings are not asserted)."""

from __future__ import annotations

import numpy as np
import torch

from continuum.bench.face import YAWS, bench_face, billboard_cloud, load_bench_photo
from continuum.cli import BENCHMARKS
from continuum.generation.facesplat import FaceConfig, reconstruct_face
from continuum.splats.fit import psnr
from continuum.splats.render import render_splats


def test_every_figure_is_measured():
    figures = bench_face(
        photos=("astronaut",), steps=2, gaussians=2000, size=256, billboard_side=96
    )
    photo = figures["photos"]["astronaut"]
    for where in (figures, photo):
        assert isinstance(where["psnr_input_view_db"], float) and where["psnr_input_view_db"] > 10
        assert 0 < where["ssim_input_view"] <= 1
        assert where["seconds"] > 0
        for suffix in ("", "_billboard", "_noprior", "_exact", "_exact_billboard"):
            distances = where[f"id_dist_yaw{suffix}"]
            assert len(distances) == len(YAWS)
            assert all(d is None or 0 <= d < 2 for d in distances)
        for suffix in ("", "_billboard", "_noprior"):
            detected = where[f"faces_detected{suffix}"]
            assert isinstance(detected, int) and 0 <= detected <= len(YAWS)
    # a render without a face is a null distance, counted, never skipped
    assert photo["faces_detected"] == sum(d is not None for d in photo["id_dist_yaw"])
    assert photo["gaussians"] == 2000 and photo["faces_found"] == 1
    assert -30 < photo["elevation_deg"] < 30  # the photo's camera, seen from the face
    assert figures["yaws_deg"] == list(YAWS) and figures["renders_per_method"] == len(YAWS)


def test_the_billboard_shows_the_photo_again_from_its_camera():
    photo = load_bench_photo("astronaut")
    ours = reconstruct_face(photo, config=FaceConfig(steps=0, gaussians=500))
    billboard = billboard_cloud(ours.image, ours.camera, ours.pose.landmarks[27])
    height, width = ours.image.shape[:2]
    assert len(billboard) == height * width  # the photo's own resolution, a Gaussian a pixel
    with torch.no_grad():
        rendered = render_splats(billboard, ours.camera, backend="cpu").rgb
    target = torch.from_numpy(np.asarray(ours.image, np.float32) / 255.0)
    assert psnr(rendered.reshape(-1, 3), target.reshape(-1, 3)) > 27  # not blurred
    assert len(billboard_cloud(ours.image, ours.camera, ours.pose.landmarks[27], side=96)) == 96**2


def test_the_benchmark_is_registered():
    assert BENCHMARKS["face"] == ("continuum.bench.face", "bench_face")
