import json
import math

import pytest

from continuum.errors import SceneError
from continuum.world import load_scene
from tests.conftest import HELLO, REPO


def _write(tmp_path, doc) -> object:
    (tmp_path / "scene.json").write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return tmp_path


def _doc(*entities):
    return {"format": "continuum.scene", "version": 1, "name": "t", "entities": list(entities)}


def test_hello_loads_with_defaults_filled_in():
    scene = load_scene(HELLO)
    assert scene.name == "hello" and len(scene.entities) == 7
    floor = scene.entity("floor")
    assert floor.transform.position == (0, 0, 0) and floor.transform.rotation == (0, 0, 0, 1)
    assert floor.tags == ("static",) and floor.parent is None
    assert scene.entity("sign").parent == "pillar"
    with pytest.raises(KeyError, match="no entity 'nope'"):
        scene.entity("nope")


def test_scene_json_path_works_too():
    assert load_scene(HELLO / "scene.json").name == "hello"


def test_every_shipped_scene_is_valid():
    for folder in (REPO / "scenes").iterdir():
        assert load_scene(folder).entities


def test_quaternions_are_normalised(tmp_path):
    e = {"id": "a", "transform": {"rotation": [0, 0.70712, 0, 0.70712]}}
    rot = load_scene(_write(tmp_path, _doc(e))).entities[0].transform.rotation
    assert math.isclose(sum(v * v for v in rot), 1.0)


def test_to_json_round_trips_through_the_schema(tmp_path):
    scene = load_scene(HELLO)
    doc = _doc(*[e.to_json() for e in scene.entities])
    again = load_scene(_write(tmp_path, doc))
    assert again.entities == scene.entities


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ("{not json", "not a readable JSON"),
        (b"\xff\xfe".decode("latin-1"), "not a readable JSON"),
        ({"format": "continuum.scene", "version": 2, "name": "t", "entities": []}, "version"),
        (_doc({"name": "no id"}), "'id' is a required property"),
        (_doc({"id": "bad id!"}), "at entities/0/id"),
        (_doc({"id": "a", "transform": {"position": [0, 1]}}), "entities/0/transform/position"),
        (
            _doc({"id": "a", "components": {"shape": {"type": "box"}}}),
            "entities/0/components/shape",
        ),
        (_doc({"id": "a"}, {"id": "a"}), "appears twice"),
        (_doc({"id": "a", "parent": "ghost"}), "parent 'ghost'"),
        (_doc({"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}), "cycle"),
        (_doc({"id": "a", "transform": {"rotation": [0, 0, 0, 0]}}), "unit quaternion"),
    ],
)
def test_bad_scenes_name_file_and_place(tmp_path, doc, words):
    with pytest.raises(SceneError, match=words) as info:
        load_scene(_write(tmp_path, doc))
    assert str(tmp_path / "scene.json") in str(info.value)


def test_missing_scene_says_what_a_scene_is(tmp_path):
    with pytest.raises(SceneError, match=r"folder with scene\.json"):
        load_scene(tmp_path / "nowhere")
