"""Generation over the bridge (PROTOCOL.md section 14): real pyzmq clients against in-process
servers serving the built-in models."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from continuum.generation import ModelSpec, save_bindings
from continuum.server.app import ServerConfig, serve_in_thread
from continuum.server.client import BridgeClient, RemoteError
from continuum.server.protocol import Limits


@pytest.fixture(scope="module")
def server():
    with serve_in_thread(ServerConfig(port=0, tick_hz=50)) as s:
        yield s


def _until_end(client: BridgeClient, job: int) -> list:
    pushes = []
    while True:
        push = client.push(timeout_s=20)
        if push.header.get("job") == job:
            pushes.append(push)
            if push.kind in ("gen.done", "gen.failed"):
                return pushes


def test_text_to_image_reports_progress_then_the_image(server):
    with BridgeClient(port=server.port) as c:
        params = {"prompt": "a green hill", "width": 40, "height": 24, "steps": 3}
        reply = c.request("gen.submit", {"slot": "text_to_image", "params": params})
        assert reply.kind == "gen.submit" and reply.header["queued"] == 0
        pushes = _until_end(c, reply.header["job"])
        *progress, done = pushes
        assert [p.kind for p in progress] == ["gen.progress"] * len(progress) and progress
        assert progress[-1].header["step"] == progress[-1].header["steps"] == 3
        assert done.kind == "gen.done" and done.header["result"] == "image"
        assert done.header["model"]["pipeline"] == "builtin"
        [image] = done.blobs
        assert image.dtype == np.uint8 and image.shape == (24, 40, 3)


def test_image_edit_takes_the_image_blob(server):
    image = np.random.default_rng(0).integers(0, 256, (16, 8, 3), dtype=np.uint8)
    with BridgeClient(port=server.port) as c:
        job = c.request(
            "gen.submit", {"slot": "image_edit", "params": {"instruction": "invert"}}, [image]
        ).header["job"]
        done = _until_end(c, job)[-1]
        assert done.kind == "gen.done" and np.array_equal(done.blobs[0], 255 - image)


def test_video_and_trajectory_results(server):
    image = np.zeros((16, 16, 3), np.uint8)
    with BridgeClient(port=server.port) as c:
        job = c.request(
            "gen.submit", {"slot": "image_to_video", "params": {"frames": 4, "fps": 9}}, [image]
        ).header["job"]
        done = _until_end(c, job)[-1]
        assert (done.header["result"], done.header["fps"]) == ("video", 9)
        assert done.blobs[0].shape == (4, 16, 16, 3)
        job = c.request(
            "gen.submit", {"slot": "motion", "params": {"params": {"vx": 1}, "frames": 7}}
        ).header["job"]
        done = _until_end(c, job)[-1]
        assert done.header["channels"] == ["x", "y", "z"] and done.blobs[0].dtype == np.float32
        assert done.blobs[0].shape == (7, 3)


@pytest.mark.parametrize(
    ("header", "blobs", "code", "words"),
    [
        ({"slot": "paint", "params": {}}, [], "bad_request", "unknown slot 'paint'"),
        ({"slot": "text_to_image", "params": {"prompt": ""}}, [], "bad_request", "prompt"),
        (
            {"slot": "text_to_image", "params": {"prompt": "x", "width": 33}},
            [],
            "bad_request",
            "width",
        ),
        ({"slot": "image_edit", "params": {"instruction": "x"}}, [], "bad_request", "input image"),
        (
            {"slot": "text_to_image", "params": {"prompt": "x"}},
            [np.zeros((8, 8, 3), np.uint8)],
            "bad_request",
            "no blob",
        ),
        ({"slot": "motion", "timeout_s": "soon"}, [], "bad_request", "timeout_s"),
    ],
)
def test_bad_submissions_are_refused_and_the_server_goes_on(server, header, blobs, code, words):
    with BridgeClient(port=server.port) as c:
        with pytest.raises(RemoteError, match=words) as info:
            c.request("gen.submit", header, blobs)
        assert info.value.code == code
        assert c.request("ping").kind == "pong"


def test_cancel_jobs_and_only_ones_own(server):
    with BridgeClient(port=server.port) as a, BridgeClient(port=server.port) as b:
        big = {"prompt": "x", "width": 2048, "height": 2048, "steps": 500}
        job = a.request("gen.submit", {"slot": "text_to_image", "params": big}).header["job"]
        assert [j["job"] for j in a.request("gen.jobs").header["jobs"]] == [job]
        assert b.request("gen.jobs").header["jobs"] == []
        with pytest.raises(RemoteError, match="no job") as info:
            b.request("gen.cancel", {"job": job})
        assert info.value.code == "not_found"
        reply = a.request("gen.cancel", {"job": job}).header
        assert (reply["job"], reply["state"]) == (job, "cancelling")
        failed = _until_end(a, job)[-1]
        assert failed.kind == "gen.failed" and failed.header["code"] == "cancelled"
        with pytest.raises(RemoteError, match="no job") as info:
            a.request("gen.cancel", {"job": job})


def test_a_result_over_the_frame_limit_fails_the_job():
    limits = Limits(max_frame_bytes=4096, chunk_bytes=4096)
    with serve_in_thread(ServerConfig(port=0, limits=limits)) as s, BridgeClient(port=s.port) as c:
        params = {"prompt": "x", "width": 64, "height": 64, "steps": 1}
        job = c.request("gen.submit", {"slot": "text_to_image", "params": params}).header["job"]
        failed = _until_end(c, job)[-1]
        assert (
            failed.header["code"] == "too_large" and "max_frame_bytes" in failed.header["message"]
        )


def test_models_list_and_a_failed_bind_keeps_the_model(tmp_path):
    bindings = tmp_path / "continuum.toml"
    with (
        serve_in_thread(ServerConfig(port=0, models=bindings)) as s,
        BridgeClient(port=s.port) as a,
    ):
        slots = a.request("models.list").header["slots"]
        assert [x["slot"] for x in slots] == [
            "text_to_image",
            "image_edit",
            "image_to_video",
            "motion",
        ]
        assert all(x["state"] == "ready" and x["spec"]["model"] == "builtin" for x in slots)
        with BridgeClient(port=s.port) as b:
            reply = a.request(
                "models.bind", {"slot": "text_to_image", "spec": {"model": str(tmp_path / "none")}}
            )
            assert reply.header["state"] == "loading"
            for c in (a, b):  # every session hears it
                states = [c.push(timeout_s=20).header for _ in range(2)]
                assert [h["state"] for h in states] == ["loading", "failed"]
                assert "model_index.json" in states[-1]["error"] or "folder" in states[-1]["error"]
        status = a.request("models.list").header["slots"][0]
        assert status["spec"]["model"] == "builtin" and status["version"] == 0
        job = a.request(
            "gen.submit",
            {"slot": "text_to_image", "params": {"prompt": "x", "width": 8, "height": 8}},
        ).header["job"]
        assert _until_end(a, job)[-1].kind == "gen.done"
        with pytest.raises(RemoteError, match="device") as info:
            a.request(
                "models.bind", {"slot": "motion", "spec": {"model": "builtin", "device": "tpu"}}
            )
        assert info.value.code == "bad_request"
    assert not bindings.exists()  # nothing saved: no bind asked to


def test_the_bindings_file_is_followed_while_serving(tmp_path):
    bindings = tmp_path / "continuum.toml"
    with (
        serve_in_thread(ServerConfig(port=0, models=bindings)) as s,
        BridgeClient(port=s.port) as c,
    ):
        save_bindings(bindings, {"motion": ModelSpec(tmp_path / "missing-motion")})
        while True:  # the watcher rebinds; the folder is missing, so it fails, and says so
            status = c.push(timeout_s=20).header
            if status["slot"] == "motion" and status["state"] == "failed":
                break
        assert "missing-motion" in status["error"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_the_ray_executor_runs_the_same_jobs():
    config = ServerConfig(port=0, executor="ray")
    with serve_in_thread(config) as s, BridgeClient(port=s.port) as c:
        params = {"prompt": "a blue lake", "width": 16, "height": 16, "steps": 2}
        job = c.request("gen.submit", {"slot": "text_to_image", "params": params}).header["job"]
        done = _until_end(c, job)[-1]
        assert done.kind == "gen.done" and done.blobs[0].shape == (16, 16, 3)
        with serve_in_thread(ServerConfig(port=0)) as local, BridgeClient(port=local.port) as d:
            job = d.request("gen.submit", {"slot": "text_to_image", "params": params}).header["job"]
            assert np.array_equal(_until_end(d, job)[-1].blobs[0], done.blobs[0])


def test_a_forgotten_session_has_its_jobs_cancelled():
    config = ServerConfig(port=0, session_idle_s=0.3)
    with serve_in_thread(config) as s, BridgeClient(port=s.port) as c:
        big = {"prompt": "x", "width": 2048, "height": 2048, "steps": 500}
        c.request("gen.submit", {"slot": "text_to_image", "params": big})
        assert len(s.generation.jobs()) == 1
        deadline = time.monotonic() + 10
        while s.generation.jobs() and time.monotonic() < deadline:
            time.sleep(0.05)  # no request: the session goes idle and is forgotten
        assert s.generation.jobs() == []
