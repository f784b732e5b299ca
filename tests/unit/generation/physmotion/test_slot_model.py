"""A physmotion folder bound to the motion slot through ``load_model``."""

import numpy as np
import pytest

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation import ModelSpec, Trajectory, load_model, parse_request
from continuum.generation.physmotion.model import PhysMotionModel
from continuum.generation.physmotion.slot_model import PhysMotionSlotModel


def _run(model, params):
    steps = []
    result = model.run(parse_request("motion", params), lambda s, n: steps.append((s, n)))
    return result, steps


def test_load_model_dispatches_a_physmotion_folder(tiny_folder):
    model = load_model("motion", ModelSpec(tiny_folder))
    assert isinstance(model, PhysMotionSlotModel)
    info = model.describe()
    assert info["pipeline"] == "physmotion" and info["frames"] == 16 and info["parameters"] > 0
    with pytest.raises(ModelLoadError, match="serves the motion slot only, not text_to_image"):
        load_model("text_to_image", ModelSpec(tiny_folder))
    for device, dtype in (("cuda", "float32"), ("cpu", "float16")):
        with pytest.raises(ModelLoadError, match="runs on the CPU in float32"):
            load_model("motion", ModelSpec(tiny_folder, device, dtype))


def test_a_sample_at_the_model_rate_is_the_model_sample_moved_to_the_origin(tiny_folder):
    model = load_model("motion", ModelSpec(tiny_folder))
    request = {"scenario": "collide", "params": {"speed": 2.0}, "frames": 16, "seed": 3}
    traj, steps = _run(model, {**request, "origin": [1.0, 0.0, -2.0]})
    assert isinstance(traj, Trajectory) and traj.values.dtype == np.float32
    assert traj.channels == ("x", "y", "z", "x2", "y2", "z2") and traj.values.shape == (16, 6)
    raw = PhysMotionModel.from_pretrained(tiny_folder).sample(
        "collide", {"speed": 2.0}, n=1, seed=3
    )[0]
    assert np.allclose(traj.values, raw.reshape(16, 6) + np.array([1, 0, -2, 1, 0, -2]), atol=1e-5)
    expected_velocity = (raw[-1] - raw[-2]) * 30
    assert np.allclose(traj.end_velocity, expected_velocity.ravel(), atol=1e-3)
    assert steps[-1] == (10, 10)  # the sampler's DDIM steps


def test_other_rates_are_interpolated_and_longer_requests_refused(tiny_folder):
    model = load_model("motion", ModelSpec(tiny_folder))
    base, _ = _run(model, {"scenario": "drop", "frames": 16, "fps": 30})
    half, _ = _run(model, {"scenario": "drop", "frames": 8, "fps": 15})
    assert half.values.shape == (8, 3) and half.fps == 15
    assert np.allclose(half.values, base.values[::2], atol=1e-5)
    double, _ = _run(model, {"scenario": "drop", "frames": 31, "fps": 60})
    assert np.allclose(double.values[1::2][:15], (base.values[:-1] + base.values[1:]) / 2)
    with pytest.raises(GenerationError, match=r"generates 0\.50 s \(16 frames at 30 fps\)"):
        _run(model, {"scenario": "drop", "frames": 17})
    with pytest.raises(GenerationError, match="a physmotion model needs one of drop, throw"):
        _run(model, {"params": {"vy": 1.0}})


def test_a_target_picks_the_candidate_that_passes_closest(tiny_folder):
    model = load_model("motion", ModelSpec(tiny_folder))
    raw = PhysMotionModel.from_pretrained(tiny_folder).sample("throw", {}, n=8, seed=0)
    target = raw[5, 9, 0]  # a point on one candidate's path
    traj, _ = _run(model, {"scenario": "throw", "frames": 16, "target": [*map(float, target)]})
    distances = np.linalg.norm(raw[:, :, 0] - target, axis=-1).min(axis=1)
    best = raw[int(np.argmin(distances)), :, 0]
    assert np.allclose(traj.values, best, atol=1e-5)
    assert np.linalg.norm(traj.values - target, axis=-1).min() < 1e-5
