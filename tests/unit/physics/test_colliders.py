"""Mesh colliders: convex hulls, CoACD decompositions, and degenerate meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from continuum.errors import PhysicsError
from continuum.physics import PhysicsConfig, Simulation, body_entity, convex_hull
from continuum.physics.colliders import file_stamp, load_collision_mesh, mesh_parts
from tests.unit.physics.scenes import ball, floor, scene

# A torus lying flat (its axis on glTF +Y): a hull fills its hole, a decomposition keeps it open.
TORUS = trimesh.creation.torus(
    major_radius=0.3, minor_radius=0.08, major_sections=24, minor_sections=12
)
TORUS.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
FAST = {"decomposition_threshold": 0.1, "decomposition_max_parts": 16}
CUBE = {"type": "box", "size": [1, 1, 1]}


@pytest.fixture(scope="module")
def torus_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torus")
    TORUS.export(folder / "torus.obj")
    return folder


def test_hull_of_a_box_has_its_volume():
    part = convex_hull(trimesh.creation.box([1.0, 2.0, 0.5]).vertices)
    assert part.volume == pytest.approx(1.0)
    assert part.vertices.shape[1] == 3 and part.faces.shape[1] == 3


@pytest.mark.parametrize(
    "points",
    [
        np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0.5, 0.5, 0]], float),  # flat
        np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], float),  # a line
        np.array([[0, 0, 0], [1, 0, 0]], float),  # too few
        np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, np.nan]], float),  # not finite
    ],
)
def test_degenerate_points_are_refused_with_a_clear_error(points):
    with pytest.raises(PhysicsError, match="degenerate"):
        convex_hull(points)


def test_decomposition_of_a_torus_gives_several_convex_parts(torus_folder):
    path = (torus_folder / "torus.obj").resolve()
    # The cache key the simulation below uses too (FAST settings, unit scale).
    parts = mesh_parts(path, file_stamp(path), (1.0, 1.0, 1.0), "decomposition", 0.1, 16)
    assert len(parts) >= 4
    total = sum(p.volume for p in parts)
    hull = convex_hull(TORUS.vertices).volume
    # The parts cover the ring, not its hole: much less than the hull's volume.
    assert TORUS.volume * 0.8 < total < 0.75 * hull


def test_a_ball_falls_through_a_decomposed_torus_but_rests_on_its_hull(torus_folder):
    rests = {}
    for collider in ("hull", "decomposition"):
        ring = body_entity(
            "ring",
            {"type": "box", "size": [0.1, 0.1, 0.1]},  # drawn shape; the collider is the mesh
            position=(0.0, 0.5, 0.0),
            body="static",
            collider=collider,
            mesh="torus.obj",
        )
        world = scene(floor(), ring, ball("ball", (0.0, 1.2, 0.0), radius=0.05), path=torus_folder)
        with Simulation(world, config=PhysicsConfig(**FAST)) as sim:
            geoms = sim._run(lambda s: int((s.model.geom_bodyid == s.index.body["ring"]).sum()))
            assert geoms == 1 if collider == "hull" else geoms >= 4
            sim.step(1000)
            rests[collider] = sim.poses().poses[0, 1]
    assert rests["hull"] == pytest.approx(0.5 + 0.08 + 0.05, abs=0.01)  # on the hull's top
    assert rests["decomposition"] == pytest.approx(0.05, abs=0.01)  # through the hole, on the floor


def test_degenerate_and_missing_meshes_fail_the_simulation_clearly(tmp_path):
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 1]], [[0, 1, 2], [1, 3, 2]])
    flat.export(tmp_path / "flat.stl")
    sheet = body_entity("sheet", CUBE, collider="hull", mesh="flat.stl")
    with pytest.raises(PhysicsError, match=r"'sheet'.*degenerate"):
        Simulation(scene(sheet, path=tmp_path))
    lost = body_entity("lost", CUBE, collider="hull", mesh="no.obj")
    with pytest.raises(PhysicsError, match=r"no\.obj"):
        Simulation(scene(lost, path=tmp_path))
    with pytest.raises(PhysicsError, match="not loaded from a folder"):
        Simulation(scene(lost))


def test_unreadable_mesh_file(tmp_path):
    (tmp_path / "junk.obj").write_bytes(b"\x00\x01 not a mesh")
    with pytest.raises(PhysicsError, match=r"junk\.obj"):
        load_collision_mesh(tmp_path / "junk.obj")
