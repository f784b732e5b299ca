"""Scenes built in code: the pile the benchmark and tests use."""

from __future__ import annotations

import pytest

from continuum.physics import Simulation, make_pile


def test_make_pile_bodies_start_in_contact():
    pile = make_pile(40)
    assert len(pile.entities) == 41
    with Simulation(pile) as sim:
        assert len(sim.layout()[1]) == 40
        sim.step(50)  # the layers stand 1 mm apart: 0.1 s to settle onto each other
        contacts = sim.query({"type": "contacts"})["contacts"]
        touching = {c["a"] for c in contacts} | {c["b"] for c in contacts}
        assert len(touching - {None}) >= 35
        assert sum(1 for c in contacts if c["a"] and c["b"]) >= 20  # body against body


def test_make_pile_is_deterministic_and_checks_n():
    assert make_pile(7) == make_pile(7)
    assert make_pile(0).entities[0].id == "ground"
    with pytest.raises(ValueError, match="n must be"):
        make_pile(-1)
