"""Queries: ray casts, contacts and the nearest body."""

from __future__ import annotations

import numpy as np
import pytest

from continuum.errors import EntityNotFoundError, PhysicsError
from continuum.physics import PhysicsConfig, Simulation
from tests.unit.physics.scenes import ball, box, floor, scene

ZERO_G = PhysicsConfig(gravity=(0.0, 0.0, 0.0))


@pytest.fixture
def sim():
    world = scene(
        floor(),
        box("crate", (0.0, 0.5, 0.0), size=(1.0, 1.0, 1.0)),
        ball("ball", (3.0, 1.0, 0.0), radius=0.25),
        box("shelf", (-3.0, 1.0, 0.0), body="static"),
    )
    with Simulation(world, config=ZERO_G) as sim:
        yield sim


def test_ray_hits_the_right_entity_at_the_right_point_and_normal(sim):
    hit = sim.query({"type": "ray", "origin": [0.2, 5.0, 0.1], "direction": [0, -2, 0]})
    assert hit["hit"] and hit["entity"] == "crate"
    assert np.allclose(hit["point"], [0.2, 1.0, 0.1])
    assert np.allclose(hit["normal"], [0, 1, 0])
    assert hit["distance"] == pytest.approx(4.0)
    hit = sim.query({"type": "ray", "origin": [0.0, 1.0, 0.0], "direction": [1, 0, 0]})
    # From inside the crate the first surface outward is the ball's (the crate is convex).
    assert hit["entity"] == "ball"
    assert np.allclose(hit["point"], [2.75, 1.0, 0.0])
    assert np.allclose(hit["normal"], [-1, 0, 0], atol=1e-6)
    side = sim.query({"type": "ray", "origin": [3.0, 1.0, 5.0], "direction": [0, 0, -1]})
    assert side["entity"] == "ball" and np.allclose(side["normal"], [0, 0, 1], atol=1e-6)


def test_ray_on_static_geometry_and_into_nothing(sim):
    down = sim.query({"type": "ray", "origin": [5.0, 2.0, 5.0], "direction": [0, -1, 0]})
    assert down["hit"] and down["entity"] is None  # the floor is static geometry
    assert np.allclose(down["point"], [5.0, 0.0, 5.0])
    shelf = sim.query({"type": "ray", "origin": [-3.0, 5.0, 0.0], "direction": [0, -1, 0]})
    assert shelf["hit"] and shelf["entity"] is None and shelf["point"][1] == pytest.approx(1.1)
    up = sim.query({"type": "ray", "origin": [5.0, 2.0, 5.0], "direction": [0, 1, 0]})
    assert up == {"hit": False, "entity": None, "point": None, "normal": None, "distance": None}
    short = sim.query(
        {"type": "ray", "origin": [0.0, 5.0, 0.0], "direction": [0, -1, 0], "max_distance": 1.0}
    )
    assert not short["hit"]


def test_contacts_list_and_filter():
    world = scene(floor(), box("crate", (0, 0.1, 0)), ball("ball", (0, 0.3, 0), radius=0.1))
    with Simulation(world) as sim:
        sim.step(100)
        contacts = sim.query({"type": "contacts"})["contacts"]
        pairs = {frozenset((c["a"], c["b"])) for c in contacts}
        assert pairs == {frozenset((None, "crate")), frozenset(("crate", "ball"))}
        for c in contacts:
            assert abs(c["normal"][1]) == pytest.approx(1.0, abs=1e-4)  # along the vertical
            assert -1e-3 < c["depth"] < 5e-3
        ball_contacts = sim.query({"type": "contacts", "entity": "ball"})["contacts"]
        assert len(ball_contacts) == 1
        c = ball_contacts[0]
        assert np.allclose(c["point"], [0, 0.2, 0], atol=2e-3)
        # The normal points from a to b.
        sign = 1 if c["a"] == "crate" else -1
        assert np.allclose(c["normal"], [0, sign, 0], atol=1e-4)
        with pytest.raises(EntityNotFoundError):
            sim.query({"type": "contacts", "entity": "ghost"})


def test_nearest_body_within_a_radius(sim):
    near = sim.query({"type": "nearest", "point": [3.0, 1.35, 0.0], "radius": 0.5})
    assert near["entity"] == "ball" and near["distance"] == pytest.approx(0.1, abs=1e-4)
    inside = sim.query({"type": "nearest", "point": [0.1, 0.5, 0.0], "radius": 0.05})
    assert inside == {"entity": "crate", "distance": 0.0}
    far = sim.query({"type": "nearest", "point": [3.0, 1.35, 0.0], "radius": 0.05})
    assert far == {"entity": None, "distance": None}
    # Static bodies are not grabbable, so never the nearest.
    shelf = sim.query({"type": "nearest", "point": [-3.0, 1.2, 0.0], "radius": 0.2})
    assert shelf["entity"] is None


@pytest.mark.parametrize(
    ("q", "field"),
    [
        ({"type": "ray", "origin": [0, 0, 0], "direction": [0, 0, 0]}, "ray.direction"),
        ({"type": "ray", "origin": [0, float("nan"), 0], "direction": [0, 1, 0]}, "ray.origin"),
        (
            {"type": "ray", "origin": [0, 0, 0], "direction": [0, 1, 0], "max_distance": -1},
            "ray.max_distance",
        ),
        ({"type": "nearest", "point": [0, 0, 0], "radius": 1e9}, "nearest.radius"),
        ({"type": "nearest", "point": [0, 0], "radius": 1}, "nearest.point"),
        ({"type": "contacts", "entity": 7}, "contacts.entity"),
        ({"type": "telepathy"}, "type must be one of"),
    ],
)
def test_bad_queries_name_the_field(sim, q, field):
    with pytest.raises(PhysicsError, match=field.replace(".", r"\.")):
        sim.query(q)
