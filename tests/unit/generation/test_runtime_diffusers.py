"""The runtime with a real (tiny) diffusers folder: bound, serving jobs with progress, cancelled
mid-run, and kept serving when a rebind to a damaged folder fails."""

from __future__ import annotations

import importlib.util
import queue
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from continuum.generation import (
    GenerationRuntime,
    JobDone,
    JobFailed,
    JobProgress,
    ModelSpec,
    TextToImage,
)

SLOT = "text_to_image"


class _Events:
    """The runtime's events, read in order."""

    def __init__(self, runtime: GenerationRuntime) -> None:
        self.queue: queue.Queue = queue.Queue()
        runtime.add_listener(self.queue.put)

    def until_finished(self, job_id: int, timeout_s: float = 60.0) -> list:
        """The job's events, up to and including its JobDone or JobFailed."""
        out = []
        while True:
            event = self.queue.get(timeout=timeout_s)
            if getattr(event, "job", None) is None or event.job.id != job_id:
                continue
            out.append(event)
            if isinstance(event, JobDone | JobFailed):
                return out


@pytest.fixture
def runtime():
    with GenerationRuntime(watch_s=0) as rt:
        yield rt


def test_a_bound_folder_serves_jobs_and_survives_a_failed_rebind(
    runtime, text_to_image_folder, tmp_path
):
    events = _Events(runtime)
    runtime.bind(SLOT, ModelSpec(text_to_image_folder))
    status = runtime.wait_bound(SLOT, timeout_s=60)
    assert status.state == "ready", status.error
    assert status.model["pipeline"] == "StableDiffusionPipeline"

    request = TextToImage("a red cube", width=32, height=32, steps=2, seed=5)
    job = runtime.submit(SLOT, request)
    seen = events.until_finished(job.id)
    assert [(e.step, e.steps) for e in seen if isinstance(e, JobProgress)] == [(1, 2), (2, 2)]
    assert isinstance(seen[-1], JobDone), seen[-1]
    first = seen[-1].result.pixels
    assert first.dtype == np.uint8 and first.shape == (32, 32, 3)
    assert seen[-1].job.model["path"] == str(text_to_image_folder)

    broken = Path(shutil.copytree(text_to_image_folder, tmp_path / "broken"))
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    runtime.bind(SLOT, ModelSpec(broken))
    status = runtime.wait_bound(SLOT, timeout_s=60)
    assert status.state == "failed"
    assert "truncated or corrupt" in status.error and str(weights) in status.error
    assert status.spec == ModelSpec(text_to_image_folder)

    job = runtime.submit(SLOT, request)
    seen = events.until_finished(job.id)
    assert isinstance(seen[-1], JobDone), seen[-1]
    assert seen[-1].job.model["path"] == str(text_to_image_folder)
    np.testing.assert_array_equal(seen[-1].result.pixels, first)


def test_a_cancel_stops_a_diffusers_run_at_its_next_step(runtime, text_to_image_folder):
    events = _Events(runtime)
    runtime.bind(SLOT, ModelSpec(text_to_image_folder))
    assert runtime.wait_bound(SLOT, timeout_s=60).state == "ready"

    job = runtime.submit(SLOT, TextToImage("a cube", width=16, height=16, steps=200))
    seen = []
    while True:
        event = events.queue.get(timeout=60)
        if getattr(event, "job", None) is None or event.job.id != job.id:
            continue
        seen.append(event)
        if isinstance(event, JobProgress) and event.step == 1:
            runtime.cancel(job.id)
        if isinstance(event, JobDone | JobFailed):
            break
    assert isinstance(seen[-1], JobFailed) and seen[-1].code == "cancelled"
    assert max(e.step for e in seen if isinstance(e, JobProgress)) < 200


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed")
def test_on_ray_the_model_loads_in_an_actor_and_runs_the_same(text_to_image_folder, tmp_path):
    from continuum.generation import LocalExecutor, RayExecutor

    request = TextToImage(prompt="a lake", width=32, height=32, steps=2, seed=5)
    results = []
    for executor in (RayExecutor(num_cpus=2), LocalExecutor()):
        with GenerationRuntime(executor=executor, watch_s=0) as runtime:
            events = _Events(runtime)
            runtime.bind(SLOT, ModelSpec(text_to_image_folder))
            status = runtime.wait_bound(SLOT)
            assert status.state == "ready" and status.model["pipeline"] == "StableDiffusionPipeline"
            job = runtime.submit(SLOT, request)
            *_, end = events.until_finished(job.id)
            assert isinstance(end, JobDone), end
            results.append(end.result.pixels)
            if isinstance(executor, RayExecutor):
                assert status.model["executor"] == "ray"
                broken = tmp_path / "broken"
                shutil.copytree(text_to_image_folder, broken)
                (broken / "model_index.json").unlink()
                runtime.bind(SLOT, ModelSpec(broken))
                failed = runtime.wait_bound(SLOT)
                assert failed.state == "failed" and "model_index.json" in failed.error
                assert failed.model["executor"] == "ray"  # the loaded one serves on
    assert np.array_equal(results[0], results[1])
