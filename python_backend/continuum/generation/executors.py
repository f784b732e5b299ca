"""Where jobs run: ``LocalExecutor`` (threads of this process, the default) or ``RayExecutor``
(a Ray cluster: ``pip install continuum[ray]``, ``continuum serve --executor ray``).

The runtime hands an executor two things: ``submit(fn)`` queues a job's runner, which calls
``run(spec, model, request, progress)`` when the job's turn comes. Locally ``run`` is the model's
own ``run``; on Ray it runs the same model code in a Ray actor that loads the spec once and keeps
it, reporting progress back step by step and stopping when the job is cancelled.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from continuum.errors import GenerationError

if TYPE_CHECKING:
    from continuum.generation.builtin import Progress
    from continuum.generation.slots import Request, Result
    from continuum.generation.specs import ModelSpec


class Executor(Protocol):
    def submit(self, runner: Callable[[], None]) -> None: ...

    def run(self, spec: ModelSpec, model: Any, request: Request, progress: Progress) -> Result: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Jobs on ``workers`` threads of this process, in submission order.

    ``torch_threads`` bounds the threads torch uses inside a job, so that generating leaves the
    backend's own threads (requests, ticks, physics) a core.
    """

    def __init__(self, workers: int = 1, *, torch_threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="continuum-job"
        )
        self._torch_threads = torch_threads

    def submit(self, runner: Callable[[], None]) -> None:
        self._pool.submit(runner)

    def run(self, spec: ModelSpec, model: Any, request: Request, progress: Progress) -> Result:
        if self._torch_threads is not None:
            import torch

            torch.set_num_threads(self._torch_threads)
        return model.run(request, progress)

    def close(self) -> None:
        """Wait for the running jobs (the runtime cancels them first); drop the queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Jobs on a Ray cluster (``address``: "auto", "ray://host:port", or None to start a local
    one). The model runs in one Ray actor per (slot, spec), which loads it once; the local
    model object only describes it.

    Raises:
        GenerationError: Ray is not installed (``pip install continuum[ray]``), or the cluster
            cannot be reached.
    """

    POLL_S = 0.05

    def __init__(
        self, address: str | None = None, *, workers: int = 1, num_cpus: int | None = None
    ) -> None:
        try:
            import ray
        except ImportError:
            raise GenerationError(
                "the Ray executor needs Ray: pip install 'continuum[ray]' (or ray>=2.9)"
            ) from None
        self._ray = ray
        try:
            if not ray.is_initialized():
                ray.init(
                    address=address,
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                )
        except Exception as exc:
            raise GenerationError(
                f"cannot reach the Ray cluster at {address or 'local'}: {exc}"
            ) from None
        self._local = LocalExecutor(workers)
        self._actors: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def submit(self, runner: Callable[[], None]) -> None:
        self._local.submit(runner)

    def run(self, spec: ModelSpec, model: Any, request: Request, progress: Progress) -> Result:
        actor = self._actor(model.slot, spec)
        ray = self._ray
        ref = actor.run.remote(request)
        try:
            while True:
                done, _ = ray.wait([ref], timeout=self.POLL_S)
                progress(*ray.get(actor.progress.remote()))  # raises to stop: told below
                if done:
                    return _unwrap(ray.get(ref))
        except BaseException:
            actor.cancel.remote()
            raise

    def _actor(self, slot: str, spec: ModelSpec) -> Any:
        key = (slot, spec)
        with self._lock:
            actor = self._actors.get(key)
            if actor is None:
                actor = _ModelActor.options(max_concurrency=4).remote(slot, spec)
                self._actors[key] = actor
            return actor

    def close(self) -> None:
        self._local.close()
        with self._lock:
            for actor in self._actors.values():
                self._ray.kill(actor)
            self._actors.clear()


def _unwrap(outcome: tuple[str, Any]) -> Result:
    kind, value = outcome
    if kind == "ok":
        return value
    if kind == "cancelled":
        from continuum.generation.runtime import _Stop

        raise _Stop("cancelled")
    raise GenerationError(value)


class _ActorBody:
    """What runs inside the Ray actor: the model, loaded once, and the running job's step."""

    def __init__(self, slot: str, spec: ModelSpec) -> None:
        from continuum.generation.runtime import load_model

        self.model = load_model(slot, spec)
        self.step = (0, 0)
        self.cancelled = threading.Event()

    def run(self, request: Request) -> tuple[str, Any]:
        self.cancelled.clear()
        self.step = (0, 0)

        def progress(step: int, steps: int) -> None:
            if self.cancelled.is_set():
                raise _Cancelled
            self.step = (step, steps)

        try:
            return ("ok", self.model.run(request, progress))
        except _Cancelled:
            return ("cancelled", None)
        except GenerationError as exc:
            return ("failed", str(exc))

    def progress(self) -> tuple[int, int]:
        return self.step

    def cancel(self) -> None:
        self.cancelled.set()


class _Cancelled(Exception):
    pass


def _remote_class() -> Any:
    import ray

    return ray.remote(num_cpus=1)(_ActorBody)


class _LazyActor:
    """``_ModelActor.options(...).remote(...)`` without importing Ray at module import."""

    def options(self, **kw: Any) -> Any:
        return _remote_class().options(**kw)


_ModelActor = _LazyActor()
