"""Where models load and jobs run: ``LocalExecutor`` (this process, the default) or
``RayExecutor`` (a Ray cluster: ``pip install continuum[ray]``, ``continuum serve --executor ray``).

The runtime asks an executor to ``load`` a spec (a model it can run) and to ``submit`` a job's
runner, which calls the model's ``run`` when the job's turn comes. Locally the model is the real
one; on Ray it is a handle on a Ray actor that loaded the model once on the cluster: its ``run``
sends the request there and relays progress step by step, and stops the actor's run when the job
is cancelled. Either way a model runs one job at a time.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.models import Cancelled, Model, load_model, raise_outcome, run_outcome

if TYPE_CHECKING:
    from continuum.generation.builtin import Progress
    from continuum.generation.slots import Request, Result
    from continuum.generation.specs import ModelSpec


class Executor(Protocol):
    """Where a runtime's models load and its jobs run."""

    def load(self, slot: str, spec: ModelSpec) -> Model: ...

    def submit(self, runner: Callable[[], None]) -> None: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Models on this machine; jobs' runners on ``workers`` threads, in submission order.

    A model folder loads in a process of its own (``host.HostedModel``), where its jobs run
    too, so that neither loading nor generating holds up the backend's threads (requests, the
    state stream, the physics); ``isolate=False`` loads it in this process instead (quicker to
    start, for tools that do nothing else). Built-in models always run here: they are light.
    ``torch_threads`` bounds the threads torch uses in a model's process.
    """

    def __init__(
        self, workers: int = 1, *, isolate: bool = True, torch_threads: int | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="continuum-job"
        )
        self.isolate = isolate
        self._torch_threads = torch_threads

    def load(self, slot: str, spec: ModelSpec) -> Model:
        if spec.builtin or not self.isolate:
            return load_model(slot, spec)
        from continuum.generation.host import HostedModel

        return HostedModel(slot, spec, torch_threads=self._torch_threads)

    def submit(self, runner: Callable[[], None]) -> None:
        self._pool.submit(runner)

    def close(self) -> None:
        """Wait for the running jobs (the runtime cancels them first); drop the queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Models and jobs on a Ray cluster (``address``: "auto", "ray://host:port", or None to
    start a local one); the jobs' runners wait here, ``workers`` at a time.

    Raises:
        GenerationError: Ray is not installed (``pip install continuum[ray]``), or the cluster
            cannot be reached.
    """

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
            where = address or "a local cluster"
            raise GenerationError(f"cannot reach the Ray cluster at {where}: {exc}") from None
        self._local = LocalExecutor(workers)
        self._actor_class = ray.remote(_ActorBody)

    def load(self, slot: str, spec: ModelSpec) -> Model:
        """Load ``spec`` in a new Ray actor. Raises ModelLoadError as loading locally would."""
        ray = self._ray
        # max_concurrency 2: progress and cancel calls get through while run() works. An actor
        # holds no CPU of the cluster's (one per slot would starve a small one); a CUDA model
        # holds a GPU, so Ray places it on a node that has one.
        gpus = 1 if spec.device.startswith("cuda") else 0
        actor = self._actor_class.options(max_concurrency=2, num_cpus=0, num_gpus=gpus).remote(
            slot, spec
        )
        try:
            kind, value = ray.get(actor.describe.remote())
        except Exception as exc:
            ray.kill(actor)
            raise ModelLoadError(f"slot {slot}: the Ray actor failed to start: {exc}") from None
        if kind == "error":
            ray.kill(actor)
            raise ModelLoadError(value)
        return RemoteModel(ray, actor, slot, value)

    def submit(self, runner: Callable[[], None]) -> None:
        self._local.submit(runner)

    def close(self) -> None:
        self._local.close()


class RemoteModel:
    """A model loaded in a Ray actor (made by ``RayExecutor.load``)."""

    POLL_S = 0.05

    def __init__(self, ray: Any, actor: Any, slot: str, description: dict[str, Any]) -> None:
        self._ray, self._actor, self.slot = ray, actor, slot
        self._description = {**description, "executor": "ray"}
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def run(self, request: Request, progress: Progress) -> Result:
        ray, actor = self._ray, self._actor
        with self._lock:
            ref = actor.run.remote(request)
            try:
                while True:
                    done, _ = ray.wait([ref], timeout=self.POLL_S)
                    progress(*ray.get(actor.progress.remote()))  # raises to stop: told below
                    if done:
                        break
            except BaseException:
                actor.cancel.remote()
                raise
            outcome = ray.get(ref)
        return raise_outcome(*outcome)

    def close(self) -> None:
        self._ray.kill(self._actor)


class _ActorBody:
    """What runs inside the Ray actor: the model, loaded once, and the running job's step."""

    def __init__(self, slot: str, spec: ModelSpec) -> None:
        self.model: Model | None = None
        self.error: str | None = None
        try:
            self.model = load_model(slot, spec)
        except ModelLoadError as exc:
            self.error = str(exc)
        self.step = (0, 0)
        self.cancelled = threading.Event()

    def describe(self) -> tuple[str, Any]:
        if self.model is None:
            return ("error", self.error)
        return ("ok", self.model.describe())

    def run(self, request: Request) -> tuple[str, Any]:
        assert self.model is not None
        self.cancelled.clear()
        self.step = (0, 0)

        def progress(step: int, steps: int) -> None:
            if self.cancelled.is_set():
                raise Cancelled
            self.step = (step, steps)

        return run_outcome(self.model, request, progress)

    def progress(self) -> tuple[int, int]:
        return self.step

    def cancel(self) -> None:
        self.cancelled.set()
