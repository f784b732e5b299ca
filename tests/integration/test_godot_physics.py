"""A real headless Godot 4 against a real in-process server simulating
``scenes/physics_playground``: the bodies' nodes follow the backend, the mouse and XR grabbers
move bodies in the backend, bad input from the engine is answered and survived, the latency
script measures, and the demo plays the playground."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from continuum.godot import run_godot
from continuum.server.app import ServerConfig, serve_in_thread
from continuum.world import load_scene
from tests.conftest import REPO
from tests.integration.conftest import run_probe

pytestmark = pytest.mark.godot
PLAYGROUND = REPO / "scenes" / "physics_playground"
PROBE = "res://tests/integration/physics_probe.gd"
LATENCY = "res://tests/bench/physics_latency.gd"


@pytest.fixture
def server():
    with serve_in_thread(ServerConfig(port=0), load_scene(PLAYGROUND)) as srv:
        assert srv.simulation is not None
        yield srv


def _probe(port: int, scenario: str, *extra: str) -> tuple[int, dict, str]:
    return run_probe(PROBE, port, scenario, *extra, timeout_s=120)


def _backend_poses(server) -> dict[str, np.ndarray]:
    frame = server.simulation.poses()
    return {body: frame.poses[i].astype(float) for i, body in enumerate(frame.ids)}


def test_nodes_follow_a_falling_ball_to_rest(server):
    """The ball is lifted to 2 m by a control from Godot; its node falls (its height decreases
    frame after frame), bounces and comes to rest on the floor; on the way each node position lies
    on the path of the raw poses around it; at rest every body's node is where the backend has
    the body."""
    code, r, out = _probe(server.port, "follow", "--entity=bouncer", "--drop=2.0")
    assert code == 0 and r["ok"], out[-3000:]
    assert r["first_height"] > 1.9 and r["falls_at_first"], r
    radius = 0.1
    assert r["lowest_height"] < radius + 0.01 and abs(r["final_height"] - radius) < 0.01, r
    # Interpolation stays on the streamed path (within what one interval of extrapolation adds).
    assert r["worst_off_raw_path_m"] < 0.05, r
    backend = _backend_poses(server)
    assert set(r["bound"]) == set(backend)  # every simulated body, none of the static ones
    for body, pose in r["nodes"].items():
        if np.linalg.norm(pose[:3] - backend[body][:3]) > 0.01:
            # Only bodies still moving may differ (by what they moved since Godot's last frame).
            assert body in ("roller",), (body, pose, backend[body].tolist())
    still = {b: p for b, p in r["nodes"].items() if b.startswith("box-")}
    for body, pose in still.items():  # the stack stood; node and backend agree to a millimetre
        assert np.allclose(pose[:3], backend[body][:3], atol=1e-3), (body, pose, backend[body])
        dot = abs(float(np.dot(pose[3:], backend[body][3:])))
        assert dot > 1 - 1e-5, (body, pose, backend[body])
    assert r["errors"] == []


def test_mouse_grabber_drags_and_throws_a_box(server):
    """Mouse events in Godot: a click on the top box grabs it (a ray query), a drag up and to the
    right moves it, letting go throws it; the backend's box moved that way."""
    start = _backend_poses(server)["box-6"][:3].copy()
    code, r, out = _probe(server.port, "mouse", "--entity=box-6")
    assert code == 0 and r["ok"], out[-3000:]
    assert r["held"] == "box-6"
    assert [e[0] for e in r["events"]] == ["grabbed", "released"]
    velocity = np.array(r["events"][1][2])
    assert velocity[0] > 0.1 and velocity[1] > 0.1, velocity  # thrown up and to the right
    target = np.array(r["target"])
    assert target[0] > start[0] + 0.2 and target[1] > start[1] + 0.2, (start, target)
    end = _backend_poses(server)["box-6"][:3]
    assert end[0] > start[0] + 0.2, (start.tolist(), end.tolist())  # the backend's box moved right
    assert r["errors"] == []


def test_xr_grabber_carries_and_throws_the_ball(server):
    """A plain Node3D stands in for the controller: the grabber takes the nearest body (the ball),
    the ball follows the hand up and forward, and leaves with the hand's velocity."""
    start = _backend_poses(server)["ball"][:3].copy()
    code, r, out = _probe(server.port, "xr", "--entity=ball")
    assert code == 0 and r["ok"], out[-3000:]
    assert r["held"] == "ball"
    at_release = np.array(r["at_release"])
    assert at_release[1] > start[1] + 0.3, (start, at_release)  # carried up with the hand
    assert np.linalg.norm(at_release - np.array(r["hand_at_release"])) < 0.25, r
    velocity = np.array(r["throw_velocity"])
    assert velocity[1] > 0.3 and velocity[2] < -0.3, velocity  # up and forward, as the hand went
    end = _backend_poses(server)["ball"][:3]
    assert end[2] < start[2] - 0.5, (start.tolist(), end.tolist())  # thrown forward (-z)


def test_bad_input_from_the_engine_is_answered_and_play_goes_on(server):
    code, r, out = _probe(server.port, "bad_input")
    assert code == 0 and r["ok"], out[-3000:]
    assert r["codes"] == {
        "unknown_entity": "not_found",
        "huge_position": "bad_request",
        "short_vector": "bad_request",
        "unknown_op": "bad_request",
        "zero_ray": "bad_request",
        "unknown_query_entity": "not_found",
        "grab_static": "bad_request",  # a static body is no body to grab
    }
    assert r["grabbed_static"] is False
    assert r["frames_after"] > 0 and r["good_control_shown"]
    ball = _backend_poses(server)["ball"][:3]  # put there, falling or fallen straight down
    assert np.allclose(ball[[0, 2]], [2.5, 2.5], atol=0.05) and ball[1] <= 0.51, ball
    assert "SCRIPT ERROR" not in out


def test_latency_script_reports_sane_numbers(server):
    """tests/bench/physics_latency.gd against the playground's resting ball: every sample is
    measured and the numbers are plausible (timings are not asserted tightly)."""
    run = run_godot(
        ["--script", LATENCY],
        user_args=[f"--continuum-port={server.port}", "--entity=ball", "--samples=30"],
        timeout_s=180,
    )
    results = [r for r in run.results("CONTINUUM_RESULT") if "control_to_pose_ms" in r]
    assert run.returncode == 0 and results, run.output[-3000:]
    r = results[-1]
    latency, jitter = np.array(r["control_to_pose_ms"]), np.array(r["jitter_ms"])
    assert len(latency) >= 25 and r["publish_hz"] == 90.0, r
    assert latency.min() > 0 and np.median(latency) < 200, latency.tolist()
    assert len(jitter) > 20 and np.all(jitter >= 0) and np.median(jitter) < 50, jitter.tolist()


def test_demo_plays_the_physics_playground():
    """``continuum demo --scene scenes/physics_playground --headless``: the bodies follow the
    stream in Godot, the ball is thrown into the stack midway, the report names the bodies that
    moved."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "continuum",
            "demo",
            "--scene",
            str(PLAYGROUND),
            "--seconds",
            "4",
            "--headless",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    line = next(x for x in out.splitlines() if x.startswith("physics:"))
    assert line.startswith("physics:    10 bodies,"), line
    moved = line.split(" moved: ")[1].split(", ")
    assert "ball" in moved and "bouncer" in moved, line
    assert sum(m.startswith("box-") for m in moved) >= 2, line  # the throw hit the stack
    assert "throw:      'ball' thrown into the stack" in out
