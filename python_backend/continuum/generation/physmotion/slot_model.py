"""A physmotion model folder as the model of the ``motion`` slot.

The request must name a scenario (a model only knows its scenarios). It samples the model's
own horizon (``frames`` at ``fps`` in physmotion.json, 64 at 30 by default) with its sampler
(physmotion.json's ``sampler``: DDIM steps and eta), seeded by the request's seed, then gives
the request's frames at the request's fps: the same frames when the rates match, else linear
interpolation in time; a request longer than the horizon is refused (the built-in model
re-simulates any length). The end velocity is the backward difference over the model's last
frame interval before the requested end (the start velocity for a one-frame request).

With a ``target``, it samples ``TARGET_CANDIDATES`` (8) trajectories in one batch and keeps the
one that passes closest to the target (the reward's constraint term, ``reward``): selection,
not guidance, so every candidate is a plain sample of the model and the choice costs one batch.
Runs on the CPU in float32 (a model of this size gains nothing from a GPU: a sample takes
about 20 ms); a spec asking for another device or dtype is refused rather than quietly run
there.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.builtin import Progress
from continuum.generation.physmotion.model import CHANNELS, PhysMotionModel
from continuum.generation.physmotion.scenarios import SCENARIO_NAMES, SCENARIOS
from continuum.generation.slots import Motion, Request, Trajectory
from continuum.generation.specs import ModelSpec

TARGET_CANDIDATES = 8


def load_physmotion(slot: str, spec: ModelSpec) -> PhysMotionSlotModel:
    """The physmotion folder ``spec.path`` as the model of ``slot`` (which must be motion).

    Raises:
        ModelLoadError: another slot, a device or dtype other than cpu and float32, or a folder
            that does not load (``from_pretrained``).
    """
    if slot != "motion":
        raise ModelLoadError(
            f"{spec.path}: a physmotion model folder serves the motion slot only, not {slot}"
        )
    if (spec.device, spec.dtype) != ("cpu", "float32"):
        raise ModelLoadError(
            f"{spec.path}: a physmotion model runs on the CPU in float32 (it is small enough; "
            f'this spec asks for {spec.device} and {spec.dtype}): bind it with device "cpu" '
            'and dtype "float32"'
        )
    assert spec.path is not None  # load_model sends folders only
    return PhysMotionSlotModel(PhysMotionModel.from_pretrained(spec.path), name=spec.path.name)


class PhysMotionSlotModel:
    """A loaded physmotion model serving the motion slot (see the module docstring)."""

    slot = "motion"

    def __init__(self, model: PhysMotionModel, *, name: str) -> None:
        self.model = model
        self._lock = threading.Lock()  # one run at a time: torch's threads are the machine's
        self._description = {
            "name": name,
            "pipeline": "physmotion",
            "device": "cpu",
            "dtype": "float32",
            "parameters": sum(p.numel() for p in model.net.parameters()),
            "scenarios": list(SCENARIO_NAMES),
            "frames": model.frames,
            "fps": model.fps,
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    def run(self, request: Request, progress: Progress) -> Trajectory:
        if not isinstance(request, Motion):
            raise GenerationError(f"physmotion: not a motion request: {request!r:.80}")
        if not request.scenario:
            raise GenerationError(
                "motion.scenario: a physmotion model needs one of "
                f"{', '.join(SCENARIO_NAMES)} (bind the built-in model for the plain ballistic "
                "motion)"
            )
        m = self.model
        horizon = (m.frames - 1) / m.fps
        if (request.frames - 1) / request.fps > horizon + 1e-9:
            raise GenerationError(
                f"motion.frames: this model generates {horizon:.2f} s ({m.frames} frames at "
                f"{m.fps} fps); {request.frames} frames at {request.fps} fps is longer: ask for "
                "fewer frames or bind the built-in model (re-simulation, any length)"
            )
        origin = np.asarray(request.origin, np.float64)
        n = 1 if request.target is None else TARGET_CANDIDATES
        with self._lock, torch.inference_mode():
            samples = m.sample(
                request.scenario, request.params, n=n, seed=request.seed, progress=progress
            )  # [n, T, B, 3]
        if request.target is not None:
            target = np.asarray(request.target) - origin
            distance = np.linalg.norm(samples[:, :, 0] - target, axis=-1).min(axis=1)
            samples = samples[int(np.argmin(distance))][None]
        positions = samples[0].astype(np.float64)  # [T, B, 3]
        bodies = SCENARIOS[request.scenario].bodies
        times = np.arange(request.frames) / request.fps * m.fps  # in model frames
        values = _interpolate(positions, times) + origin  # [F, B, 3]
        if request.frames == 1:
            _, starts = m.conditions(request.scenario, request.params)
            velocity = starts[:bodies, 3:]
        else:
            end = times[-1]
            before = _interpolate(positions, np.array([max(end - 1.0, 0.0)]))[0]
            velocity = (values[-1] - origin - before) * m.fps / min(end, 1.0)
        return Trajectory(
            values.reshape(request.frames, -1).astype(np.float32),
            CHANNELS[: 3 * bodies],
            request.fps,
            tuple(float(v) for v in velocity.ravel()),
        )

    def close(self) -> None:
        """Nothing beyond memory to free."""


def _interpolate(positions: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``positions`` [T, B, 3] at fractional frame ``times`` [F] (linear)  # [F, B, 3]"""
    lo = np.clip(np.floor(times).astype(np.int64), 0, len(positions) - 1)
    hi = np.minimum(lo + 1, len(positions) - 1)
    w = (times - lo)[:, None, None]
    return positions[lo] * (1 - w) + positions[hi] * w
