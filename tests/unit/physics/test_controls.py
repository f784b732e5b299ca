"""Controls: teleport, grab / move / release (throw), impulses, timed forces, live parameters and
gravity, and bad input that is refused while the simulation keeps running."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from continuum.errors import EntityNotFoundError, PhysicsError
from continuum.physics import PhysicsConfig, Simulation
from tests.unit.physics.scenes import DT, G, ball, box, floor, position, scene, velocity

ZERO_G = PhysicsConfig(gravity=(0.0, 0.0, 0.0))


def test_teleport_sets_pose_and_velocity_at_once():
    with Simulation(scene(floor(), box("box", (0, 0.1, 0)))) as sim:
        quarter = [0.0, math.sin(math.pi / 8), 0.0, math.cos(math.pi / 8)]
        result = sim.control(
            {"op": "teleport", "entity": "box", "position": [1, 2, 3], "rotation": quarter}
        )
        assert result == {"sim_time": 0.0, "step": 0}
        frame = sim.poses()  # the next snapshot shows it, before any step
        assert np.allclose(frame.poses[0, :3], [1, 2, 3])
        assert np.allclose(np.abs(frame.poses[0, 3:] @ np.array(quarter)), 1.0, atol=1e-6)
        sim.control(
            {"op": "teleport", "entity": "box", "position": [0, 5, 0], "velocity": [1, 0, -2]}
        )
        assert np.allclose(frame.poses[0, 3:], sim.poses().poses[0, 3:])  # rotation unchanged
        sim.step()
        assert np.allclose(velocity(sim, "box"), [1, -G * DT, -2])


def test_grab_holds_the_body_to_the_target_and_follows_moves():
    with Simulation(scene(floor(), box("box", (0, 0.1, 0), mass=2.0))) as sim:
        sim.step(10)
        start = position(sim, "box")
        target = (start + np.array([0, 0.5, 0])).tolist()
        result = sim.control({"op": "grab", "entity": "box", "target": {"position": target}})
        assert result["grab"] == "box"
        sim.step(500)
        assert np.allclose(position(sim, "box"), target, atol=0.01)  # lifted against gravity
        target = (start + np.array([0.4, 0.6, -0.2])).tolist()
        sim.control({"op": "move", "entity": "box", "target": {"position": target}})
        sim.step(500)
        assert np.allclose(position(sim, "box"), target, atol=0.01)
        # Grabbed at a point off the centre: that point is held, and turning the target turns it.
        sim.control({"op": "release", "entity": "box"})
        with pytest.raises(PhysicsError, match="not grabbed"):
            sim.control({"op": "move", "entity": "box", "target": {"position": target}})


def test_a_thrown_body_leaves_with_the_given_velocity():
    with Simulation(scene(floor(), ball("ball", (0, 1, 0), mass=0.5))) as sim:
        here = position(sim, "ball").tolist()
        sim.control({"op": "grab", "entity": "ball", "target": {"position": here}})
        sim.step(50)
        sim.control(
            {
                "op": "release",
                "entity": "ball",
                "velocity": [3.0, 2.0, -1.0],
                "angular_velocity": [0, 5, 0],
            }
        )
        assert np.allclose(velocity(sim, "ball"), [3.0, 2.0, -1.0])
        before = position(sim, "ball")
        sim.step()
        moved = (position(sim, "ball") - before) / DT
        assert np.allclose(moved, [3.0, 2.0 - G * DT, -1.0], atol=1e-3)


def test_grab_a_point_off_centre_and_turn_the_target():
    with Simulation(scene(box("bar", (0, 1, 0), size=(1.0, 0.1, 0.1))), config=ZERO_G) as sim:
        end = [0.5, 1.0, 0.0]
        sim.control(
            {
                "op": "grab",
                "entity": "bar",
                "point": end,
                "target": {"position": end, "rotation": [0, 0, 0, 1]},
            }
        )
        turn = [0.0, math.sin(math.pi / 4), 0.0, math.cos(math.pi / 4)]  # a quarter turn about +Y
        sim.control({"op": "move", "entity": "bar", "target": {"position": end, "rotation": turn}})
        sim.step(1000)
        # The held end stays put; the bar turns round it: its centre goes from -X to +Z of it.
        assert np.allclose(position(sim, "bar"), [0.5, 1.0, 0.5], atol=0.01)


def test_grab_slots_are_limited():
    balls = [ball(f"b{i}", (i, 1, 0)) for i in range(3)]
    with Simulation(scene(*balls), config=PhysicsConfig(max_grabs=2)) as sim:
        for i in range(2):
            sim.control({"op": "grab", "entity": f"b{i}", "target": {"position": [i, 1, 0]}})
        with pytest.raises(PhysicsError, match="grab slots"):
            sim.control({"op": "grab", "entity": "b2", "target": {"position": [2, 1, 0]}})
        sim.control({"op": "grab", "entity": "b0", "target": {"position": [0, 2, 0]}})  # re-grab
        sim.control({"op": "release", "entity": "b1"})
        sim.control({"op": "grab", "entity": "b2", "target": {"position": [2, 1, 0]}})


def test_a_kinematic_body_is_moved_by_grabs_and_teleports_only():
    with Simulation(scene(floor(), box("lift", (0, 1, 0), body="kinematic"))) as sim:
        sim.step(100)
        assert np.allclose(position(sim, "lift"), [0, 1, 0])
        sim.control({"op": "grab", "entity": "lift", "target": {"position": [0, 1, 0]}})
        sim.control({"op": "move", "entity": "lift", "target": {"position": [0, 1.5, 0.5]}})
        assert np.allclose(position(sim, "lift"), [0, 1.5, 0.5])
        sim.control({"op": "teleport", "entity": "lift", "position": [2, 1, 0]})
        assert np.allclose(position(sim, "lift"), [2, 1, 0])
        with pytest.raises(PhysicsError, match="kinematic"):
            sim.control({"op": "impulse", "entity": "lift", "impulse": [1, 0, 0]})


def test_impulse_changes_momentum_by_impulse():
    with Simulation(scene(ball("ball", (0, 1, 0), mass=2.0)), config=ZERO_G) as sim:
        sim.control({"op": "impulse", "entity": "ball", "impulse": [1.0, 0.0, 0.5]})
        assert np.allclose(velocity(sim, "ball"), [0.5, 0.0, 0.25])  # impulse / mass
        # Off the centre: the same change of momentum, plus a spin.
        sim.control(
            {
                "op": "impulse",
                "entity": "ball",
                "impulse": [0.0, 2.0, 0.0],
                "point": [0.1, 1.0, 0.0],
            }
        )
        assert np.allclose(velocity(sim, "ball"), [0.5, 1.0, 0.25])
        before = position(sim, "ball")
        sim.step(100)
        assert np.allclose(
            position(sim, "ball") - before, np.array([0.5, 1.0, 0.25]) * 100 * DT, atol=1e-4
        )


def test_force_acts_for_its_duration():
    with Simulation(scene(ball("ball", (0, 1, 0), mass=1.0)), config=ZERO_G) as sim:
        sim.control({"op": "force", "entity": "ball", "force": [2.0, 0.0, 0.0], "duration": 0.1})
        sim.step(50)  # the force acts over these 50 steps
        assert np.allclose(velocity(sim, "ball"), [0.2, 0, 0], atol=1e-9)
        sim.step(100)  # then it is gone
        assert np.allclose(velocity(sim, "ball"), [0.2, 0, 0], atol=1e-9)
        assert position(sim, "ball")[0] == pytest.approx(0.5 * 2.0 * 0.1**2 + 0.2 * 0.2, abs=1e-3)


def test_set_mass_changes_the_response_to_an_impulse():
    with Simulation(scene(ball("ball", (0, 1, 0), mass=1.0)), config=ZERO_G) as sim:
        sim.control({"op": "set", "entity": "ball", "mass": 4.0})
        sim.control({"op": "impulse", "entity": "ball", "impulse": [1.0, 0.0, 0.0]})
        assert np.allclose(velocity(sim, "ball"), [0.25, 0, 0])


def test_set_friction_decides_whether_a_sliding_box_stops():
    # A contact takes the larger friction of its two bodies: on ice, the box's own decides.
    slides = {}
    for friction in (0.0, 1.0):
        with Simulation(scene(floor(friction=0.0), box("box", (0, 0.1, 0), friction=0.5))) as sim:
            sim.step(50)
            sim.control({"op": "set", "entity": "box", "friction": friction})
            sim.control(
                {
                    "op": "teleport",
                    "entity": "box",
                    "position": position(sim, "box").tolist(),
                    "velocity": [2.0, 0, 0],
                }
            )
            sim.step(500)
            slides[friction] = position(sim, "box")[0]
    assert slides[0.0] == pytest.approx(2.0, abs=0.05)  # no friction: 1 s at 2 m/s
    assert slides[1.0] < 0.3  # stops within 2^2 / (2 g) = 0.2 m


def test_set_restitution_live_raises_the_bounce():
    peaks = {}
    for restitution in (0.0, 0.8):
        with Simulation(scene(floor(), ball("ball", (0, 1.1, 0)))) as sim:
            sim.control({"op": "set", "entity": "ball", "restitution": restitution})
            top = 0.0
            for _ in range(600):
                sim.step()
                if sim.step_count > 300:  # after the first contact (about 0.45 s)
                    top = max(top, position(sim, "ball")[1])
            peaks[restitution] = top
    assert peaks[0.0] < 0.12 < 0.5 < peaks[0.8]


def test_set_gravity_live():
    with Simulation(scene(ball("ball", (0, 1, 0)))) as sim:
        sim.control({"op": "set", "gravity": [0.0, 0.0, 0.0]})
        sim.step(100)
        assert position(sim, "ball")[1] == pytest.approx(1.0)
        sim.control({"op": "set", "gravity": [0.0, 9.81, 0.0]})  # upwards
        sim.step(100)
        assert position(sim, "ball")[1] > 1.1
        sim.add_entity(ball("other", (5, 1, 0)))  # a recompile keeps live settings
        sim.step(100)
        assert position(sim, "other")[1] > 1.1


def test_live_parameters_survive_edits():
    with Simulation(scene(ball("ball", (0, 1, 0), mass=1.0)), config=ZERO_G) as sim:
        sim.control({"op": "set", "entity": "ball", "mass": 4.0})
        sim.add_entity(ball("other", (3, 1, 0)))
        sim.control({"op": "impulse", "entity": "ball", "impulse": [1.0, 0.0, 0.0]})
        assert np.allclose(velocity(sim, "ball"), [0.25, 0, 0])
        sim.modify_entity("ball", {"mass": 2.0})  # the authored mass replaces the live one
        sim.control({"op": "impulse", "entity": "ball", "impulse": [1.0, 0.0, 0.0]})
        assert np.allclose(velocity(sim, "ball"), [0.75, 0, 0])


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ({"op": "teleport", "entity": "ball", "position": [NAN, 0, 0]}, "teleport.position"),
        ({"op": "teleport", "entity": "ball", "position": [0, INF, 0]}, "teleport.position"),
        ({"op": "teleport", "entity": "ball", "position": [1e9, 0, 0]}, "teleport.position"),
        ({"op": "teleport", "entity": "ball", "position": [0, 0]}, "teleport.position"),
        (
            {"op": "teleport", "entity": "ball", "position": [0, 0, 0], "rotation": [0, 0, 0, 0]},
            "teleport.rotation",
        ),
        (
            {"op": "teleport", "entity": "ball", "position": [0, 0, 0], "velocity": [1e3, 0, 0]},
            "teleport.velocity",
        ),
        ({"op": "teleport", "entity": "ball", "position": ["a", 0, 0]}, "teleport.position"),
        ({"op": "teleport", "entity": "ball", "position": [True, 0, 0]}, "teleport.position"),
        ({"op": "teleport", "position": [0, 0, 0]}, "teleport.entity"),
        ({"op": "impulse", "entity": "ball", "impulse": [1e5, 0, 0]}, "impulse.impulse"),
        ({"op": "impulse", "entity": "ball", "impulse": [NAN, 0, 0]}, "impulse.impulse"),
        ({"op": "force", "entity": "ball", "force": [1, 0, 0], "duration": 0}, "force.duration"),
        ({"op": "force", "entity": "ball", "force": [1e9, 0, 0], "duration": 1}, "force.force"),
        ({"op": "set", "entity": "ball", "mass": -1}, "set.mass"),
        ({"op": "set", "entity": "ball", "restitution": 2}, "set.restitution"),
        ({"op": "set", "entity": "ball", "friction": NAN}, "set.friction"),
        ({"op": "set", "entity": "ball"}, "set needs"),
        ({"op": "set", "gravity": [0, -1e6, 0]}, "set.gravity"),
        ({"op": "grab", "entity": "ball", "target": [0, 0, 0]}, "grab.target"),
        ({"op": "step", "count": 0}, "step.count"),
        ({"op": "explode"}, "op must be one of"),
        ("teleport", "a control must be an object"),
    ],
)
def test_bad_controls_name_the_field_and_change_nothing(op, field):
    with Simulation(scene(floor(), ball("ball", (0, 1, 0)))) as sim:
        sim.step(10)
        before = sim.poses().poses.copy()
        with pytest.raises(PhysicsError, match=field.replace(".", r"\.")) as info:
            sim.control(op)
        assert info.value.code == "bad_request"
        assert np.array_equal(sim.poses().poses, before)


def test_unknown_entities_and_impossible_ops_while_running():
    with Simulation(
        scene(floor(), ball("ball", (0, 1, 0)), box("wall", (2, 0.5, 0), body="static"))
    ) as sim:
        sim.start()
        with pytest.raises(EntityNotFoundError) as info:
            sim.control({"op": "impulse", "entity": "ghost", "impulse": [1, 0, 0]})
        assert info.value.code == "not_found"
        with pytest.raises(PhysicsError, match="static"):
            sim.control({"op": "teleport", "entity": "wall", "position": [0, 0, 0]})
        with pytest.raises(PhysicsError, match="too fast"):
            sim.control({"op": "impulse", "entity": "ball", "impulse": [1e4, 0, 0]})
        with pytest.raises(PhysicsError, match="not grabbed"):
            sim.control({"op": "release", "entity": "ball"})
        at = sim.step_count
        time.sleep(0.05)
        assert sim.step_count > at  # it kept running
        assert np.isfinite(sim.poses().poses).all()
