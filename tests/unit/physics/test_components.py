"""The physics and joint components: defaults, checks, and the scene format that carries them."""

from __future__ import annotations

import json

import pytest

from continuum.errors import PhysicsError, SceneError
from continuum.physics import BodyParams, body_params, joint_params
from continuum.world import Entity, load_scene


def _entity(**components) -> Entity:
    return Entity(id="e", name="e", components=components)


SPHERE = {"type": "sphere", "radius": 0.1}


def test_defaults():
    assert body_params(_entity(shape=SPHERE, physics={})) == BodyParams()
    assert body_params(_entity(shape=SPHERE)) is None
    assert joint_params(_entity()) is None


@pytest.mark.parametrize(
    ("physics", "field"),
    [
        ({"body": "floating"}, "body"),
        ({"mass": 0}, "mass"),
        ({"mass": float("nan")}, "mass"),
        ({"density": -1}, "density"),
        ({"friction": float("inf")}, "friction"),
        ({"restitution": 1.5}, "restitution"),
        ({"damping": "a lot"}, "damping"),
        ({"collider": "hull"}, "mesh"),
        ({"mass": 1, "density": 2}, "mass or density"),
        ({"wobble": 1}, "wobble"),
    ],
)
def test_bad_physics_values_name_the_field(physics, field):
    with pytest.raises(PhysicsError, match=field):
        body_params(_entity(shape=SPHERE, physics=physics))


def test_a_dynamic_plane_is_refused_and_a_shapeless_collider_needs_a_mesh():
    with pytest.raises(PhysicsError, match="plane"):
        body_params(_entity(shape={"type": "plane", "size": [1, 1]}, physics={}))
    with pytest.raises(PhysicsError, match="no shape"):
        body_params(_entity(physics={}))
    assert body_params(_entity(physics={"collider": "none", "mass": 2})).mass == 2


def test_joint_axis_is_normalised_and_checked():
    joint = joint_params(_entity(joint={"type": "hinge", "axis": [0, 0, 2], "range": [-1, 1]}))
    assert joint.axis == (0.0, 0.0, 1.0)
    assert joint.range == (-1.0, 1.0)
    for bad, field in (
        ({"type": "hinge", "axis": [0, 0, 0]}, "axis"),
        ({"type": "weld"}, "type"),
        ({"axis": [0, 1, 0]}, "type"),
        ({"type": "slide", "range": [1, -1]}, "range"),
    ):
        with pytest.raises(PhysicsError, match=field):
            joint_params(_entity(joint=bad))


def _write_scene(folder, entities, **top):
    doc = {"format": "continuum.scene", "version": 1, "name": "p", "entities": entities, **top}
    (folder / "scene.json").write_text(json.dumps(doc))
    return folder


def test_load_scene_carries_physics_joints_and_mjcf(tmp_path):
    (tmp_path / "model.xml").write_text("<mujoco/>")
    entities = [
        {"id": "a", "components": {"shape": SPHERE, "physics": {"mass": 2, "restitution": 0.5}}},
        {
            "id": "b",
            "parent": "a",
            "components": {
                "shape": SPHERE,
                "physics": {},
                "joint": {"type": "hinge", "axis": [0, 0, 1], "range": [-1, 1]},
            },
        },
    ]
    scene = load_scene(_write_scene(tmp_path, entities, mjcf="model.xml"))
    assert scene.mjcf == "model.xml"
    assert scene.entity("a").components["physics"]["restitution"] == 0.5
    assert joint_params(scene.entity("b")).type == "hinge"


def test_load_scene_refuses_bad_physics_and_missing_files(tmp_path):
    bad = [{"id": "a", "components": {"shape": SPHERE, "physics": {"restitution": 2}}}]
    with pytest.raises(SceneError, match="restitution"):
        load_scene(_write_scene(tmp_path, bad))
    with pytest.raises(SceneError, match="mjcf"):
        load_scene(_write_scene(tmp_path, [], mjcf="absent.xml"))
    meshless = [{"id": "a", "components": {"physics": {"collider": "hull", "mesh": "no.obj"}}}]
    with pytest.raises(SceneError, match=r"no\.obj"):
        load_scene(_write_scene(tmp_path, meshless))
