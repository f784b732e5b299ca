"""The scenario families and their physical parameters: names, ranges, units, defaults, checks.

Every scenario is laid out in its own frame, glTF axes (+Y up, metres), on a ground plane at
y = 0, the motion heading along +x:

- ``drop``: a ball (radius ``RADIUS``) let go at rest, its centre ``height`` above the ground.
- ``throw``: the same ball thrown from ``height`` with velocity (``vx``, ``vy``, ``vz``).
- ``ramp``: a box (edge ``2 * RADIUS``) on a ramp of ``angle`` degrees whose foot is at the
  origin (the slope falls along +x); the box starts with its bottom face ``height`` above the
  ground and ``speed`` down the slope, slides (or tumbles) down and out onto the ground.
- ``collide``: a ball starts at x = -1 m on the ground with ``speed`` along +x (sliding, no
  spin) and hits a second ball (mass ``mass2``) resting at the origin, offset sideways by
  ``offset`` (the impact parameter, along z). Two bodies.

Parameters common to all: ``mass`` (kg), ``friction`` (sliding coefficient, the same for the
ground, the ramp and the bodies), ``restitution`` (0 dead .. 0.9; the ground and the ramp take
the body's, see ``continuum.physics.contact_params``) and ``gravity`` (m/s^2, its magnitude).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from continuum.errors import GenerationError

RADIUS = 0.1  # m: the ball's radius and half the box's edge


@dataclass(frozen=True)
class Param:
    """One physical parameter: its range [lo, hi], default and unit."""

    lo: float
    hi: float
    default: float
    unit: str
    doc: str

    def normalise(self, value: float) -> float:
        """``value`` mapped linearly from [lo, hi] to [-1, 1]."""
        return 2.0 * (value - self.lo) / (self.hi - self.lo) - 1.0


@dataclass(frozen=True)
class Scenario:
    """A scenario family: its parameters (in a fixed order) and its number of bodies."""

    name: str
    params: dict[str, Param]
    bodies: int
    doc: str


_MASS = Param(0.1, 10.0, 1.0, "kg", "the (first) body's mass")
_FRICTION = Param(0.05, 1.0, 0.5, "", "sliding friction of every surface")
_RESTITUTION = Param(0.0, 0.9, 0.5, "", "bounciness: 0 dead, 0.9 very bouncy")
_GRAVITY = Param(2.0, 20.0, 9.81, "m/s^2", "gravity's magnitude (pointing -y)")
_COMMON = {"mass": _MASS, "friction": _FRICTION, "restitution": _RESTITUTION, "gravity": _GRAVITY}

SCENARIOS: dict[str, Scenario] = {
    "drop": Scenario(
        "drop",
        {"height": Param(0.3, 3.0, 1.0, "m", "the ball's centre above the ground"), **_COMMON},
        1,
        "a ball let go at rest",
    ),
    "throw": Scenario(
        "throw",
        {
            "height": Param(0.3, 2.0, 1.0, "m", "the ball's centre above the ground"),
            "vx": Param(0.0, 5.0, 2.5, "m/s", "forward speed"),
            "vy": Param(-2.0, 6.0, 2.0, "m/s", "upward speed"),
            "vz": Param(-2.0, 2.0, 0.0, "m/s", "sideways speed"),
            **_COMMON,
        },
        1,
        "a ball thrown",
    ),
    "ramp": Scenario(
        "ramp",
        {
            "angle": Param(10.0, 45.0, 30.0, "deg", "the ramp's slope"),
            "height": Param(0.2, 1.2, 0.6, "m", "the box's bottom face above the ground"),
            "speed": Param(0.0, 3.0, 0.0, "m/s", "initial speed down the slope"),
            **_COMMON,
        },
        1,
        "a box sliding down a ramp",
    ),
    "collide": Scenario(
        "collide",
        {
            "speed": Param(0.5, 5.0, 2.0, "m/s", "the moving ball's initial speed along +x"),
            "mass2": Param(0.1, 10.0, 1.0, "kg", "the resting ball's mass"),
            "offset": Param(-0.15, 0.15, 0.0, "m", "the resting ball's sideways offset"),
            **_COMMON,
        },
        2,
        "a moving ball hits a resting one",
    ),
}
SCENARIO_NAMES = tuple(SCENARIOS)
# The conditioning vector's parameter slots: every name of every scenario, in first-seen order.
PARAM_NAMES = tuple(dict.fromkeys(n for s in SCENARIOS.values() for n in s.params))
MAX_BODIES = 2


def check_scenario(scenario: object) -> Scenario:
    """The scenario named ``scenario``; GenerationError listing the known ones otherwise."""
    found = SCENARIOS.get(scenario) if isinstance(scenario, str) else None
    if found is None:
        raise GenerationError(
            f"unknown scenario {scenario!r:.40}; the scenarios are {', '.join(SCENARIO_NAMES)}"
        )
    return found


def check_params(scenario: str, params: Mapping[str, float]) -> dict[str, float]:
    """``params`` of ``scenario`` checked, with the defaults filled in (in the scenario's order).

    Raises:
        GenerationError: an unknown scenario or parameter name, a value that is not a finite
            number, or one out of its range; the message names it, the range and the value.
    """
    s = check_scenario(scenario)
    unknown = sorted(set(params) - set(s.params))
    if unknown:
        raise GenerationError(
            f"{scenario}: unknown parameter(s) {unknown}; known: {', '.join(s.params)}"
        )
    out: dict[str, float] = {}
    for name, p in s.params.items():
        value = params.get(name, p.default)
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
            raise GenerationError(f"{scenario}.{name} must be a number, got {value!r:.40}")
        value = float(value)
        if not math.isfinite(value):
            raise GenerationError(f"{scenario}.{name} must be finite, got {value}")
        if not p.lo <= value <= p.hi:
            unit = f" {p.unit}" if p.unit else ""
            raise GenerationError(
                f"{scenario}.{name} must be in [{p.lo:g}, {p.hi:g}]{unit} ({p.doc}), got {value:g}"
            )
        out[name] = value
    return out


def sample_params(scenario: str, rng: np.random.Generator) -> dict[str, float]:
    """Parameters of ``scenario`` drawn uniformly from their ranges."""
    return {n: float(rng.uniform(p.lo, p.hi)) for n, p in check_scenario(scenario).params.items()}


def start_state(scenario: str, params: Mapping[str, float]) -> np.ndarray:
    """Each body's start position and velocity (x, y, z, vx, vy, vz), scenario frame  # [B, 6]

    ``params`` must be checked (``check_params``).
    """
    p = params
    if scenario == "drop":
        return np.array([[0.0, p["height"], 0.0, 0.0, 0.0, 0.0]])
    if scenario == "throw":
        return np.array([[0.0, p["height"], 0.0, p["vx"], p["vy"], p["vz"]]])
    if scenario == "ramp":
        a = math.radians(p["angle"])
        # The bottom face's centre sits on the slope at that height; the centre is RADIUS above
        # it along the slope's normal (sin a, cos a) in the x-y plane.
        x = -p["height"] / math.tan(a) + RADIUS * math.sin(a)
        y = p["height"] + RADIUS * math.cos(a)
        return np.array([[x, y, 0.0, p["speed"] * math.cos(a), -p["speed"] * math.sin(a), 0.0]])
    check_scenario(scenario)
    return np.array(
        [[-1.0, RADIUS, 0.0, p["speed"], 0.0, 0.0], [0.0, RADIUS, p["offset"], 0.0, 0.0, 0.0]]
    )


def condition(scenario: str, params: Mapping[str, float]) -> np.ndarray:
    """The model's condition: every ``PARAM_NAMES`` slot normalised to [-1, 1] (0 where the
    scenario has no such parameter), then the scenario's one-hot  # [len(PARAM_NAMES) + 4]

    ``params`` must be checked (``check_params``).
    """
    s = check_scenario(scenario)
    out = np.zeros(len(PARAM_NAMES) + len(SCENARIO_NAMES), np.float32)
    for i, name in enumerate(PARAM_NAMES):
        if name in s.params:
            out[i] = s.params[name].normalise(params[name])
    out[len(PARAM_NAMES) + SCENARIO_NAMES.index(scenario)] = 1.0
    return out
