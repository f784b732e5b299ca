"""MuJoCo rollouts of the scenarios are physically sane; data sets have the documented shapes."""

import math

import numpy as np
import pytest

from continuum.errors import GenerationError
from continuum.generation.physmotion.data import rollout
from continuum.generation.physmotion.scenarios import RADIUS


def _landing_time(r, fps):
    y = r.positions[:, 0, 1]
    return np.argmax(y < RADIUS + 0.005) / fps


@pytest.mark.parametrize("gravity", [9.81, 4.0])
def test_a_drop_reaches_the_ground_after_sqrt_2h_over_g(gravity):
    r = rollout(
        "drop", {"height": 1.5, "gravity": gravity, "restitution": 0.0}, frames=120, fps=100
    )
    expected = math.sqrt(2 * (1.5 - RADIUS) / gravity)
    assert _landing_time(r, 100) == pytest.approx(expected, abs=0.02)
    assert r.positions.shape == (120, 1, 3)
    assert np.allclose(r.positions[:, 0, [0, 2]], 0.0, atol=1e-6)  # straight down


def test_restitution_sets_the_bounce_height():
    apex = {}
    for e in (0.0, 0.3, 0.8):
        y = rollout("drop", {"height": 1.0, "restitution": e}, frames=60, fps=60).positions[:, 0, 1]
        landed = int(np.argmax(y < RADIUS + 0.01))
        apex[e] = float(y[landed:].max() - RADIUS)
    assert apex[0.0] < 0.01 < apex[0.3] < apex[0.8]
    # A bounce of e reaches about e^2 of the fall height (MuJoCo's soft contact loses a little).
    assert apex[0.8] / (1.0 - RADIUS) == pytest.approx(0.64, abs=0.1)


def test_a_throw_is_a_parabola_and_ends_with_its_velocity():
    p = {"height": 1.5, "vx": 2.0, "vy": 1.0, "vz": -0.5, "gravity": 9.81}
    r = rollout("throw", p, frames=10, fps=30)  # 0.3 s: still in the air
    t = np.arange(10) / 30
    expected = np.stack([2.0 * t, 1.5 + t - 0.5 * 9.81 * t**2, -0.5 * t], axis=1)
    # MuJoCo's semi-implicit Euler at dt = 1/300 s lags the parabola by g dt t / 2 (5 mm here).
    assert np.allclose(r.positions[:, 0], expected, atol=6e-3)
    v = [2.0, 1.0 - 9.81 * t[-1], -0.5]
    assert np.allclose(r.end_velocity[0], v, atol=0.03)


def test_friction_decides_whether_the_box_slides_down_the_ramp():
    slides = rollout("ramp", {"angle": 30.0, "friction": 0.1}, frames=40)
    sticks = rollout("ramp", {"angle": 30.0, "friction": 0.9}, frames=40)  # tan 30 = 0.58
    assert slides.positions[-1, 0, 0] > 0.0  # off the ramp's foot at x = 0
    assert np.linalg.norm(sticks.positions[-1, 0] - sticks.positions[0, 0]) < 0.05


def test_a_collision_pushes_the_resting_ball():
    r = rollout("collide", {"speed": 3.0, "restitution": 0.9, "mass2": 0.5}, frames=40)
    assert r.positions.shape == (40, 2, 3)
    assert np.allclose(r.positions[0, 1], [0.0, RADIUS, 0.0], atol=1e-6)
    assert r.positions[-1, 1, 0] > 0.3 and r.end_velocity[1, 0] > 0.5  # pushed along +x
    gap = np.linalg.norm(r.positions[:, 0] - r.positions[:, 1], axis=-1)
    assert gap.min() > 2 * RADIUS - 0.02  # they touch, no more


def test_rollouts_refuse_bad_parameters():
    with pytest.raises(GenerationError, match=r"drop\.height"):
        rollout("drop", {"height": 10.0})


def test_a_data_set_has_every_scenario_and_zero_rows_for_absent_bodies(tiny_data):
    d = tiny_data
    assert d.scenarios == ("drop", "throw", "ramp", "collide") * 2
    assert d.positions.shape == (8, 16, 2, 3) and d.starts.shape == (8, 2, 6)
    single = [i for i, s in enumerate(d.scenarios) if s != "collide"]
    assert np.all(d.positions[single, :, 1] == 0) and np.all(d.starts[single, 1] == 0)
    assert np.allclose(d.positions[:, 0], d.starts[:, :, :3], atol=1e-5)
    again = rollout(d.scenarios[3], d.params[3], frames=16)
    assert np.array_equal(again.positions, d.positions[3])  # deterministic
