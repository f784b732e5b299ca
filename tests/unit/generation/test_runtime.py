"""The generation runtime: binding beside the serving model, atomic swaps, jobs that finish on the
model they started on, cancellation, timeouts, the watcher.

The models here are the built-in ones behind a loader that tags them with their spec and can be
made slow, so a test can hold a load or a job at a known point."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation import (
    BuiltinModel,
    GenerationRuntime,
    JobDone,
    JobFailed,
    JobProgress,
    ModelSpec,
    SlotChanged,
    parse_request,
    save_bindings,
)

SLOW = threading.Event()  # set: runs go on; clear: every run waits at each step


class Tagged(BuiltinModel):
    """A built-in model that says which spec made it and when it was closed."""

    def __init__(self, slot: str, spec: ModelSpec) -> None:
        super().__init__(slot)
        self.tag = spec.path.name if spec.path else "builtin"
        self.closed = False

    def describe(self):
        return {**super().describe(), "name": self.tag}

    def run(self, request, progress):
        def gated(step, steps):
            while not SLOW.wait(0.01):
                progress(step - 1, steps)  # a check: lets a cancel or a timeout through
            progress(step, steps)

        assert not self.closed, "a closed model ran"
        return super().run(request, gated)

    def close(self):
        self.closed = True


class Loader:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.made: list[Tagged] = []

    def __call__(self, slot: str, spec: ModelSpec) -> Tagged:
        if spec.path is not None and spec.path.name.startswith("bad"):
            raise ModelLoadError(f"{spec.path}: not a diffusers model folder")
        if spec.path is not None:
            self.gate.wait(10)
        model = Tagged(slot, spec)
        self.made.append(model)
        return model


@pytest.fixture
def runtime():
    SLOW.set()
    loader = Loader()
    rt = GenerationRuntime(watch_s=0, loader=loader)
    rt.loader = loader  # type: ignore[attr-defined]
    events: list = []
    rt.add_listener(events.append)
    rt.events = events  # type: ignore[attr-defined]
    yield rt
    SLOW.set()
    rt.close()


def _request(steps: int = 3):
    return parse_request(
        "text_to_image", {"prompt": "red", "width": 8, "height": 8, "steps": steps}
    )


def _end(rt, job, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for e in list(rt.events):
            if isinstance(e, JobDone | JobFailed) and e.job.id == job.id:
                return e
        time.sleep(0.005)
    raise AssertionError(f"job {job.id} did not end")


def test_every_slot_starts_on_its_builtin_model(runtime):
    states = [(s.slot, s.state, s.spec.builtin, s.version) for s in runtime.status()]
    assert states == [
        ("text_to_image", "ready", True, 0),
        ("image_edit", "ready", True, 0),
        ("image_to_video", "ready", True, 0),
        ("motion", "ready", True, 0),
    ]
    end = _end(runtime, runtime.submit("text_to_image", _request()))
    assert isinstance(end, JobDone) and end.result.pixels.shape == (8, 8, 3)
    progress = [(e.step, e.steps) for e in runtime.events if isinstance(e, JobProgress)]
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_a_bind_loads_beside_the_serving_model_and_swaps(runtime):
    runtime.loader.gate.clear()  # the load holds
    status = runtime.bind("text_to_image", ModelSpec(Path("/m/alpha")))
    assert (status.state, status.loading.path, status.spec.builtin) == (
        "loading",
        Path("/m/alpha"),
        True,
    )
    # the built-in model serves meanwhile
    end = _end(runtime, runtime.submit("text_to_image", _request()))
    assert end.job.model["name"] == "builtin"
    runtime.loader.gate.set()
    status = runtime.wait_bound("text_to_image")
    assert (status.state, status.model["name"], status.version, status.loading) == (
        "ready",
        "alpha",
        1,
        None,
    )
    changes = [e.status.state for e in runtime.events if isinstance(e, SlotChanged)]
    assert changes == ["loading", "ready"]
    assert _end(runtime, runtime.submit("text_to_image", _request())).job.model["name"] == "alpha"


def test_a_running_job_finishes_on_the_model_it_started_on(runtime):
    runtime.bind("text_to_image", ModelSpec(Path("/m/old")))
    runtime.wait_bound("text_to_image")
    old = runtime.loader.made[-1]
    SLOW.clear()
    job = runtime.submit("text_to_image", _request())
    while job.state != "running":
        time.sleep(0.005)
    runtime.bind("text_to_image", ModelSpec(Path("/m/new")))
    assert runtime.wait_bound("text_to_image").model["name"] == "new"
    assert not old.closed  # still in use by the job
    SLOW.set()
    end = _end(runtime, job)
    assert isinstance(end, JobDone) and end.job.model["name"] == "old"
    assert old.closed  # closed once its last job ended
    assert _end(runtime, runtime.submit("text_to_image", _request())).job.model["name"] == "new"


def test_a_failed_bind_keeps_the_old_model_serving(runtime):
    runtime.bind("image_edit", ModelSpec(Path("/m/good")))
    runtime.wait_bound("image_edit")
    runtime.bind("image_edit", ModelSpec(Path("/m/bad-folder")))
    status = runtime.wait_bound("image_edit")
    assert status.state == "failed" and "not a diffusers model folder" in status.error
    assert (status.model["name"], status.version, status.spec.path) == ("good", 1, Path("/m/good"))
    image = parse_request(
        "image_edit", {"instruction": "invert"}, __import__("numpy").zeros((8, 8, 3), "uint8")
    )
    end = _end(runtime, runtime.submit("image_edit", image))
    assert isinstance(end, JobDone) and end.job.model["name"] == "good"


def test_cancel_a_queued_or_running_job_and_time_one_out(runtime):
    SLOW.clear()
    running = runtime.submit("text_to_image", _request())
    queued = runtime.submit("text_to_image", _request())
    while running.state != "running":
        time.sleep(0.005)
    runtime.cancel(queued.id)
    runtime.cancel(running.id)
    assert _end(runtime, running).code == "cancelled"
    assert _end(runtime, queued).code == "cancelled"
    timed = runtime.submit("text_to_image", _request(), timeout_s=0.05)
    end = _end(runtime, timed)
    assert (end.code, end.message) == ("timeout", "took over 0.05 s")
    SLOW.set()
    with pytest.raises(GenerationError, match="no job"):
        runtime.cancel(running.id)  # ended jobs are forgotten
    with pytest.raises(GenerationError, match="timeout_s"):
        runtime.submit("text_to_image", _request(), timeout_s=0)


def test_the_queue_is_bounded(runtime):
    runtime.max_queued = 2
    SLOW.clear()
    first = runtime.submit("motion", parse_request("motion", {"frames": 2}))
    while first.state != "running":
        time.sleep(0.005)
    runtime.submit("motion", parse_request("motion", {}))
    runtime.submit("motion", parse_request("motion", {}))
    with pytest.raises(GenerationError, match="2 jobs are queued"):
        runtime.submit("motion", parse_request("motion", {}))
    SLOW.set()


def test_close_cancels_running_jobs_and_refuses_more(runtime):
    SLOW.clear()
    job = runtime.submit("text_to_image", _request())
    while job.state != "running":
        time.sleep(0.005)
    runtime.close()
    assert _end(runtime, job).code == "cancelled"
    with pytest.raises(GenerationError, match="closed"):
        runtime.submit("text_to_image", _request())
    with pytest.raises(GenerationError, match="closed"):
        runtime.bind("motion", ModelSpec())


def test_the_watcher_reloads_a_changed_folder_and_follows_the_bindings_file(tmp_path):
    SLOW.set()
    folder = tmp_path / "models" / "alpha"
    folder.mkdir(parents=True)
    (folder / "weights.safetensors").write_bytes(b"1")
    bindings = tmp_path / "continuum.toml"
    save_bindings(bindings, {"text_to_image": ModelSpec(folder)})
    loader = Loader()
    with GenerationRuntime(bindings_file=bindings, watch_s=0.05, loader=loader) as rt:
        assert rt.wait_bound("text_to_image").version == 1  # the file's binding, loaded
        time.sleep(0.2)  # the watcher sees the folder as bound
        (folder / "weights.safetensors").write_bytes(b"22")  # the weights change on disk
        deadline = time.monotonic() + 10
        while rt.status("text_to_image")[0].version < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rt.wait_bound("text_to_image").version == 2
        assert [m.tag for m in loader.made if m.tag != "builtin"] == ["alpha", "alpha"]
        beta = tmp_path / "models" / "beta"
        beta.mkdir()
        save_bindings(bindings, {"text_to_image": ModelSpec(beta), "motion": ModelSpec(folder)})
        while rt.status("motion")[0].version < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        rt.wait_bound("text_to_image")
        assert rt.status("text_to_image")[0].model["name"] == "beta"
        assert rt.wait_bound("motion").model["name"] == "alpha"
        bindings.write_text("[slots.motion\n")  # broken: ignored, nothing rebinds
        time.sleep(0.3)
        assert rt.status("motion")[0].model["name"] == "alpha"
