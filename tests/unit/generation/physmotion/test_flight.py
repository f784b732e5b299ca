"""The guide: exact free flight in the air, the frictionless slide on the ramp, resting on the
ground, and nothing for absent bodies."""

import math

import numpy as np

from continuum.generation.physmotion.data import rollout
from continuum.generation.physmotion.flight import free_flight
from continuum.generation.physmotion.scenarios import RADIUS, check_params, start_state


def test_in_the_air_it_is_the_flight_mujoco_simulates():
    params = {"height": 1.5, "vx": 2.0, "vy": 3.0, "vz": -1.0, "gravity": 9.81}
    guide = free_flight("throw", params, frames=64, fps=30)
    sim = rollout("throw", params, frames=64, fps=30).positions
    airborne = np.nonzero(sim[:, 0, 1] < RADIUS + 0.05)[0][0]  # frames before the first bounce
    assert airborne > 20
    # MuJoCo's semi-implicit Euler (steps of 1/300 s) falls ahead of the parabola by g dt t / 2.
    drift = 9.81 / 300 * (airborne / 30) / 2
    assert np.abs(guide[:airborne, 0] - sim[:airborne, 0]).max() < drift + 1e-3
    assert np.all(guide[:, 1] == 0.0)  # no second body


def test_after_landing_it_rests_on_the_ground():
    guide = free_flight("drop", {"height": 1.0, "gravity": 9.81}, frames=30, fps=30)
    landed = math.sqrt(2 * (1.0 - RADIUS) / 9.81) * 30  # frames
    assert np.allclose(guide[math.ceil(landed) :, 0, 1], RADIUS)
    assert np.all(guide[: math.floor(landed), 0, 1] > RADIUS)


def test_on_the_ramp_it_is_the_frictionless_slide():
    params = check_params("ramp", {"angle": 30.0, "height": 1.0, "speed": 0.5, "gravity": 9.81})
    guide = free_flight("ramp", params, frames=12, fps=30)[:, 0, :2]
    start = start_state("ramp", params)[0]
    a = math.radians(30.0)
    down = np.array([math.cos(a), -math.sin(a)])
    normal = np.array([math.sin(a), math.cos(a)])
    t = np.arange(12) / 30
    expected = 0.5 * t + 0.5 * 9.81 * math.sin(a) * t**2  # metres down the slope
    assert np.allclose((guide - start[:2]) @ down, expected, atol=1e-5)
    assert np.allclose(guide @ normal, RADIUS, atol=1e-5)  # on the top face


def test_the_resting_ball_stays_and_the_moving_one_slides():
    guide = free_flight("collide", {"speed": 2.0, "offset": 0.1}, frames=10, fps=30)
    assert np.allclose(guide[:, 1], [0.0, RADIUS, 0.1])
    assert np.allclose(guide[:, 0, 0], -1.0 + 2.0 * np.arange(10) / 30, atol=1e-6)
    assert np.allclose(guide[:, 0, 1], RADIUS)
