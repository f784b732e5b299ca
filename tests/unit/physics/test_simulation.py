"""The simulation: free fall and bounces measured, determinism, edits that leave the other bodies
alone, pause / resume / step, real-time pacing and the stepping thread."""

from __future__ import annotations

import time

import numpy as np
import pytest

from continuum.errors import EntityNotFoundError, PhysicsError
from continuum.physics import PhysicsConfig, Simulation, make_pile
from tests.unit.physics.scenes import DT, G, ball, exact_state, floor, position, scene


def test_a_dropped_ball_follows_free_fall_until_contact():
    with Simulation(scene(floor(), ball("ball", (0.0, 2.0, 0.0), mass=1.0))) as sim:
        for k in range(1, 301):  # 0.6 s: 1.77 m of fall, before the ball reaches the floor
            sim.step()
            t = sim.sim_time
            assert t == k * DT
            drop = 2.0 - position(sim, "ball")[1]
            # Semi-implicit Euler lags g t^2 / 2 by exactly g t dt / 2.
            assert abs(drop - G * t * t / 2) <= 0.5 * G * t * DT + 1e-5
        assert np.allclose(position(sim, "ball")[[0, 2]], 0.0)


def _bounce_height(restitution: float, drop: float = 1.0, radius: float = 0.1) -> float:
    """The highest point of the ball's centre above its resting height after the first bounce."""
    world = scene(floor(), ball("ball", (0.0, radius + drop, 0.0), radius, restitution=restitution))
    with Simulation(world) as sim:
        heights = []
        for _ in range(900):  # 1.8 s: the fall takes 0.45 s, a full rebound at most 0.9 s more
            sim.step()
            heights.append(position(sim, "ball")[1] - radius)
    heights = np.array(heights)
    first_contact = int(np.argmax(heights < 0.01))
    bottom = first_contact + int(np.argmin(heights[first_contact : first_contact + 100]))
    return float(heights[bottom:].max())


def test_raising_restitution_raises_the_bounce():
    heights = {e: _bounce_height(e) for e in (0.0, 0.3, 0.5, 0.8)}
    assert heights[0.0] < 0.01  # a dead ball stays down
    assert heights[0.0] < heights[0.3] < heights[0.5] < heights[0.8]
    # The bounce keeps about e^2 of the drop height (soft contacts add a few per cent).
    for e in (0.5, 0.8):
        assert heights[e] == pytest.approx(e * e, abs=0.08)


def test_the_same_inputs_give_bitwise_the_same_poses():
    def run() -> np.ndarray:
        with Simulation(make_pile(12)) as sim:
            sim.step(100)
            sim.control({"op": "impulse", "entity": "body-3", "impulse": [1.0, 2.0, 0.5]})
            sim.step(100)
            sim.control({"op": "set", "entity": "body-5", "restitution": 0.7, "mass": 3.0})
            sim.step(100)
            return sim.poses().poses.copy()

    first, second = run(), run()
    assert np.array_equal(first, second)


# Three balls far apart that bounce on the floor but never touch each other.
def _three(*ids: str):
    spots = {"a": (-3.0, 1.0, 0.0), "b": (0.0, 1.5, 0.0), "c": (3.0, 0.7, 0.5)}
    return [ball(i, spots[i], restitution=0.6, mass=1.0) for i in ids]


def _trajectories(sim: Simulation, ids: list[str], steps: int) -> list[dict]:
    out = []
    for _ in range(steps):
        sim.step()
        out.append(exact_state(sim, ids))
    return out


def _same(run_a: list[dict], run_b: list[dict], ids: list[str]) -> float:
    return max(
        float(np.abs(a[i] - b[i]).max()) for a, b in zip(run_a, run_b, strict=True) for i in ids
    )


def test_removing_a_body_leaves_the_others_trajectories_unchanged():
    with Simulation(scene(floor(), *_three("a", "c"))) as reference:
        expected = _trajectories(reference, ["a", "c"], 600)
    with Simulation(scene(floor(), *_three("a", "b", "c"))) as sim:
        got = _trajectories(sim, ["a", "c"], 250)  # b bounces too, then goes
        version = sim.layout()[0]
        sim.remove_entity("b")
        assert sim.layout() == (version + 1, ["a", "c"])
        got += _trajectories(sim, ["a", "c"], 350)
    assert _same(got, expected, ["a", "c"]) <= 1e-9


def test_adding_and_modifying_while_running_keeps_the_others_state():
    with Simulation(scene(floor(), *_three("a", "c"))) as reference:
        expected = _trajectories(reference, ["a", "c"], 600)
    with Simulation(scene(floor(), *_three("a", "c"))) as sim:
        got = _trajectories(sim, ["a", "c"], 200)
        sim.add_entity(_three("b")[0])
        assert sim.layout()[1] == ["a", "c", "b"]
        got += _trajectories(sim, ["a", "c"], 200)
        before = exact_state(sim, ["b"])["b"]
        sim.modify_entity("b", {"friction": 0.1, "restitution": 0.9})
        assert np.array_equal(exact_state(sim, ["b"])["b"], before)  # b keeps its own state
        got += _trajectories(sim, ["a", "c"], 200)
    assert _same(got, expected, ["a", "c"]) <= 1e-9


def test_modify_can_change_the_body_type_and_keeps_its_pose():
    with Simulation(scene(floor(), ball("b", (0.0, 2.0, 0.0)))) as sim:
        sim.step(100)
        here = position(sim, "b")
        sim.modify_entity("b", {"body": "kinematic"})
        sim.step(100)
        assert np.allclose(position(sim, "b"), here, atol=1e-6)  # it no longer falls
        sim.modify_entity("b", {"body": "static"})
        assert sim.layout()[1] == []
        with pytest.raises(PhysicsError, match="restitution"):
            sim.modify_entity("b", {"restitution": 7})


def test_bad_edits_change_nothing():
    with Simulation(scene(floor(), ball("a", (0.0, 1.0, 0.0)))) as sim:
        layout = sim.layout()
        with pytest.raises(PhysicsError, match="already"):
            sim.add_entity(ball("a", (1.0, 1.0, 0.0)))
        with pytest.raises(PhysicsError, match="parent"):
            sim.add_entity(ball("x", (1.0, 1.0, 0.0), parent="nobody"))
        with pytest.raises(PhysicsError, match="restitution"):
            sim.add_entity(ball("y", (1.0, 1.0, 0.0), restitution=-1))
        with pytest.raises(EntityNotFoundError):
            sim.remove_entity("nobody")
        with pytest.raises(EntityNotFoundError):
            sim.modify_entity("nobody", {"mass": 1})
        assert sim.layout() == layout
        sim.step(10)


def test_edits_while_the_thread_runs():
    config = PhysicsConfig(realtime=False)
    with Simulation(scene(floor(), *_three("a", "c")), config=config) as sim:
        sim.start()
        time.sleep(0.05)
        sim.add_entity(_three("b")[0])
        assert "b" in sim.layout()[1]
        sim.modify_entity("b", {"mass": 2.0})
        sim.control({"op": "impulse", "entity": "b", "impulse": [0.0, 3.0, 0.0]})
        sim.remove_entity("a")
        assert sim.layout()[1] == ["c", "b"]
        start = sim.step_count
        time.sleep(0.05)
        assert sim.step_count > start  # still stepping


def test_pause_resume_and_step_advance_by_exactly_n_steps():
    with Simulation(scene(floor(), ball("ball", (0.0, 1.0, 0.0)))) as sim:
        sim.start()
        time.sleep(0.05)
        sim.pause()
        assert sim.paused
        paused_at = sim.step_count
        time.sleep(0.05)
        assert sim.step_count == paused_at
        sim.step(7)
        assert sim.step_count == paused_at + 7
        assert sim.sim_time == (paused_at + 7) * DT
        assert sim.poses().step == paused_at + 7
        sim.control({"op": "step", "count": 3})
        assert sim.step_count == paused_at + 10
        sim.resume()
        with pytest.raises(PhysicsError, match="pause it first"):
            sim.step()
        time.sleep(0.05)
        assert sim.step_count > paused_at + 10


def test_stepping_keeps_pace_with_the_wall_clock():
    with Simulation(scene(floor(), ball("ball", (0.0, 1.0, 0.0)))) as sim:
        sim.start()
        time.sleep(0.2)  # warm up
        t0, s0 = time.perf_counter(), sim.sim_time
        time.sleep(1.0)
        wall, simulated = time.perf_counter() - t0, sim.sim_time - s0
    assert 0.7 * wall <= simulated <= 1.1 * wall


def test_unpaced_stepping_runs_ahead_of_the_clock():
    with Simulation(
        scene(floor(), ball("ball", (0.0, 1.0, 0.0))), config=PhysicsConfig(realtime=False)
    ) as sim:
        sim.start()
        t0 = time.perf_counter()
        time.sleep(0.3)
        assert sim.sim_time > 2 * (time.perf_counter() - t0)


def test_close_stops_the_thread_and_calls_still_work():
    sim = Simulation(scene(floor(), ball("ball", (0.0, 1.0, 0.0))))
    sim.start()
    with pytest.raises(PhysicsError, match="already started"):
        sim.start()
    sim.close()
    sim.close()
    at = sim.step_count
    time.sleep(0.02)
    assert sim.step_count == at
    sim.step(2)  # runs in the caller's thread now
    assert sim.step_count == at + 2
    with pytest.raises(PhysicsError, match="closed"):
        sim.start()


def test_config_is_checked():
    for bad in (
        {"dt": 0},
        {"solver": "magic"},
        {"gravity": (0, float("nan"), 0)},
        {"iterations": 0},
    ):
        with pytest.raises(PhysicsError):
            PhysicsConfig(**bad)
    with pytest.raises(PhysicsError, match="PhysicsConfig"):
        Simulation(scene(), config={"dt": 0.01})
