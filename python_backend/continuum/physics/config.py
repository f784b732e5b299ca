"""PhysicsConfig: the simulation's settings, with documented defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass

from continuum.errors import PhysicsError

SOLVERS = ("newton", "cg", "pgs")


@dataclass(frozen=True)
class PhysicsConfig:
    """How a :class:`~continuum.physics.Simulation` steps and what it accepts.

    Attributes:
        dt: seconds per step (MuJoCo's timestep).
        publish_hz: pose frames per second on the state stream (the server's publisher reads it).
        realtime: pace stepping to the wall clock; False steps as fast as it can (benchmarks).
        max_speed: m/s; a body whose linear speed exceeds it (or whose state is NaN or infinite)
            counts as diverged and is reset. Also the bound on speeds that controls may give.
        max_angular_speed: rad/s; the same for angular speeds.
        gravity: m/s^2 in glTF world axes (+Y up).
        solver: MuJoCo's constraint solver: "cg" (the default: its cost grows with the contacts,
            so large piles stay real-time; a 10-box tower creeps under 1 mm in 5 s), "newton"
            (the stiffest stacks, but its factorisation grows much faster than the contacts:
            about 3x slower than cg at 100 bodies in a pile, 20x at 500) or "pgs".
        iterations: the solver's iteration limit per step.
        tolerance: the solver's early-exit tolerance (relative improvement).
        max_grabs: how many bodies can be grabbed at once (each grab holds one weld).
        max_lag: seconds; when real-time stepping falls further behind than this, it skips ahead
            instead of catching up in a burst.
        good_state_interval: steps between the snapshots of "last good" state that a diverged
            body is reset to.
        decomposition_threshold: CoACD's concavity threshold for "decomposition" colliders
            (smaller: more, tighter convex parts; slower).
        decomposition_max_parts: the most convex parts one decomposition may produce.
    """

    dt: float = 0.002
    publish_hz: float = 90.0
    realtime: bool = True
    max_speed: float = 100.0
    max_angular_speed: float = 1000.0
    gravity: tuple[float, float, float] = (0.0, -9.81, 0.0)
    solver: str = "cg"
    iterations: int = 30
    tolerance: float = 1e-6
    max_grabs: int = 8
    max_lag: float = 0.1
    good_state_interval: int = 25
    decomposition_threshold: float = 0.05
    decomposition_max_parts: int = 32

    def __post_init__(self) -> None:
        _positive("dt", self.dt, upper=0.1)
        _positive("publish_hz", self.publish_hz, upper=10000.0)
        _positive("max_speed", self.max_speed, upper=1e6)
        _positive("max_angular_speed", self.max_angular_speed, upper=1e7)
        _positive("max_lag", self.max_lag, upper=60.0)
        _positive("decomposition_threshold", self.decomposition_threshold, upper=1.0)
        gravity = tuple(float(g) for g in self.gravity)
        if len(gravity) != 3 or not all(math.isfinite(g) and abs(g) <= 1e3 for g in gravity):
            raise PhysicsError(
                f"PhysicsConfig.gravity must be 3 finite numbers within 1000 m/s^2, "
                f"got {self.gravity!r}"
            )
        object.__setattr__(self, "gravity", gravity)
        if self.solver not in SOLVERS:
            raise PhysicsError(
                f"PhysicsConfig.solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}"
            )
        _positive("tolerance", self.tolerance, upper=1.0, strict=False)
        for name, lo, hi in (
            ("iterations", 1, 10000),
            ("max_grabs", 0, 64),
            ("good_state_interval", 1, 100000),
            ("decomposition_max_parts", 1, 256),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise PhysicsError(
                    f"PhysicsConfig.{name} must be an int in [{lo}, {hi}], got {value!r}"
                )


def _positive(name: str, value: float, *, upper: float, strict: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > 0 if strict else value >= 0) and value <= upper
    if not ok:
        raise PhysicsError(f"PhysicsConfig.{name} must be in (0, {upper}], got {value!r}")
