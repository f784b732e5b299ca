"""Simulation.save_state / load_state / replay: restoring continues bitwise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from continuum.errors import PhysicsError
from continuum.physics import PhysicsConfig, Simulation
from tests.unit.physics.scenes import ball, box, floor, scene

CONFIG = PhysicsConfig(realtime=False)
IDS = ["a", "b", "c", "d"]


def pile():
    return scene(
        floor(),
        box("a", (0.0, 0.1, 0.0)),
        box("b", (0.05, 0.35, 0.02)),
        ball("c", (0.3, 0.6, 0.0)),
        ball("d", (-0.2, 0.9, 0.1), mass=2.0),
    )


def controls_at(step: int) -> list[dict]:
    """The controls of the scripted run, applied when the step count is ``step``."""
    return {
        40: [{"op": "impulse", "entity": "c", "impulse": [-0.3, 0.5, 0.1]}],
        120: [{"op": "grab", "entity": "d", "target": {"position": [0.0, 1.0, 0.0]}}],
        200: [{"op": "move", "entity": "d", "target": {"position": [0.3, 0.8, 0.1]}}],
        300: [
            {"op": "teleport", "entity": "a", "position": [0.0, 0.6, 0.05], "velocity": [0, 0, 1]},
            {"op": "force", "entity": "b", "force": [2.0, 0.0, 0.0], "duration": 0.1},
        ],
        380: [{"op": "release", "entity": "d", "velocity": [0.5, 0.0, 0.0]}],
        420: [{"op": "set", "entity": "c", "friction": 0.2, "restitution": 0.5}],
    }.get(step, [])


def run(sim: Simulation, start: int, stop: int) -> None:
    for step in range(start, stop):
        for op in controls_at(step):
            assert sim.control(op)["step"] == step
        sim.step()


def test_round_trip_continues_bitwise():
    with Simulation(pile(), config=CONFIG) as a:
        a.step(500)
        want = a.poses()
    with Simulation(pile(), config=CONFIG) as b:
        b.step(250)
        saved = json.loads(json.dumps(b.save_state()))  # survives JSON
    with Simulation(pile(), config=CONFIG) as c:
        c.load_state(saved)
        assert c.step_count == 250 and c.sim_time == saved["sim_time"]
        c.step(250)
        got = c.poses()
    assert got.step == want.step == 500 and got.ids == want.ids
    assert np.array_equal(got.poses.view(np.uint32), want.poses.view(np.uint32))


def test_logged_controls_replay_bitwise_from_a_mid_run_snapshot():
    with Simulation(pile(), config=CONFIG, record_controls=True) as live:
        run(live, 0, 250)  # an impulse, a grab and a move before the snapshot
        saved = live.save_state()
        n = len(live.control_log)
        run(live, 250, 500)  # a teleport, a force, a release and a set after it
        want = live.poses()
        log = live.control_log[n:]
    assert [s for s, _ in log] == [300, 300, 380, 420]
    with Simulation(pile(), config=CONFIG) as again:
        again.load_state(json.loads(json.dumps(saved)))
        got = again.replay(500, json.loads(json.dumps(log)))
    assert np.array_equal(got.poses.view(np.uint32), want.poses.view(np.uint32))


def test_a_state_of_another_scene_is_refused():
    with Simulation(pile(), config=CONFIG) as sim:
        saved = sim.save_state()
    other = scene(floor(), box("a", (0.0, 0.1, 0.0)), ball("z", (0.0, 1.0, 0.0)))
    with Simulation(other, config=CONFIG) as sim:
        before = sim.save_state()
        with pytest.raises(PhysicsError, match="another model"):
            sim.load_state(saved)
        assert sim.save_state() == before
        with pytest.raises(PhysicsError, match="save_state"):
            sim.load_state({"step": 3})


def test_replay_refuses_controls_out_of_range():
    with Simulation(pile(), config=CONFIG) as sim:
        sim.step(10)
        with pytest.raises(PhysicsError, match="behind"):
            sim.replay(5, [])
        with pytest.raises(PhysicsError, match=r"\[10, 20\]"):
            sim.replay(20, [(3, {"op": "impulse", "entity": "c", "impulse": [0, 1, 0]})])
        with pytest.raises(PhysicsError, match="pause, resume and step"):
            sim.replay(20, [(12, {"op": "step", "count": 3})])
        assert sim.step_count == 10


def test_save_and_load_while_running_happen_between_steps():
    with Simulation(pile(), config=CONFIG) as sim:
        sim.start()
        saved = sim.save_state()
        sim.load_state(saved)  # back in time, between two steps
        sim.pause()
        assert sim.step_count >= saved["step"]
        again = sim.save_state()
    with Simulation(pile(), config=CONFIG) as check:
        check.load_state(saved)
        if again["step"] > saved["step"]:
            check.step(again["step"] - saved["step"])
        assert check.step_count == again["step"]
        assert check.save_state()["integration"] == again["integration"]
