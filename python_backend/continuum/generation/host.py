"""A model in a process of its own, so that loading and running it never holds up the backend.

Loading a diffusers pipeline and running it are long stretches of Python (module construction,
the sampler's loop) that hold the interpreter's lock: in the backend's process they would stall
the state stream and the physics thread. ``HostedModel`` loads the model in a child process
(``spawn``: a fresh interpreter) and runs jobs there; the parent only sends requests and relays
progress, results and errors over a pipe.

The pipe carries ``(command, ...)`` tuples: the parent sends ``("run", request)``, ``("cancel",)``
and ``("close",)``; the child answers ``("ready", description)`` or ``("error", message)`` once
loaded, then per run ``("progress", step, steps)`` messages and one ``("ok", result)``,
``("cancelled",)``, ``("failed", message)`` or ``("out_of_memory", message)``. A child whose
parent is gone (the pipe closes) exits.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from typing import TYPE_CHECKING, Any

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.models import Cancelled, load_model, raise_outcome, run_outcome

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from continuum.generation.builtin import Progress
    from continuum.generation.slots import Request, Result
    from continuum.generation.specs import ModelSpec

POLL_S = 0.05


class HostedModel:
    """``spec``'s model for ``slot``, loaded in a child process; blocks until it is loaded.

    Raises:
        ModelLoadError: the child could not load it (the message is the loader's), or died.
    """

    def __init__(self, slot: str, spec: ModelSpec, *, torch_threads: int | None = None) -> None:
        self.slot = slot
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_child_main,
            args=(child, slot, spec, torch_threads),
            name=f"continuum-model-{slot}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        try:
            reply = self._receive(lambda: None)
        except GenerationError as exc:
            self.close()
            raise ModelLoadError(f"slot {slot}: {exc}") from None
        if reply[0] != "ready":
            self.close()
            raise ModelLoadError(reply[1])
        self._description = {**reply[1], "process": self._process.pid}

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def run(self, request: Request, progress: Progress) -> Result:
        with self._lock:  # one job at a time, as in a local model
            self._send(("run", request))
            step = [0, 0]  # the last reported; progress() also checks for a cancel or timeout

            def check() -> None:
                progress(step[0], step[1])

            while True:
                try:
                    reply = self._receive(check)
                    if reply[0] != "progress":
                        break
                    step[:] = reply[1:]
                    check()
                except BaseException:
                    self._send(("cancel",))
                    self._drain()
                    raise
        return raise_outcome(*reply)

    def close(self) -> None:
        """Stop the child (at once if it does not stop within a few seconds). Idempotent."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, ValueError):  # gone: the child is exiting
                self._conn.send(("close",))
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._conn.close()

    def _send(self, message: tuple) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError):
            raise GenerationError(self._death()) from None

    def _receive(self, waiting: Any) -> tuple:
        """The child's next message; ``waiting()`` runs every POLL_S meanwhile."""
        while True:
            try:
                if self._conn.poll(POLL_S):
                    return self._conn.recv()
            except (EOFError, OSError):
                raise GenerationError(self._death()) from None
            if not self._process.is_alive():
                raise GenerationError(self._death())
            waiting()

    def _drain(self) -> None:
        """After a cancel: read until the run's end, so the pipe is clean for the next run."""
        try:
            while self._receive(lambda: None)[0] == "progress":
                pass
        except GenerationError:
            pass  # the child died: the next run says so

    def _death(self) -> str:
        self._process.join(1)
        return (
            f"the model's process {self._process.pid} ended (exit code "
            f"{self._process.exitcode}); rebind the slot to load it again"
        )


def _child_main(conn: Connection, slot: str, spec: ModelSpec, torch_threads: int | None) -> None:
    """The child process: load, answer, then serve runs until told to close."""
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)

    try:
        model = load_model(slot, spec)
    except ModelLoadError as exc:
        conn.send(("error", str(exc)))
        return
    except MemoryError:
        conn.send(("error", f"slot {slot}: out of memory loading {spec.to_json()['model']}"))
        return
    conn.send(("ready", model.describe()))
    try:
        while True:
            command = conn.recv()
            if command[0] == "close":
                break
            if command[0] == "run":
                conn.send(_run(conn, model, command[1]))
            # a stray "cancel" (the job ended as it was sent) is dropped
    except (EOFError, OSError):
        pass  # the parent is gone
    finally:
        model.close()


def _run(conn: Connection, model: Any, request: Request) -> tuple:
    def progress(step: int, steps: int) -> None:
        while conn.poll(0):
            if conn.recv()[0] == "cancel":
                raise Cancelled
        conn.send(("progress", step, steps))

    return run_outcome(model, request, progress)
