"""Worlds (PROTOCOL.md section 13) between a real headless Godot and a real in-process backend:
two engines mirror the world from ``world.changed`` pushes alone while one of them edits, undoes
and redoes; edits move physics bodies; persistent worlds are listed, forked and opened, and
``world.reset`` rebuilds both engines, the pose stream included.

Godot runs ``engine_plugin/godot/tests/integration/world_probe.gd`` (two sessions, each with a
ContinuumWorld); the tests check what it reports and what the backend holds afterwards.
"""

from __future__ import annotations

import numpy as np
import pytest

from continuum.server.app import ServerConfig, serve_in_thread
from continuum.world import load_scene
from continuum.world.store import list_worlds
from tests.conftest import REPO
from tests.integration.conftest import run_probe

pytestmark = pytest.mark.godot
HELLO = REPO / "scenes" / "hello"
PLAYGROUND = REPO / "scenes" / "physics_playground"
PROBE = "res://tests/integration/world_probe.gd"


def _probe(port: int, scenario: str, *extra: str) -> tuple[int, dict, str]:
    return run_probe(PROBE, port, scenario, *extra, timeout_s=120)


def _entities(server) -> dict[str, dict]:
    return {e["id"]: e for e in server.world.entities_json()}


def test_edits_reach_both_engines_from_the_pushes_alone():
    """Engine A moves, adds, removes and repaints in one edit, engine B tags: both show all of it,
    incrementally (one load each, one world_changed per push); edits that do not fit are
    refused; world.events gives the edits back in order (or, for a world in memory, may be
    `unavailable`)."""
    with serve_in_thread(ServerConfig(port=0), load_scene(HELLO)) as server:
        start_seq = server.world.seq
        code, r, out = _probe(server.port, "edit")
        assert code == 0 and r["ok"], out[-3000:]
        assert r["loads"] == [1, 1], r  # no reload: every change applied incrementally
        assert r["changes"] == [2, 2], r  # the edit's push and the tags' push
        assert r["edit_seq"] == start_seq + 4 and r["tag_seq"] == start_seq + 5, r
        assert r["last_seq"] == [start_seq + 5] * 2, r
        shown = r["shown"][0]
        assert r["shown"][1] == shown
        assert shown["cube"] == [1, 2, 3]
        assert shown["crate_parent"] == "pillar" and shown["crate_class"] == "MeshInstance3D"
        assert np.allclose(shown["crate"], [1.6, 2.75, -0.3], atol=1e-4), shown
        assert shown["sign"] is False and "sign" not in shown["ids"] and "crate" in shown["ids"]
        assert shown["ball_color"] == [0, 0, 1] and shown["ball_tags"] == ["blue"]
        assert r["codes"] == {
            "unknown_entity": "conflict",
            "duplicate_id": "conflict",
            "backend_kind": "bad_request",
            "not_a_list": "bad_request",
        }
        if r["log_code"] is None:  # a world in memory may keep no event log
            assert r["logged_kinds"][-5:] == [
                "transform_set",
                "entity_added",
                "entity_removed",
                "component_set",
                "tags_set",
            ]
            assert r["logged_seqs"][-5:] == list(range(start_seq + 1, start_seq + 6))
            assert r["log_seq"] == start_seq + 5
        else:
            assert r["log_code"] == "unavailable", r
        assert r["world_info"]["seq"] == start_seq + 5 and r["world_info"]["name"] is None
        entities = _entities(server)  # the backend holds what the engines show
        assert "sign" not in entities and entities["crate"]["parent"] == "pillar"
        assert entities["cube"]["transform"]["position"] == [1, 2, 3]
        assert entities["ball"]["tags"] == ["blue"]
        assert r["errors"] == []


def test_undo_and_redo_move_the_nodes_back_and_forth():
    with serve_in_thread(ServerConfig(port=0), load_scene(HELLO)) as server:
        code, r, out = _probe(server.port, "undo")
        assert code == 0 and r["ok"], out[-3000:]
        start, moved = r["start"], [0, 3, 0]
        assert np.allclose(start, [-1.5, 0.5, 0]), start
        steps = r["steps"]
        assert [s["step"] for s in steps] == ["edit", "undo", "redo", "undo"]
        assert [(s["undo"], s["redo"]) for s in steps] == [(1, 0), (0, 1), (1, 0), (0, 1)]
        assert [s["events"] for s in steps[1:]] == [1, 1, 1]
        for step, where in zip(steps, [moved, start, moved, start], strict=True):
            for position in step["positions"]:  # both engines
                assert np.allclose(position, where, atol=1e-4), (step, where)
        assert r["again_code"] == "conflict", r
        assert r["loads"] == [1, 1]
        cube = _entities(server)["cube"]["transform"]["position"]
        assert np.allclose(cube, start)


def test_edits_move_physics_bodies_and_change_the_layout():
    """A transform_set teleports the body (the node follows the stream there); removing a body
    changes the layout (the engine asks for it and unbinds the node); undo brings both back."""
    with serve_in_thread(ServerConfig(port=0), load_scene(PLAYGROUND)) as server:
        code, r, out = _probe(server.port, "physics", "--entity=ball")
        assert code == 0 and r["ok"], out[-3000:]
        assert r["followed"] and r["back"], r
        assert "box-6" not in r["layout_without_box"] and "box-6" not in r["bound_without_box"]
        assert "box-6" in r["layout_with_box_again"] and "box-6" in r["bound_with_box_again"]
        assert r["box_node_again"] and r["layout_after"] > r["layout_before"], r
        frame = server.simulation.poses()
        ball = frame.poses[list(frame.ids).index("ball")][:3]
        assert np.allclose(ball, r["start"], atol=0.05), (ball.tolist(), r["start"])
        assert r["errors"] == []


@pytest.mark.parametrize(
    ("scene", "entity"), [(HELLO, "sign"), (PLAYGROUND, "box-6")], ids=["hello", "physics"]
)
def test_worlds_are_listed_forked_and_opened(tmp_path, scene, entity):
    """With a worlds folder: fork, edit, open the fork (world.reset: both engines rebuild, the
    removed entity is back, physics streams again), open the original, fork-and-open at once."""
    config = ServerConfig(port=0, worlds_dir=tmp_path, world="main")
    with serve_in_thread(config, load_scene(scene)) as server:
        code, r, out = _probe(server.port, "worlds", f"--entity={entity}")
        assert code == 0 and r["ok"], out[-3000:]
        assert r["physics"] is (scene == PLAYGROUND)
        assert [w["name"] for w in r["listed"]] == ["main"] and r["listed"][0]["open"]
        fork = r["fork"]
        assert fork["name"] == "branch" and fork["world"]["name"] == "main", fork  # not opened
        assert fork["seq"] >= r["listed"][0]["seq"], fork  # a physics world logs its state first
        assert r["opened"]["names"] == ["branch", "branch"], r["opened"]
        assert r["reopened"]["names"] == ["main", "main"], r["reopened"]
        assert r["direct_name"] == "direct" and r["direct"]["name"] == "direct"
        assert r["direct"]["world"]["name"] == "direct"  # opened: the world served is the fork
        assert r["resets"] == [3, 3] and r["loads"] == [4, 4], r
        listed = {w["name"]: w for w in r["listed_after"]}
        assert set(listed) == {"main", "branch", "direct"} and listed["direct"]["open"]
        assert r["fork_again_code"] == "conflict"
        assert r["entity_in_direct"] is False  # forked from main, where it was removed
        # world.events gives the entity events only (a physics world also logs its own after
        # the removal, which the edit's seq counts).
        assert [(e["event"]["kind"], e["event"]["id"]) for e in r["logged"]] == [
            ("entity_removed", entity)
        ], r["logged"]
        assert r["logged"][0]["seq"] <= r["removed_seq"]
        assert r["log_more"] is False
        assert server.world.name == "direct"
        assert set(list_worlds(tmp_path)) == {"main", "branch", "direct"}
        assert entity not in _entities(server)
        assert r["errors"] == []
