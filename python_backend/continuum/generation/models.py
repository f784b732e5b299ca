"""What a loaded model is to the runtime, and ``load_model``: a spec made into one.

A model serves one slot: ``run(request, progress)`` takes that slot's request (slots.py) and
returns its result, calling ``progress(step, steps)`` after each step (which raises to stop a
cancelled or timed-out job); ``describe()`` says what it is; ``close()`` frees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

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
    """The model ``spec`` names for ``slot``: the built-in one, or a diffusers folder.

    Raises:
        ModelLoadError: the folder cannot serve the slot (the message says why).
    """
    if spec.builtin:
        return BuiltinModel(slot)
    from continuum.generation.diffusers_models import load_diffusers  # torch-heavy

    return load_diffusers(slot, spec)
