"""The generation runtime: slots bound to models, rebinding while serving, and jobs.

Binding (``bind``) loads the new model in a loader thread beside the one serving; when it is
ready the slot swaps to it in one step (under a lock), and the old model is closed once the jobs
that started on it have finished. A bind that fails (a bad folder, a pickle-only checkpoint, a
pipeline of another slot, no memory) leaves the old model bound and is reported in the slot's
status. A watcher rebinds a slot when the files of its folder change, and every slot whose spec
changed when the bindings file changes.

Jobs (``submit``) queue in arrival order and run on the executor (executors.py: local threads by
default, or Ray); each reports progress after every model step, can be cancelled (queued or
running: it stops at its next step) and times out. Everything the runtime does is told to its
listeners as events (``SlotChanged``, ``JobProgress``, ``JobDone``, ``JobFailed``), from its own
threads: a listener must return quickly.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.executors import Executor, LocalExecutor
from continuum.generation.models import Loader, Model
from continuum.generation.slots import SLOTS, Request, Result, check_slot
from continuum.generation.specs import BUILTIN, ModelSpec, load_bindings, save_bindings

log = logging.getLogger("continuum.generation")


@dataclass(frozen=True)
class SlotStatus:
    """A slot as it is now: ``state`` is "ready", "loading" (``loading`` names the spec being
    loaded beside the one serving) or "failed" (the last bind failed: ``error``; the model
    bound before still serves)."""

    slot: str
    spec: ModelSpec
    model: dict[str, Any]
    state: str
    loading: ModelSpec | None = None
    error: str | None = None
    version: int = 0  # +1 at every swap

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "spec": self.spec.to_json(),
            "model": self.model,
            "state": self.state,
            "loading": self.loading.to_json() if self.loading is not None else None,
            "error": self.error,
            "version": self.version,
        }


@dataclass
class Job:
    """One generation: queued, running, then done, failed or cancelled."""

    id: int
    slot: str
    request: Request
    owner: Any = None  # who submitted it (the server's session), for routing its events
    timeout_s: float | None = None
    state: str = "queued"  # queued, running, done, failed, cancelled
    step: int = 0
    steps: int = 0
    submitted: float = field(default_factory=time.monotonic)
    model: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)  # the submitter's, told back when done
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)


@dataclass(frozen=True)
class SlotChanged:
    status: SlotStatus


@dataclass(frozen=True)
class JobProgress:
    job: Job
    step: int
    steps: int


@dataclass(frozen=True)
class JobDone:
    job: Job
    result: Result


@dataclass(frozen=True)
class JobFailed:
    """``code``: "cancelled", "timeout", "out_of_memory" or "failed"."""

    job: Job
    code: str
    message: str


Event = SlotChanged | JobProgress | JobDone | JobFailed
Listener = Callable[[Event], None]


class _Stop(Exception):
    """Raised inside a model's step to end a cancelled or timed-out job."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Bound:
    """A loaded model and the jobs using it: closed when swapped out and no job uses it."""

    def __init__(self, spec: ModelSpec, model: Model) -> None:
        self.spec, self.model = spec, model
        self.users = 0
        self.retired = False

    def release(self) -> bool:
        """One user less (under the runtime's lock); True when the model is to be closed now:
        it was swapped out and this was its last user. The caller closes it, outside the lock
        (closing a large model takes a while)."""
        self.users -= 1
        return self.retired and self.users == 0

    def retire(self) -> bool:
        """Swapped out (under the runtime's lock); True when no job uses it: close it now."""
        self.retired = True
        return self.users == 0


class GenerationRuntime:
    """Slots, their models and the job queue. A context manager; ``close()`` stops it.

    Every slot serves its built-in model from the start; the models the bindings file names load
    in the background (``wait_bound`` waits for a slot).

    Args:
        bindings_file: the TOML file of bindings (specs.py) to read at the start and watch;
            None binds every slot to its built-in model and watches nothing.
        executor: runs the jobs (default: one local thread).
        watch_s: how often the watcher looks at the bound folders and the bindings file (0: no
            watcher).
        max_queued: jobs queued at once (running ones aside); ``submit`` refuses more.
        loader: makes a model of a spec (default: the executor's ``load``; tests give their
            own).
    """

    def __init__(
        self,
        *,
        bindings_file: Path | None = None,
        executor: Executor | None = None,
        watch_s: float = 1.0,
        max_queued: int = 64,
        loader: Loader | None = None,
    ) -> None:
        self.bindings_file = bindings_file
        self.executor = executor or LocalExecutor()
        self.max_queued = max_queued
        self._loader = loader or self.executor.load
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._bound: dict[str, _Bound] = {}
        self._status: dict[str, SlotStatus] = {}
        self._loading: dict[str, threading.Thread] = {}
        self._closing = threading.Event()
        self._watch: _Watch | None = None
        for slot in SLOTS:  # the built-in models serve until the bound ones have loaded
            model = self._loader(slot, BUILTIN)
            self._bound[slot] = _Bound(BUILTIN, model)
            self._status[slot] = SlotStatus(slot, BUILTIN, model.describe(), "ready")
        specs = load_bindings(bindings_file) if bindings_file is not None else {}
        for slot, spec in specs.items():
            if not spec.builtin:
                self.bind(slot, spec)
        self._watch = _Watch(self, watch_s) if watch_s > 0 else None

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> GenerationRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel every job, stop the watcher and the loaders, close the models. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._watch is not None:
            self._watch.stop()
        with self._lock:
            jobs = list(self._jobs.values())
            loaders = list(self._loading.values())
        for job in jobs:
            job._cancel.set()
        self.executor.close()
        for thread in loaders:
            thread.join()
        with self._lock:
            idle = [b.model for b in self._bound.values() if b.retire()]
        for model in idle:
            model.close()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                self._listeners.remove(listener)

        return remove

    # -- slots ----------------------------------------------------------------------------------

    def status(self, slot: str | None = None) -> list[SlotStatus]:
        """Every slot's status (or one's), in slot order."""
        with self._lock:
            if slot is not None:
                return [self._status[check_slot(slot)]]
            return [self._status[s] for s in SLOTS]

    def bind(self, slot: str, spec: ModelSpec, *, save: bool = False) -> SlotStatus:
        """Start loading ``spec`` for ``slot`` beside the model serving it; returns the slot's
        status now ("loading"). ``SlotChanged`` follows when it is bound or failed. A bind while
        one is loading for the slot waits for it, then loads. ``save`` also writes the
        bindings file.

        Raises:
            GenerationError: an unknown slot, or the runtime is closed.
        """
        check_slot(slot)
        if self._closing.is_set():
            raise GenerationError("the generation runtime is closed")
        with self._lock:
            previous = self._loading.get(slot)
            status = replace(self._status[slot], state="loading", loading=spec, error=None)
            self._status[slot] = status
            thread = threading.Thread(
                target=self._load,
                args=(slot, spec, previous, save),
                name=f"continuum-load-{slot}",
                daemon=True,
            )
            self._loading[slot] = thread
        self._emit(SlotChanged(status))
        thread.start()
        return status

    def wait_bound(self, slot: str, timeout_s: float = 600.0) -> SlotStatus:
        """Wait until ``slot`` is not loading; its status then."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                thread = self._loading.get(check_slot(slot))
            if thread is None:
                return self.status(slot)[0]
            thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise GenerationError(f"slot {slot}: still loading after {timeout_s} s")

    def _load(
        self, slot: str, spec: ModelSpec, previous: threading.Thread | None, save: bool
    ) -> None:
        if previous is not None:
            previous.join()
        started = time.monotonic()
        try:
            model = self._loader(slot, spec)
            error = None
        except ModelLoadError as exc:
            model, error = None, str(exc)
        except MemoryError:
            model, error = None, f"slot {slot}: out of memory loading {spec.to_json()['model']}"
        except Exception as exc:  # a loader bug: report it in the status, keep serving
            log.exception("slot %s: loading %s failed", slot, spec)
            model, error = None, f"slot {slot}: loading failed: {exc!r}"
        with self._lock:
            if self._loading.get(slot) is threading.current_thread():
                del self._loading[slot]
            still = self._loading.get(slot) is not None
            old = self._bound[slot]
            if model is not None and not self._closing.is_set():
                self._bound[slot] = _Bound(spec, model)
                closing = old.model if old.retire() else None
                status = SlotStatus(
                    slot,
                    spec,
                    model.describe(),
                    "loading" if still else "ready",
                    loading=self._status[slot].loading if still else None,
                    version=self._status[slot].version + 1,
                )
                log.info(
                    "slot %s: bound %s in %.2f s",
                    slot,
                    spec.to_json()["model"],
                    time.monotonic() - started,
                )
            else:
                closing = model  # loaded as the runtime closed: not bound
                status = replace(
                    self._status[slot],
                    state="loading" if still else "failed",
                    loading=self._status[slot].loading if still else None,
                    error=error or "the runtime closed",
                )
            self._status[slot] = status
        if closing is not None:
            closing.close()
        if model is not None and save and self.bindings_file is not None and error is None:
            self._save_bindings()
        self._emit(SlotChanged(status))

    def _save_bindings(self) -> None:
        with self._lock:
            specs = {s: b.spec for s, b in self._bound.items() if not b.spec.builtin}
        assert self.bindings_file is not None
        save_bindings(self.bindings_file, specs)
        if self._watch is not None:
            self._watch.saw_bindings()

    # -- jobs -----------------------------------------------------------------------------------

    def submit(
        self,
        slot: str,
        request: Request,
        *,
        owner: Any = None,
        timeout_s: float | None = None,
        tags: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a job; its events follow.

        Raises:
            GenerationError: an unknown slot, a bad timeout, too many jobs queued, or the
                runtime is closed.
        """
        check_slot(slot)
        if timeout_s is not None and not 0 < timeout_s <= 86_400:
            raise GenerationError(f"timeout_s must be in (0, 86400], got {timeout_s!r}")
        with self._lock:
            if self._closing.is_set():
                raise GenerationError("the generation runtime is closed")
            queued = sum(1 for j in self._jobs.values() if j.state == "queued")
            if queued >= self.max_queued:
                raise GenerationError(
                    f"{queued} jobs are queued, the most allowed; wait for some to finish"
                )
            job = Job(
                next(self._ids), slot, request, owner=owner, timeout_s=timeout_s, tags=tags or {}
            )
            self._jobs[job.id] = job
        self.executor.submit(lambda: self._run(job))
        return job

    def job(self, job_id: int) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise GenerationError(f"no job {job_id!r:.40}: it finished, or never was")
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def run_now(self, slot: str, request: Request) -> Result:
        """Run ``request`` on ``slot``'s model in the calling thread, outside the job queue
        (a step of a larger job, such as a splat edit's targets).

        Raises:
            GenerationError: the model failed (the message says how).
        """
        with self._lock:
            bound = self._bound[check_slot(slot)]
            bound.users += 1
        try:
            return bound.model.run(request, lambda step, steps: None)
        finally:
            with self._lock:
                done_with = bound.release()
            if done_with:
                bound.model.close()

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued or running job (a running one stops at its next step).

        Raises:
            GenerationError: no such job (it finished, or never was).
        """
        job = self.job(job_id)
        job._cancel.set()
        return job

    def _run(self, job: Job) -> None:
        """Run ``job`` on the slot's model of now (an executor thread)."""
        if job._cancel.is_set():
            self._finish(job, JobFailed(job, "cancelled", "cancelled before it started"))
            return
        with self._lock:
            bound = self._bound[job.slot]
            bound.users += 1
            job.state, job.model = "running", bound.model.describe()
        deadline = None if job.timeout_s is None else time.monotonic() + job.timeout_s

        def progress(step: int, steps: int) -> None:
            # Also a check: executors call it while they wait, with the step unchanged.
            if job._cancel.is_set():
                raise _Stop("cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise _Stop("timeout")
            if (step, steps) != (job.step, job.steps):
                job.step, job.steps = step, steps
                self._emit(JobProgress(job, step, steps))

        try:
            result = bound.model.run(job.request, progress)
            event: Event = JobDone(job, result)
        except _Stop as stop:
            text = "cancelled" if stop.code == "cancelled" else f"took over {job.timeout_s} s"
            event = JobFailed(job, stop.code, text)
        except GenerationError as exc:
            event = JobFailed(job, "failed", str(exc))
        except MemoryError:
            event = JobFailed(job, "out_of_memory", "out of memory; try a smaller size")
        except Exception as exc:
            if "out of memory" in str(exc).lower():
                event = JobFailed(job, "out_of_memory", f"out of memory: {exc}")
            else:
                log.exception("job %d (%s) failed", job.id, job.slot)
                event = JobFailed(job, "failed", f"the model failed: {exc!r}")
        finally:
            with self._lock:
                done_with = bound.release()
            if done_with:
                bound.model.close()
        self._finish(job, event)

    def _finish(self, job: Job, event: Event) -> None:
        with self._lock:
            job.state = (
                "done"
                if isinstance(event, JobDone)
                else (
                    "cancelled"
                    if isinstance(event, JobFailed) and event.code == "cancelled"
                    else "failed"
                )
            )
            self._jobs.pop(job.id, None)
        self._emit(event)

    def _emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)


class _Watch:
    """A thread that rebinds slots whose folders changed, and follows the bindings file."""

    def __init__(self, runtime: GenerationRuntime, period_s: float) -> None:
        self.runtime, self.period_s = runtime, period_s
        self._stop = threading.Event()
        self._seen: dict[str, tuple] = {}
        self._bindings_seen = self._bindings_stamp()
        self._thread = threading.Thread(
            target=self._loop, name="continuum-model-watch", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def saw_bindings(self) -> None:
        """The runtime wrote the bindings file itself: not a change to follow."""
        self._bindings_seen = self._bindings_stamp()

    def _bindings_stamp(self) -> tuple:
        path = self.runtime.bindings_file
        if path is None:
            return ()
        try:
            stat = path.stat()
        except FileNotFoundError:
            return ("missing",)
        return (stat.st_mtime_ns, stat.st_size)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self._look()
            except Exception:
                log.exception("the model watcher failed; it goes on")

    def _look(self) -> None:
        runtime = self.runtime
        stamp = self._bindings_stamp()
        if stamp != self._bindings_seen:
            self._bindings_seen = stamp
            try:
                specs = load_bindings(runtime.bindings_file)  # type: ignore[arg-type]
            except GenerationError as exc:
                log.warning("bindings file not applied: %s", exc)
                specs = None
            if specs is not None:
                for status in runtime.status():
                    spec = specs.get(status.slot, BUILTIN)
                    if spec != status.spec and spec != status.loading:
                        log.info("slot %s: the bindings file now says %s", status.slot, spec)
                        runtime.bind(status.slot, spec)
        for status in runtime.status():
            if status.spec.builtin or status.state == "loading":
                continue
            stamp = _folder_stamp(status.spec.path)  # type: ignore[arg-type]
            key = (status.spec, status.version)
            before = self._seen.get(status.slot)
            if before is None or before[0] != key:
                self._seen[status.slot] = (key, stamp, False)  # newly bound: the baseline
            elif before[1] != stamp:
                self._seen[status.slot] = (key, stamp, True)  # changed: wait until it settles
            elif before[2]:
                log.info("slot %s: files changed in %s; reloading", status.slot, status.spec.path)
                self._seen[status.slot] = (key, stamp, False)
                runtime.bind(status.slot, status.spec)


def _folder_stamp(folder: Path) -> tuple:
    """What changes when a file in ``folder`` is added, removed or rewritten."""
    out = []
    try:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                out.append((str(path), stat.st_mtime_ns, stat.st_size))
    except OSError:
        return ("unreadable",)
    return tuple(out)
