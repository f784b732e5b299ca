"""Generation (PROTOCOL.md section 14) between a real headless Godot and a real in-process
backend serving the built-in models: images, edits, videos and motions decoded natively with
their progress in order and exactly one end, cancel and timeout, refused requests, and a bind
that fails while the built-in model serves on.

Godot runs ``engine_plugin/godot/tests/integration/generation_probe.gd`` (a ContinuumSession with
a ContinuumGenerator); the tests check what it reports against what the built-in models make.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from continuum.generation import Motion, TextToImage
from continuum.generation.builtin import motion, text_to_image
from continuum.generation.physmotion.scenarios import check_params
from continuum.server.app import ServerConfig, serve_in_thread
from tests.integration.conftest import run_probe

pytestmark = pytest.mark.godot
PROBE = "res://tests/integration/generation_probe.gd"


@pytest.fixture
def server():
    with serve_in_thread(ServerConfig(port=0)) as srv:
        yield srv


def _probe(port: int, scenario: str, *extra: str) -> dict:
    code, result, out = run_probe(PROBE, port, scenario, *extra, timeout_s=150)
    assert code == 0 and result["ok"], out[-3000:]
    assert result["errors"] == [], result["errors"]
    return result


def _no_progress(step: int, steps: int) -> None:
    pass


def test_text_to_image_is_the_models_image_with_progress_and_one_end(server):
    r = _probe(server.port, "image")
    assert r["size"] == [64, 32] and r["format_rgb8"], r
    want = text_to_image(
        TextToImage(prompt="a red and blue field", width=64, height=32, steps=5, seed=3),
        _no_progress,
    )
    assert r["sha256"] == hashlib.sha256(want.tobytes()).hexdigest()  # pixel for pixel
    assert r["slot"] == "text_to_image" and r["model"]["name"] == "builtin text_to_image"
    progress = r["progress"]
    assert progress and progress[-1] == [5, 5], progress  # the last step always comes
    steps = [step for step, _ in progress]
    assert steps == sorted(set(steps)) and all(total == 5 for _, total in progress), progress
    assert r["ends"] == [["finished", r["job"]]]  # exactly one end
    assert r["running_after"] == 0


def test_image_edit_inverts_the_engines_image(server):
    r = _probe(server.port, "edit")
    assert r["size"] == [16, 8]
    assert r["deviation"] == 0, r  # every channel of every pixel is 255 minus the input's
    assert len(r["ends"]) == 1 and r["ends"][0][0] == "finished"
    assert r["progress"][-1] == [1, 1]  # one keyword, one step


def test_videos_and_motions_are_decoded(server):
    r = _probe(server.port, "kinds")
    assert r["errors_seen"] == [None, None]
    assert r["frame_sizes"] == [[16, 16]] * 4 and r["frame_formats_rgb8"]
    assert r["fps"] == 10
    assert r["first_pixel"] == [40, 120, 200]  # a zoom over a plain image stays plain
    want = motion(Motion(params={"y": 1.0, "vy": 2.0}, frames=10, fps=20), _no_progress)
    assert r["shape"] == [10, 3] and r["channels"] == ["x", "y", "z"] and r["motion_fps"] == 20
    assert np.allclose(np.array(r["trajectory"]).reshape(10, 3), want.values, atol=1e-5)
    assert [len(ends) for ends in r["ends"]] == [1, 1]


def test_cancel_and_timeout_end_long_jobs(server):
    r = _probe(server.port, "cancel")
    assert r["progressed_before_cancel"] >= 1
    assert r["cancel_reply"] == ["gen.cancel", "cancelling", None]
    assert r["ends"] == [["failed", r["job"], "cancelled", "cancelled"]], r["ends"]
    assert r["cancel_s"] < 10, r["cancel_s"]  # it stops at its next step
    assert r["timeout_result"]["error"] == "timeout", r["timeout_result"]
    assert len(r["timeout_ends"]) == 1 and r["timeout_ends"][0][2] == "timeout"
    assert r["jobs_after"] == [] and r["running_after"] == 0
    assert server.generation is not None and server.generation.jobs() == []


def test_bad_requests_are_refused_and_the_next_one_served(server):
    r = _probe(server.port, "bad")
    assert set(r["codes"].values()) == {"bad_request"}, r["codes"]
    messages = r["messages"]
    assert "width" in messages["width"] and "multiple of 8" in messages["width"]
    assert "unknown slot" in messages["slot"]
    assert "input image" in messages["no_image"]
    assert "colour" in messages["unknown_param"]
    assert "steps" in messages["steps"]
    assert (
        r["generate_error"]["error"] == "bad_request"
        and "height" in (r["generate_error"]["message"])
    )
    assert r["good_size"] == [8, 8]
    ended = [s for s in r["signals"] if s[0] in ("finished", "failed")]
    assert len(ended) == 1 and ended[0][0] == "finished"  # refused requests make no job


def test_a_failed_bind_is_reported_and_the_builtin_model_serves_on(server, tmp_path):
    missing = tmp_path / "no-such-model"
    r = _probe(server.port, "models", f"--folder={missing}")
    assert [s[0] for s in r["listed"]] == [
        "text_to_image",
        "image_edit",
        "image_to_video",
        "motion",
    ]
    assert all(s[1] == "ready" and s[3] == "builtin" for s in r["listed"]), r["listed"]
    kind, state, loading = r["bind_reply"]
    assert kind == "models.bind" and state == "loading" and loading["model"] == str(missing)
    changes = [c for c in r["changes"] if c[1] == "text_to_image"]
    assert [c[2] for c in changes] == ["loading", "failed"], changes
    assert changes[-1][3], "the failure says why"
    assert r["slot_after"]["state"] == "failed" and r["slot_after"]["spec"]["model"] == "builtin"
    assert r["served_error"] is None and r["served_model"]["name"] == "builtin text_to_image"
    status = server.generation.status("text_to_image")[0]
    assert status.state == "failed" and status.spec.builtin


def test_a_motion_plays_on_a_body_and_hands_over_to_live_physics(tmp_path):
    """A throw generated by the built-in model (MuJoCo re-simulation) plays on the playground's
    ball in Godot; at its end the backend's body carries on with the motion's final velocity."""
    from continuum.world import load_scene

    playground = Path(__file__).resolve().parents[2] / "scenes" / "physics_playground"
    with serve_in_thread(ServerConfig(port=0), load_scene(playground)) as srv:
        r = _probe(srv.port, "handover")
    assert r["motion_error"] is None and r["channels"] == ["x", "y", "z"], r
    assert r["shape"] == [24, 3] and len(r["end_velocity"]) == 3
    # The motion is the re-simulation, placed at the origin asked for.
    expected = motion(
        Motion(
            scenario="throw",
            params=check_params(
                "throw", {"height": 0.5, "vx": 2.0, "vy": 2.5, "vz": 0.0, "restitution": 0.8}
            ),
            frames=24,
            fps=30,
            origin=(0.0, 0.0, 2.0),
        ),
        _no_progress,
    )
    assert np.allclose(np.reshape(r["trajectory"], (24, 3)), expected.values, atol=1e-5)
    # The node followed the motion while it played: once the first teleports came back through
    # the pose stream (which shows the simulation about two frames late), within that lag's move.
    following = [(shown, wanted) for t, shown, wanted in r["shown"] if t >= 0.15]
    assert len(following) >= 5, r["shown"]
    for shown, wanted in following:
        assert np.linalg.norm(np.subtract(shown, wanted)) < 0.3, r["shown"]
    # Handed over: the body went on from the last frame with the motion's velocity.
    assert r["finished"] == [True]
    end, later = np.array(expected.values[-1]), np.array(r["later"])
    assert later[0] - end[0] > 0.2, (end, later, r["end_velocity"])  # vx > 0 carried on
    assert r["unknown"][0] == "bad_request" and "throw" in r["unknown"][1], r["unknown"]
    assert r["out_of_range"][0] == "bad_request" and "restitution" in r["out_of_range"][1]
