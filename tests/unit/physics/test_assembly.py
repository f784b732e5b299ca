"""Scene -> MuJoCo model: bodies, geoms, masses, joints, contact parameters and MJCF models."""

from __future__ import annotations

import importlib.util
import math
import shutil
from pathlib import Path

import mujoco
import numpy as np
import pytest

from continuum.errors import PhysicsError
from continuum.physics import PhysicsConfig, Simulation, body_entity, contact_params
from continuum.physics.assembly import world_transform
from continuum.world import Entity, Transform
from tests.unit.physics.scenes import DT, ball, box, floor, scene

GYMNASIUM = importlib.util.find_spec("gymnasium")
GYM_ASSETS = (
    Path(GYMNASIUM.submodule_search_locations[0]) / "envs" / "mujoco" / "assets"
    if GYMNASIUM is not None
    else None
)
DM_CONTROL = importlib.util.find_spec("dm_control")  # not imported: its files are enough
DM_SUITE = Path(DM_CONTROL.submodule_search_locations[0]) / "suite" if DM_CONTROL else None


def _xmls(folder: Path | None) -> list[str]:
    return sorted(p.name for p in folder.glob("*.xml")) if folder and folder.is_dir() else []


def _model(sim: Simulation) -> mujoco.MjModel:
    return sim._state.model


def test_contact_params_map_restitution_to_a_damping_ratio():
    solref, solmix = contact_params(0.0, DT)
    assert solref == (0.02, 1.0) and solmix == 1.0  # MuJoCo's defaults: no bounce
    zetas = [contact_params(e, DT)[0][1] for e in (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)]
    assert zetas == sorted(zetas, reverse=True) and zetas[-1] > 0
    for e in (0.1, 0.5, 0.9, 1.0):
        (timeconst, zeta), _ = contact_params(e, DT)
        # The spring's natural frequency 1 / (timeconst zeta) stays below 0.5 / dt.
        assert 1 / (timeconst * zeta) <= 0.5 / DT + 1e-9
        e_back = math.exp(-zeta * math.pi / math.sqrt(1 - zeta**2))
        assert e_back == pytest.approx(min(e, 0.99))


def test_bodies_kinds_masses_and_layout():
    world = scene(
        floor(),
        box("heavy", (0, 1, 0), mass=3.0),
        box("dense", (1, 1, 0), density=500.0),
        ball("parked", (2, 1, 0), body="kinematic"),
        box("wall", (3, 1, 0), body="static"),
        Entity(id="label", name="label", components={"label": {"text": "not simulated"}}),
    )
    with Simulation(world) as sim:
        model = _model(sim)
        # Static bodies and entities without physics are not streamed.
        assert sim.layout() == (1, ["heavy", "dense", "parked"])
        assert model.body("heavy").mass[0] == pytest.approx(3.0)
        assert model.body("dense").mass[0] == pytest.approx(500.0 * 0.2**3)
        sim.step(200)
        frame = sim.poses()
        heights = dict(zip(frame.ids, frame.poses[:, 1], strict=True))
        assert heights["heavy"] < 0.9 and heights["dense"] < 0.9  # dynamic bodies fall
        assert heights["parked"] == pytest.approx(1.0)  # kinematic bodies wait for controls


def test_shapes_follow_the_entity_axes_and_scale():
    capsule = body_entity(
        "capsule", {"type": "capsule", "radius": 0.1, "height": 1.0}, position=(0, 2, 0)
    )
    cylinder = body_entity(
        "cylinder", {"type": "cylinder", "radius": 0.2, "height": 0.4}, position=(2, 2, 0)
    )
    scaled = Entity(
        id="scaled",
        name="scaled",
        transform=Transform(position=(4, 2, 0), scale=(2.0, 1.0, 1.0)),
        components={"shape": {"type": "box", "size": [0.2, 0.2, 0.2]}, "physics": {}},
    )
    with Simulation(
        scene(capsule, cylinder, scaled), config=PhysicsConfig(gravity=(0, 0, 0))
    ) as sim:
        hit = sim.query({"type": "ray", "origin": [0, 5, 0], "direction": [0, -1, 0]})
        assert hit["entity"] == "capsule"
        assert hit["point"][1] == pytest.approx(2.5)  # the capsule stands along +Y, 1 m tall
        hit = sim.query({"type": "ray", "origin": [2, 5, 0], "direction": [0, -1, 0]})
        assert hit["point"][1] == pytest.approx(2.2)
        hit = sim.query({"type": "ray", "origin": [10, 2, 0], "direction": [-1, 0, 0]})
        assert hit["entity"] == "scaled" and hit["point"][0] == pytest.approx(4.2)  # 0.4 m wide


def test_world_transform_composes_parents():
    parent = Entity(
        id="p",
        name="p",
        transform=Transform(
            position=(1, 0, 0),
            rotation=(0, math.sin(math.pi / 4), 0, math.cos(math.pi / 4)),
            scale=(2, 2, 2),
        ),
    )
    child = Entity(id="c", name="c", parent="p", transform=Transform(position=(1, 0, 0)))
    position, rotation, scale = world_transform({"p": parent, "c": child}, child)
    # A quarter turn about +Y takes +X to -Z; the parent's scale doubles the offset.
    assert np.allclose(position, [1, 0, -2])
    assert np.allclose(scale, [2, 2, 2])
    assert np.allclose(rotation, parent.transform.rotation)


def test_a_hinge_keeps_its_child_swinging_about_the_pivot():
    pivot = box("pivot", (0, 2, 0), size=(0.05, 0.05, 0.05), body="static")
    arm = body_entity(
        "arm",
        {"type": "sphere", "radius": 0.05},
        position=(0.5, 0, 0),  # relative to the pivot
        parent="pivot",
        mass=1.0,
    )
    arm.components["joint"] = {"type": "hinge", "axis": [0, 0, 1], "anchor": [-0.5, 0, 0]}
    with Simulation(scene(pivot, arm)) as sim:
        assert sim.layout()[1] == ["arm"]
        lowest = 2.0
        for _ in range(50):
            sim.step(10)
            p = sim.poses().poses[0, :3]
            assert np.linalg.norm(p - [0, 2, 0]) == pytest.approx(0.5, abs=1e-4)
            assert p[2] == pytest.approx(0.0, abs=1e-6)  # swings in the XY plane
            lowest = min(lowest, float(p[1]))
        assert lowest == pytest.approx(1.5, abs=0.01)  # it passed below the pivot


def test_a_joint_without_a_physics_parent_is_refused():
    orphan = ball("orphan", (0, 1, 0))
    orphan.components["joint"] = {"type": "hinge"}
    with pytest.raises(PhysicsError, match="joint needs a parent"):
        Simulation(scene(orphan))


def test_invalid_mjcf_is_a_clear_error(tmp_path):
    (tmp_path / "bad.xml").write_text("<mujoco><worldbody><body><geom type='blob'/></body>")
    with pytest.raises(PhysicsError, match=r"mjcf .*bad\.xml.* not a valid MuJoCo model"):
        Simulation(scene(mjcf="bad.xml", path=tmp_path))
    (tmp_path / "empty.xml").write_text("")
    with pytest.raises(PhysicsError, match="mjcf"):
        Simulation(scene(mjcf="empty.xml", path=tmp_path))


def _step_direct(path: Path) -> int:
    """Load and step the model with MuJoCo alone; its number of bodies besides the world."""
    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    mujoco.mj_step(model, data, nstep=100)
    assert np.isfinite(data.qpos).all()
    return model.nbody - 1


def _step_through_scene(folder: Path, name: str, bodies: int) -> None:
    world = scene(floor(), ball("ball", (3, 1, 3)), mjcf=name, path=folder)
    with Simulation(world) as sim:
        _version, ids = sim.layout()
        mjcf_ids = [i for i in ids if i.startswith("mjcf/")]
        assert len(mjcf_ids) == bodies, f"{name}: every MJCF body is streamed"
        sim.step(100)
        assert np.isfinite(sim.poses().poses).all()
        if mjcf_ids:  # its bodies are controllable like entities
            sim.control({"op": "set", "entity": mjcf_ids[-1], "friction": 0.5})


@pytest.fixture(scope="module")
def gym_folder(tmp_path_factory):
    if not _xmls(GYM_ASSETS):
        pytest.skip("gymnasium's MuJoCo assets are not installed (pip install gymnasium)")
    folder = tmp_path_factory.mktemp("gym") / "assets"
    shutil.copytree(GYM_ASSETS, folder)
    return folder


@pytest.fixture(scope="module")
def dm_folder(tmp_path_factory):
    if not _xmls(DM_SUITE):
        pytest.skip(
            "dm_control is not installed; its suite XMLs come with "
            "`pip install --no-deps dm_control` (only the files are read)"
        )
    folder = tmp_path_factory.mktemp("dm") / "suite"
    shutil.copytree(DM_SUITE, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


@pytest.mark.parametrize("name", _xmls(GYM_ASSETS) or ["(gymnasium missing)"])
def test_gymnasium_models_load_and_step(gym_folder, name):
    _step_through_scene(gym_folder, name, _step_direct(gym_folder / name))


@pytest.mark.parametrize("name", _xmls(DM_SUITE) or ["(dm_control missing)"])
def test_dm_control_suite_models_load_and_step(dm_folder, name):
    _step_through_scene(dm_folder, name, _step_direct(dm_folder / name))


def test_mjcf_bodies_stream_in_gltf_axes(gym_folder):
    with Simulation(scene(mjcf="hopper.xml", path=gym_folder)) as sim:
        model = _model(sim)
        torso = model.body("mjcf/torso").id
        frame = sim.poses()
        x, y, z = sim._state.data.xpos[torso]
        assert np.allclose(frame.poses[frame.ids.index("mjcf/torso"), :3], [x, z, -y], atol=1e-6)
        assert z > 1.0  # the hopper stands up along MuJoCo's +Z, which is glTF's +Y
