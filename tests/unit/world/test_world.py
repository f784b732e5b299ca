import importlib.util
import json
import shutil
import threading

import jsonschema
import pytest
import torch

from continuum.errors import SceneError
from continuum.splats import SplatCloud, read_splats, write_splats
from continuum.splats.pack import unpack_splats
from continuum.world import AssetStore, SplatChanged, World, load_scene, scene_schema
from tests.conftest import HELLO, SPLATS
from tests.unit.splats.scenes import random_cloud


@pytest.fixture
def store():
    with AssetStore() as s:
        yield s


def _scene(tmp_path, splat: dict, cloud: SplatCloud | None = None):
    """A one-entity scene folder whose entity has the splat component ``splat``."""
    if cloud is not None:
        write_splats(cloud, tmp_path / "c.ply")
    doc = {
        "format": "continuum.scene",
        "version": 1,
        "name": "t",
        "entities": [{"id": "e", "components": {"splat": splat}}],
    }
    (tmp_path / "scene.json").write_text(json.dumps(doc))
    return tmp_path


def _check_splat_asset(component: dict) -> None:
    schema = {"$defs": scene_schema()["$defs"], "$ref": "#/$defs/splat_asset"}
    jsonschema.Draft202012Validator(schema).validate(component)


def test_the_splats_scene_serves_its_cloud_as_a_pack(store):
    world = World(load_scene(SPLATS), store)
    entities = {e["id"]: e for e in world.entities_json()}
    assert set(entities) == {"cloud", "camera"}
    splat = entities["cloud"]["components"]["splat"]
    _check_splat_asset(splat)
    assert (splat["count"], splat["sh_degree"]) == (1536, 1)
    asset = world.splat("cloud")
    assert asset is not None and asset.kind == "splat-pack"
    assert (splat["asset"], splat["bytes"]) == (asset.hash, asset.bytes)
    pack = store.read(asset.hash, 0, asset.bytes)
    back, cloud = unpack_splats(pack), read_splats(SPLATS / "cloud.ply")
    torch.testing.assert_close(back.means, cloud.means, rtol=0, atol=0)
    torch.testing.assert_close(back.sh, cloud.sh, rtol=1e-3, atol=1e-3)
    lo, hi = torch.tensor(splat["aabb"]).split(3)
    assert (cloud.means >= lo).all() and (cloud.means <= hi).all()
    assert world.splat("camera") is None
    assert "splat" not in entities["camera"]["components"]


def test_the_shipped_cloud_is_what_make_cloud_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_cloud", SPLATS / "make_cloud.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made, shipped = module.make_cloud(), read_splats(SPLATS / "cloud.ply")
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        torch.testing.assert_close(getattr(shipped, name), getattr(made, name))
    assert (SPLATS / "cloud.ply").stat().st_size < 200_000


def test_sh_degree_in_the_component_trims_the_pack(tmp_path, store):
    folder = _scene(tmp_path, {"file": "c.ply", "sh_degree": 0}, random_cloud(50, seed=0, degree=2))
    world = World(load_scene(folder), store)
    splat = world.entities_json()[0]["components"]["splat"]
    assert (splat["sh_degree"], splat["count"]) == (0, 50)


@pytest.mark.parametrize(
    ("splat", "words"),
    [
        ({"file": "../outside.ply"}, "lies outside the scene folder"),
        ({"file": "/etc/hostname"}, "lies outside the scene folder"),
        ({"file": "missing.ply"}, "splat file 'missing.ply' does not exist"),
        ({"file": "c.ply", "sh_degree": 4}, "at entities/0/components/splat/sh_degree"),
        ({"file": "c.ply", "extra": 1}, "at entities/0/components/splat"),
        ({}, "'file' is a required property"),
    ],
)
def test_bad_splat_components_fail_to_load(tmp_path, splat, words):
    folder = tmp_path / "scene"
    folder.mkdir()
    (tmp_path / "outside.ply").write_bytes(b"")
    with pytest.raises(SceneError, match=words):
        load_scene(_scene(folder, splat, random_cloud(3, seed=0)))


def test_unreadable_splats_name_the_entity_and_the_file(tmp_path, store):
    folder = _scene(tmp_path, {"file": "c.ply", "sh_degree": 2}, random_cloud(3, seed=0, degree=1))
    with pytest.raises(SceneError, match=r"entity 'e': splat file .*c\.ply: sh_degree must be"):
        World(load_scene(folder), store)
    (folder / "c.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nend_header\n")
    with pytest.raises(SceneError, match=r"entity 'e': splat file .*c\.ply"):
        World(load_scene(_scene(folder, {"file": "c.ply"})), store)


def test_set_splat_stores_the_pack_updates_the_entity_and_notifies(store):
    scene = load_scene(HELLO)
    world = World(scene, store)
    heard: list[SplatChanged] = []
    remove = world.add_listener(lambda change: heard.extend(change.splats))
    asset = world.set_splat("ball", random_cloud(20, seed=1))
    assert heard == [SplatChanged("ball", asset)] and asset.hash in store
    assert asset.meta["count"] == 20 and asset.meta["sh_degree"] == 1
    ball = next(e for e in world.entities_json() if e["id"] == "ball")
    assert ball["components"]["shape"] == {"type": "sphere", "radius": 0.6}  # kept
    assert ball["components"]["splat"] == {"asset": asset.hash, "bytes": asset.bytes, **asset.meta}
    assert scene.entity("ball").components.get("splat") is None  # the scene is not edited
    assert world.scene.entity("ball").components["splat"]["asset"] == asset.hash

    assert (
        world.set_splat("ball", random_cloud(20, seed=1)) == asset and len(heard) == 1
    )  # no change
    trimmed = world.set_splat("ball", random_cloud(20, seed=1), sh_degree=0)
    assert trimmed.meta["sh_degree"] == 0 and heard[-1] == SplatChanged("ball", trimmed)
    remove()
    world.set_splat("ball", random_cloud(5, seed=2))
    assert len(heard) == 2


def test_set_splat_refuses_unknown_entities_and_bad_degrees(store):
    world = World(load_scene(HELLO), store)
    with pytest.raises(KeyError, match="no entity 'nope'"):
        world.set_splat("nope", random_cloud(3, seed=0))
    with pytest.raises(ValueError, match="sh_degree"):
        world.set_splat("ball", random_cloud(3, seed=0), sh_degree=3)
    assert world.splat("ball") is None


def test_an_empty_world(store):
    world = World(None, store)
    assert world.entities_json() == [] and world.scene.name == ""


def test_set_splat_from_many_threads_notifies_in_order(tmp_path, store):
    shutil.copytree(SPLATS, tmp_path / "s")
    world = World(load_scene(tmp_path / "s"), store)
    heard: list[SplatChanged] = []
    world.add_listener(lambda change: heard.extend(change.splats))
    threads = [
        threading.Thread(target=world.set_splat, args=("cloud", random_cloud(30, seed=seed)))
        for seed in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(heard) == 8 and len({h.asset.hash for h in heard}) == 8
    assert heard[-1].asset == world.splat("cloud")
