"""The built-in models: deterministic, the documented effects, progress per step."""

import numpy as np
import pytest

from continuum.errors import GenerationError
from continuum.generation import BuiltinModel, Image, Trajectory, Video, parse_request


def run(slot, params, image=None):
    steps = []
    result = BuiltinModel(slot).run(
        parse_request(slot, params, image), lambda s, n: steps.append((s, n))
    )
    return result, steps


def test_text_to_image_is_deterministic_and_follows_colour_words():
    red, steps = run(
        "text_to_image", {"prompt": "a red field", "width": 48, "height": 32, "steps": 4}
    )
    assert (
        isinstance(red, Image) and red.pixels.shape == (32, 48, 3) and red.pixels.dtype == np.uint8
    )
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    again, _ = run(
        "text_to_image", {"prompt": "a red field", "width": 48, "height": 32, "steps": 4}
    )
    assert np.array_equal(red.pixels, again.pixels)
    other, _ = run("text_to_image", {"prompt": "a red field", "width": 48, "height": 32, "seed": 1})
    assert not np.array_equal(red.pixels, other.pixels)
    blue, _ = run(
        "text_to_image", {"prompt": "a blue field", "width": 48, "height": 32, "steps": 4}
    )
    r, b = red.pixels.reshape(-1, 3).mean(0), blue.pixels.reshape(-1, 3).mean(0)
    assert r[0] > r[2] and b[2] > b[0]


def test_image_edit_applies_its_keywords_in_order():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)
    inverted, steps = run("image_edit", {"instruction": "please Invert it"}, image)
    assert np.array_equal(inverted.pixels, 255 - image) and steps == [(1, 1)]
    flipped, _ = run("image_edit", {"instruction": "flip then mirror"}, image)
    assert np.array_equal(flipped.pixels, image[::-1, ::-1])
    gray, _ = run("image_edit", {"instruction": "greyscale"}, image)
    assert (gray.pixels.max(axis=2) - gray.pixels.min(axis=2)).max() == 0
    with pytest.raises(GenerationError, match="understands the words"):
        run("image_edit", {"instruction": "make it epic"}, image)


def test_image_to_video_starts_on_the_image_and_moves():
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    video, steps = run("image_to_video", {"frames": 5, "fps": 12, "motion": 600}, image)
    assert isinstance(video, Video) and video.frames.shape == (5, 16, 16, 3) and video.fps == 12
    assert np.array_equal(video.frames[0], image) and len(steps) == 5
    assert not np.array_equal(video.frames[-1], image)


def test_motion_is_ballistic_and_bounces_on_the_floor():
    traj, steps = run("motion", {"params": {"y": 2.0, "vx": 1.0}, "frames": 300, "fps": 100})
    assert (
        isinstance(traj, Trajectory)
        and traj.values.shape == (300, 3)
        and traj.channels == ("x", "y", "z")
    )
    y = traj.values[:, 1]
    assert y.min() >= 0.0 and y[0] == 2.0 and np.all(np.diff(traj.values[:, 0]) > 0)
    fall = int(np.argmin(y[:100] > 0.05))  # about sqrt(2 h / g) = 0.64 s
    assert 55 <= fall <= 70
    assert steps[-1] == (300, 300)
    assert len(traj.end_velocity) == 3 and traj.end_velocity[0] > 0


def test_motion_with_a_scenario_is_the_mujoco_re_simulation():
    from continuum.generation.physmotion.data import rollout

    params = {"scenario": "collide", "params": {"speed": 3.0}, "frames": 40, "fps": 30}
    traj, steps = run("motion", {**params, "origin": [5.0, 1.0, 0.0]})
    assert traj.channels == ("x", "y", "z", "x2", "y2", "z2") and traj.values.shape == (40, 6)
    exact = rollout("collide", {"speed": 3.0}, frames=40)
    assert np.allclose(traj.values, exact.positions.reshape(40, 6) + np.array([5, 1, 0, 5, 1, 0]))
    assert np.allclose(traj.end_velocity, exact.end_velocity.ravel())
    assert steps[-1] == (40, 40)


def test_text_to_image_from_a_reference_takes_its_colours():
    reference = np.zeros((20, 30, 3), np.uint8)
    reference[..., 0] = 220  # a red identity
    params = {"prompt": "a blue sky", "width": 32, "height": 32, "steps": 3}
    plain = BuiltinModel("text_to_image").run(parse_request("text_to_image", params), max)
    near = parse_request("text_to_image", {**params, "strength": 0.1}, reference=reference)
    tinted = BuiltinModel("text_to_image").run(near, lambda s, n: None)
    a, b = plain.pixels.reshape(-1, 3).mean(0), tinted.pixels.reshape(-1, 3).mean(0)
    assert a[2] > a[0] and b[0] > b[2]  # blue without the reference, red from it
    edit = parse_request("image_edit", {"instruction": "invert"}, reference=reference)
    assert np.array_equal(edit.image, reference)  # the reference is the input image
