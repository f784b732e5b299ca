"""What a loaded model is to the runtime, and ``load_model``: a spec made into one.

A model serves one slot: ``run(request, progress)`` takes that slot's request (slots.py) and
returns its result, calling ``progress(step, steps)`` after each step (which raises to stop a
cancelled or timed-out job); ``describe()`` says what it is; ``close()`` frees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from continuum.errors import GenerationError
from continuum.generation.builtin import BuiltinModel, Progress
from continuum.generation.slots import Request, Result
from continuum.generation.specs import ModelSpec


class Model(Protocol):
    """A loaded model of one slot."""

    slot: str

    def describe(self) -> dict[str, Any]: ...

    def run(self, request: Request, progress: Progress) -> Result: ...

    def close(self) -> None: ...


Loader = Callable[[str, ModelSpec], Model]


def load_model(slot: str, spec: ModelSpec) -> Model:
    """The model ``spec`` names for ``slot``: the built-in one, a physmotion folder (one with
    ``physmotion.json``) or a diffusers folder.

    Raises:
        ModelLoadError: the folder cannot serve the slot (the message says why).
    """
    if spec.builtin:
        return BuiltinModel(slot)
    if spec.path is not None and (spec.path / "physmotion.json").is_file():
        from continuum.generation.physmotion.slot_model import load_physmotion  # torch-heavy

        return load_physmotion(slot, spec)
    from continuum.generation.diffusers_models import load_diffusers  # torch-heavy

    return load_diffusers(slot, spec)


class Cancelled(Exception):
    """Raised by the progress callback of a model run in another process to stop it."""


def run_outcome(model: Model, request: Request, progress: Progress) -> tuple[str, Any]:
    """Run ``request`` where the model lives (a child process, a Ray actor) and report the end
    as plain data for the caller: ``("ok", result)``, ``("cancelled", text)``, ``("failed",
    text)`` or ``("out_of_memory", text)``; ``raise_outcome`` turns it back on the other side."""
    try:
        return ("ok", model.run(request, progress))
    except Cancelled:
        return ("cancelled", "cancelled")
    except GenerationError as exc:
        return ("failed", str(exc))
    except MemoryError as exc:
        return ("out_of_memory", f"out of memory: {exc}")
    except Exception as exc:
        text = str(exc)
        if "out of memory" in text.lower():
            return ("out_of_memory", f"out of memory: {text}")
        return ("failed", f"the model failed: {exc!r}")


def raise_outcome(kind: str, value: Any) -> Result:
    """The result of a ``run_outcome``, or its error raised here."""
    if kind == "ok":
        return value
    if kind == "out_of_memory":
        raise MemoryError(value)
    if kind == "cancelled":
        raise GenerationError("the model's process stopped the job")
    raise GenerationError(value)
