"""Divergence: NaN or runaway bodies are found, only they are reset, and an event says so."""

from __future__ import annotations

import time

import numpy as np
import pytest

from continuum.physics import PhysicsConfig, Simulation
from continuum.physics._state import TimedForce
from tests.unit.physics.scenes import DT, ball, exact_state, floor, position, scene


def _world():
    return scene(floor(), ball("a", (-2.0, 1.0, 0.0)), ball("b", (2.0, 1.5, 0.0), restitution=0.5))


def _spoil(sim: Simulation, entity: str, value: float) -> None:
    """The test hook: write a body's velocity directly, as a numerical blow-up would."""

    def write(state):
        body = state.index.body[entity]
        _, dadr = state.index.free[body]
        state.data.qvel[dadr : dadr + 3] = value

    sim._run(write)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e4])
def test_a_diverged_body_is_reset_alone_and_reported(value):
    with Simulation(_world()) as reference:
        reference.step(400)
        expected_b = exact_state(reference, ["b"])["b"]
    events = []
    with Simulation(_world()) as sim:
        sim.add_listener(events.append)
        sim.step(100)  # a's last good state is from step 100 (every 25 steps)
        good_a = position(sim, "a")
        _spoil(sim, "a", value)
        assert len(events) == 1
        event = events[0]
        assert event.kind == "diverged" and event.entities == ["a"]
        assert event.sim_time == pytest.approx(100 * DT)
        assert "'a'" not in event.message and "a:" in event.message
        assert np.allclose(position(sim, "a"), good_a, atol=1e-6)  # its last good pose
        state_a = exact_state(sim, ["a"])["a"]
        assert np.array_equal(state_a[7:], np.zeros(6))  # at rest
        sim.step(300)
        # b went on as if nothing happened.
        assert np.abs(exact_state(sim, ["b"])["b"] - expected_b).max() <= 1e-9
        assert np.isfinite(sim.poses().poses).all()


def test_an_absurd_force_is_caught_within_a_step():
    events = []
    with Simulation(_world()) as sim:
        sim.add_listener(events.append)
        sim.step(10)
        sim._run(
            lambda state: state.forces.append(TimedForce("b", np.array([1e12, 0, 0]), None, 5))
        )
        sim.step(1)
        assert [e.entities for e in events] == [["b"]]
        assert "over the limit" in events[0].message
        sim.step(10)
        assert len(events) == 1  # the force went with the reset
        assert np.allclose(position(sim, "b")[[0, 2]], [2.0, 0.0])


def test_a_repeat_offender_goes_back_to_its_initial_pose():
    events = []
    with Simulation(_world()) as sim:
        sim.add_listener(events.append)
        sim.step(200)
        _spoil(sim, "a", float("nan"))
        sim.step(10)
        _spoil(sim, "a", float("nan"))
        assert len(events) == 2 and "initial" in events[1].message
        assert np.allclose(position(sim, "a"), [-2.0, 1.0, 0.0], atol=1e-6)


def test_divergence_while_running_reaches_the_listener():
    events = []
    with Simulation(_world(), config=PhysicsConfig(realtime=False)) as sim:
        sim.add_listener(events.append)
        sim.start()
        time.sleep(0.02)
        _spoil(sim, "b", 1e6)
        deadline = time.perf_counter() + 2.0
        while not events and time.perf_counter() < deadline:
            time.sleep(0.005)
        assert events and events[0].entities == ["b"]
        at = sim.step_count
        time.sleep(0.02)
        assert sim.step_count > at
