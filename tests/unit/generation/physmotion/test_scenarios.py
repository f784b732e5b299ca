"""Scenario parameters: defaults, the checks at the boundary, the condition vector."""

import math

import numpy as np
import pytest

from continuum.errors import GenerationError
from continuum.generation.physmotion import (
    SCENARIO_NAMES,
    SCENARIOS,
    check_params,
    condition,
    sample_params,
    start_state,
)
from continuum.generation.physmotion.scenarios import PARAM_NAMES, RADIUS


def test_defaults_fill_the_missing_parameters_in_order():
    p = check_params("throw", {"vx": 4})
    assert list(p) == list(SCENARIOS["throw"].params)
    assert p["vx"] == 4.0 and p["gravity"] == 9.81 and p["restitution"] == 0.5


@pytest.mark.parametrize(
    ("scenario", "params", "match"),
    [
        ("fly", {}, r"unknown scenario 'fly'; the scenarios are drop, throw, ramp, collide"),
        ("drop", {"speed": 1.0}, r"unknown parameter\(s\) \['speed'\]; known: height, mass"),
        ("drop", {"height": math.nan}, r"drop.height must be finite, got nan"),
        ("throw", {"vx": math.inf}, r"throw.vx must be finite, got inf"),
        ("ramp", {"angle": 80.0}, r"ramp.angle must be in \[10, 45\] deg .*got 80"),
        ("collide", {"mass2": -1}, r"collide.mass2 must be in \[0.1, 10\] kg .*got -1"),
        ("drop", {"height": True}, r"drop.height must be a number, got True"),
        ("drop", {"height": "1"}, r"drop.height must be a number"),
    ],
)
def test_bad_scenarios_and_parameters_are_named(scenario, params, match):
    with pytest.raises(GenerationError, match=match):
        check_params(scenario, params)


def test_sampled_parameters_are_in_range_and_seeded():
    rng = np.random.default_rng(0)
    for name in SCENARIO_NAMES:
        p = sample_params(name, rng)
        assert check_params(name, p) == p
    assert sample_params("throw", np.random.default_rng(5)) == sample_params(
        "throw", np.random.default_rng(5)
    )


def test_condition_is_normalised_with_a_one_hot():
    lo = {n: p.lo for n, p in SCENARIOS["drop"].params.items()}
    c = condition("drop", check_params("drop", lo))
    assert c.shape == (len(PARAM_NAMES) + len(SCENARIO_NAMES),)
    drop_slots = [PARAM_NAMES.index(n) for n in SCENARIOS["drop"].params]
    assert np.allclose(c[drop_slots], -1.0)
    others = [i for i in range(len(PARAM_NAMES)) if i not in drop_slots]
    assert np.all(c[others] == 0.0)  # parameters drop does not have
    assert c[len(PARAM_NAMES) :].tolist() == [1.0, 0.0, 0.0, 0.0]
    hi = condition("collide", check_params("collide", {"speed": 5.0}))
    assert hi[PARAM_NAMES.index("speed")] == 1.0 and hi[-1] == 1.0


def test_ramp_start_rests_on_the_slope_at_its_height():
    p = check_params("ramp", {"angle": 30.0, "height": 0.5, "speed": 2.0})
    ((x, y, _, vx, vy, _),) = start_state("ramp", p)
    a = math.radians(30.0)
    bottom = np.array([x, y]) - RADIUS * np.array([math.sin(a), math.cos(a)])
    assert bottom[1] == pytest.approx(0.5)
    assert bottom[1] == pytest.approx(-bottom[0] * math.tan(a))  # on the slope's surface
    assert math.hypot(vx, vy) == pytest.approx(2.0) and vy < 0 < vx  # down the slope
    assert start_state("collide", check_params("collide", {})).shape == (2, 6)
