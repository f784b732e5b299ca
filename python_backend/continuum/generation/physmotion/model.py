"""The motion model: a denoiser over trajectories, conditioned on physical parameters, as a folder.

**The denoiser** (``TrajectoryDenoiser``, a diffusers ``ModelMixin``) is a small transformer
over the trajectory cut into patches of ``patch`` frames. It predicts the velocity
v = sqrt(a_t) noise - sqrt(1 - a_t) x0 (diffusers' ``prediction_type="v_prediction"``,
Salimans and Ho 2022), from which the clean sample is x0 = sqrt(a_t) x_t - sqrt(1 - a_t) v
(``clean``): at high noise v is about -x0, a regression from the condition (a rollout is a
deterministic function of its parameters; predicting the noise there gave held-out offsets of
1.2 to 2.3 m), and at low noise x0 is nearly the input, the network's error scaled down by
sqrt(1 - a_t) (predicting x0 itself, format version 1, left 7 cm of error at t = 0 where the
input is the answer; v leaves 7 mm).

The conditioning: the parameter vector (``scenarios.condition``: the parameters normalised to
[-1, 1] and the scenario's one-hot, then every body's start state, positions / 2 m and
velocities / 5 m/s) and the diffusion timestep are embedded together and modulate every block
(adaLN-Zero, Peebles and Xie 2023: a scale, a shift and a gate per block); the guide
(``flight.free_flight``: each body's free flight kept out of the ground and the ramp,
normalised like the samples) enters beside the noisy sample, frame by frame. What each part
did, on held-out settings after the same training (10,000 rollouts, 3000 steps): the condition
added to every token (version 1) with v-prediction, mean offset from MuJoCo 0.41 m and 50 % of
samples penetrating; adaLN, 0.25 m and 33 %; adaLN and the guide, 0.17 m and 6 %. (Version 1's
clean-sample prediction with the added condition: 0.23 m and 38 %.) Training twice as long
(6000 steps, ``train.TrainConfig``'s default) took the last to 0.11 m and 1.6 %: at 3000 steps
the model underfits (its errors on training and unseen settings are equal).

Why not diffusers' ``UNet1DModel``: at its smallest useful size (channels 32, 64, 128) one
training step of batch 64 takes 1.8 s on 2 CPU cores, this transformer about 70 ms, so a model
trains in minutes on a laptop.

**What it generates** is every body's displacement from its start position, divided by
``displacement_scale`` (per channel, from the training data): channels x, y, z of the first body
then of the second (zero for one-body scenarios). Frame 0 is pinned to the start (a displacement
of 0) after sampling: the start is known exactly.

**Sampling** is DDIM (``ddim_step``, checked against diffusers' ``DDIMScheduler.step``) over
``steps`` steps; ``eta`` > 0 makes each step a Gaussian with a known mean and deviation, so the
samples of one setting differ (the motion slot picks the best of several for a target); its
noise is drawn before each step's mean, so a sample is a differentiable function of the weights
given the noise (``grad_steps``: the RL alignment, ``align``, differentiates the reward through
the chain). The last step's output
goes through ``seam_filter``, a fixed temporal filter that removes the error repeating every
``patch`` frames (the tokens' seams; on held-out settings it cut the free-fall acceleration
residual from 33 to 13 m/s^2, the energy gain from 8.8 to 1.2 J/kg and the penetrating samples
from 8 % to 5 %, with the offset unchanged); it is part of sampling, not of training.
Training noises with the DDPM schedule saved in ``scheduler/``.

**The folder** (``save_pretrained`` / ``from_pretrained``)::

    physmotion.json   {"format": "continuum.physmotion", "version": 1, "scenarios": [...],
                       "params": {name: [lo, hi]} per scenario, "param_names": [...],
                       "frames": 64, "fps": 30, "channels": [...], "displacement_scale": [...]}
    model/            config.json + diffusion_pytorch_model.safetensors (safetensors only)
    scheduler/        scheduler_config.json (a DDPMScheduler)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from diffusers import ConfigMixin, DDPMScheduler, ModelMixin
from diffusers.configuration_utils import register_to_config
from safetensors import SafetensorError
from torch import nn

from continuum.errors import ModelLoadError
from continuum.generation.physmotion.flight import free_flight
from continuum.generation.physmotion.scenarios import (
    MAX_BODIES,
    PARAM_NAMES,
    SCENARIO_NAMES,
    SCENARIOS,
    check_params,
    condition,
    start_state,
)

FORMAT = "continuum.physmotion"
VERSION = 2  # 2: v-prediction, adaLN blocks, the guide (1: clean sample, added condition)
META_FILE = "physmotion.json"
CHANNELS = ("x", "y", "z", "x2", "y2", "z2")
PARAM_DIM = len(PARAM_NAMES) + len(SCENARIO_NAMES) + MAX_BODIES * 6
DEFAULT_SAMPLER_STEPS = 10
DEFAULT_SAMPLER_ETA = 1.0
_START_SCALE = np.array([2.0, 2.0, 2.0, 5.0, 5.0, 5.0], np.float32)  # m, m/s


@dataclass(frozen=True)
class ModelConfig:
    """The size of a new motion model.

    Attributes:
        frames: trajectory length in frames (a multiple of ``patch``); 64 at 30 fps is 2.1 s.
        fps: frames per second of the training rollouts.
        patch: frames per transformer token.
        width: the transformer's width.
        layers: transformer layers.
        heads: attention heads (divides ``width``).
        train_timesteps: the DDPM schedule's length.
    """

    frames: int = 64
    fps: int = 30
    patch: int = 4
    width: int = 128
    layers: int = 4
    heads: int = 4
    train_timesteps: int = 1000


class TrajectoryDenoiser(ModelMixin, ConfigMixin):
    """The velocity v predicted from a noisy trajectory (see the module docstring).

    Its condition [B, PARAM_DIM + frames * channels] is the parameter vector followed by the
    guide, flattened (``PhysMotionModel.condition_vectors``).
    """

    @register_to_config
    def __init__(
        self,
        frames: int = 64,
        channels: int = 6,
        param_dim: int = PARAM_DIM,
        patch: int = 4,
        width: int = 128,
        layers: int = 4,
        heads: int = 4,
    ) -> None:
        super().__init__()
        tokens = frames // patch
        self.embed = nn.Linear(2 * patch * channels, width)  # the sample and the guide
        self.position = nn.Parameter(torch.zeros(1, tokens, width))
        self.cond = nn.Sequential(
            nn.Linear(param_dim + width, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.final = nn.Linear(width, 2 * width)  # the output's scale and shift
        self.out = nn.Linear(width, patch * channels)
        nn.init.normal_(self.position, std=0.02)
        nn.init.zeros_(self.final.weight)
        nn.init.zeros_(self.final.bias)

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        """The velocity v predicted from ``sample`` [B, T, D] at ``timestep`` [B] given
        ``cond`` [B, PARAM_DIM + T D]  # [B, T, D]"""
        b, t, d = sample.shape
        p, k = self.config.patch, self.config.param_dim
        guide = cond[:, k:].reshape(b, t, d)
        x = torch.cat([sample, guide], dim=2).reshape(b, t // p, 2 * p * d)
        x = self.embed(x) + self.position  # [B, L, W]
        c = self.cond(torch.cat([cond[:, :k], _timestep_embedding(timestep, self.config.width)], 1))
        for block in self.blocks:
            x = block(x, c)
        scale, shift = self.final(c)[:, None].chunk(2, dim=-1)
        return self.out(self.norm(x) * (1 + scale) + shift).reshape(b, t, d)


class _Block(nn.Module):
    """A transformer block modulated by the condition (adaLN-Zero: starts as the identity)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``x`` [B, L, W] modulated by ``c`` [B, W]  # [B, L, W]"""
        scale1, shift1, gate1, scale2, shift2, gate2 = self.modulation(c)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.attention(h, h, h, need_weights=False)[0]
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


def _timestep_embedding(timestep: torch.Tensor, width: int) -> torch.Tensor:
    half = width // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = timestep.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # [B, width]


class PhysMotionModel:
    """A motion model: the denoiser, its noise schedule and its normalisation (a folder)."""

    def __init__(
        self, net: TrajectoryDenoiser, scheduler: DDPMScheduler, meta: dict[str, Any]
    ) -> None:
        self.net, self.scheduler, self.meta = net, scheduler, meta
        self.frames, self.fps = int(meta["frames"]), int(meta["fps"])
        self.scale = torch.tensor(meta["displacement_scale"], dtype=torch.float32)  # [D]
        sampler = meta.get("sampler", {})
        self.sampler_steps = int(sampler.get("steps", DEFAULT_SAMPLER_STEPS))
        self.sampler_eta = float(sampler.get("eta", DEFAULT_SAMPLER_ETA))

    @classmethod
    def create(cls, config: ModelConfig, displacement_scale: np.ndarray) -> PhysMotionModel:
        """A new, untrained model of ``config``'s size; ``displacement_scale`` [6] in metres."""
        if config.frames % config.patch:
            raise ValueError(
                f"ModelConfig.frames ({config.frames}) must be a multiple of patch ({config.patch})"
            )
        net = TrajectoryDenoiser(
            frames=config.frames,
            patch=config.patch,
            width=config.width,
            layers=config.layers,
            heads=config.heads,
        )
        scheduler = DDPMScheduler(
            num_train_timesteps=config.train_timesteps,
            beta_schedule="squaredcos_cap_v2",
            clip_sample=False,
            prediction_type="v_prediction",
        )
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "scenarios": list(SCENARIO_NAMES),
            "param_names": list(PARAM_NAMES),
            "params": {
                s.name: {n: [p.lo, p.hi] for n, p in s.params.items()} for s in SCENARIOS.values()
            },
            "frames": config.frames,
            "fps": config.fps,
            "channels": list(CHANNELS),
            "displacement_scale": [float(v) for v in displacement_scale],
            "sampler": {"steps": DEFAULT_SAMPLER_STEPS, "eta": DEFAULT_SAMPLER_ETA},
        }
        return cls(net, scheduler, meta)

    # -- the folder ---------------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the model folder (see the module docstring); safetensors weights."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.net.save_pretrained(folder / "model", safe_serialization=True)
        self.scheduler.save_pretrained(folder / "scheduler")
        (folder / META_FILE).write_text(json.dumps(self.meta, indent=2))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> PhysMotionModel:
        """The model saved in ``folder``.

        Raises:
            ModelLoadError: a missing folder or file, unreadable or corrupt JSON or weights, a
                format version this code does not read, or parameter ranges unlike this
                code's; the message names the file and the fix.
        """
        folder = Path(folder)
        meta = _read_meta(folder)
        weights = folder / "model" / "diffusion_pytorch_model.safetensors"
        for needed in (
            folder / "model" / "config.json",
            weights,
            folder / "scheduler" / "scheduler_config.json",
        ):
            if not needed.is_file():
                raise ModelLoadError(
                    f"{folder}: {needed.relative_to(folder)} is missing (a physmotion model folder "
                    "holds physmotion.json, model/ with safetensors weights and scheduler/; "
                    "write one with `continuum motion train`)"
                )
        try:
            # Built from its config and filled strictly: weights that do not fit the config
            # (another version's layout) fail here instead of loading half-initialised.
            net = TrajectoryDenoiser.from_config(TrajectoryDenoiser.load_config(folder / "model"))
            net.load_state_dict(safetensors.torch.load_file(weights), strict=True)
            scheduler = DDPMScheduler.from_pretrained(folder / "scheduler")
        except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
            raise ModelLoadError(
                f"{folder}: cannot load the model: {type(exc).__name__}: {exc}"
            ) from None
        net.eval()
        return cls(net, scheduler, meta)

    # -- the parametrisation ------------------------------------------------------------------

    def velocity(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The denoiser's target v for clean samples ``x0`` [N, T, D] noised with ``noise``
        [N, T, D] at timesteps ``t`` [N]  # [N, T, D]"""
        return self.scheduler.get_velocity(x0, noise, t)

    def clean(self, x: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The clean sample from noisy samples ``x`` [N, T, D] at timesteps ``t`` [N] and the
        predicted velocity ``v`` [N, T, D]  # [N, T, D]"""
        a = self.scheduler.alphas_cumprod[t].to(x.dtype)[:, None, None]
        return a.sqrt() * x - (1 - a).sqrt() * v

    # -- sampling -----------------------------------------------------------------------------

    def conditions(
        self, scenario: str, params: Mapping[str, float]
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The denoiser's condition [PARAM_DIM + T D] of ``scenario`` with ``params``, and the
        start states [MAX_BODIES, 6] (zero rows for absent bodies)."""
        p = check_params(scenario, params)
        starts = np.zeros((MAX_BODIES, 6), np.float32)
        s = start_state(scenario, p)
        starts[: len(s)] = s
        guide = free_flight(scenario, p, frames=self.frames, fps=self.fps)
        cond = self.condition_vectors(condition(scenario, p)[None], starts[None], guide[None])
        return cond[0], starts

    def condition_vectors(
        self, conditions: np.ndarray, starts: np.ndarray, guides: np.ndarray
    ) -> torch.Tensor:
        """The denoiser's conditions [N, PARAM_DIM + T D] from ``scenarios.condition`` rows
        [N, C0], start states [N, MAX_BODIES, 6] (positions / 2 m, velocities / 5 m/s) and
        ``flight.free_flight`` guides [N, T, MAX_BODIES, 3] (normalised like the samples)."""
        scaled = (starts / _START_SCALE).reshape(len(starts), -1)
        params = torch.from_numpy(np.concatenate([conditions, scaled], axis=1).astype(np.float32))
        guide = self.normalise(guides, starts).reshape(len(starts), -1)
        return torch.cat([params, guide], dim=1)

    def sample(
        self,
        scenario: str,
        params: Mapping[str, float],
        *,
        n: int = 1,
        steps: int | None = None,
        eta: float | None = None,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """``n`` trajectories of ``scenario``: the bodies' positions, scenario frame  # [n, T, B, 3]

        ``steps`` and ``eta`` default to the model's sampler (physmotion.json's ``sampler``).

        Raises:
            GenerationError: an unknown scenario, a bad parameter.
        """
        cond, starts = self.conditions(scenario, params)
        x = self.denoise(
            cond[None].expand(n, -1),
            steps=self.sampler_steps if steps is None else steps,
            eta=self.sampler_eta if eta is None else eta,
            generator=torch.Generator().manual_seed(seed),
            progress=progress,
        )
        bodies = SCENARIOS[scenario].bodies
        return self.positions(x, starts[None])[:, :, :bodies]

    def positions(self, x: torch.Tensor, starts: np.ndarray) -> np.ndarray:
        """``trajectories`` as numpy, detached  # [N, T, MAX_BODIES, 3]"""
        return self.trajectories(x.detach(), starts).numpy()

    def trajectories(self, x: torch.Tensor, starts: np.ndarray) -> torch.Tensor:
        """Positions [N, T, MAX_BODIES, 3] from model-space samples ``x`` [N, T, D] and start
        states ``starts`` [N, MAX_BODIES, 6]; frame 0 pinned to the start; differentiable in
        ``x``."""
        disp = (x * self.scale).reshape(len(x), self.frames, MAX_BODIES, 3)
        disp = torch.cat([torch.zeros_like(disp[:, :1]), disp[:, 1:]], dim=1)
        return disp + torch.from_numpy(np.asarray(starts, np.float32)[:, None, :, :3])

    def normalise(self, positions: np.ndarray, starts: np.ndarray) -> torch.Tensor:
        """Model-space samples [N, T, D] from positions [N, T, MAX_BODIES, 3] and start states
        [N, MAX_BODIES, 6] (the inverse of ``positions``)."""
        disp = positions - starts[:, None, :, :3]
        n = len(positions)
        return torch.from_numpy(disp.reshape(n, self.frames, -1).astype(np.float32)) / self.scale

    def denoise(
        self,
        cond: torch.Tensor,
        *,
        steps: int,
        eta: float,
        generator: torch.Generator,
        grad_steps: int = 0,
        trace: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Model-space samples [N, T, D] for conditions ``cond`` [N, C] by DDIM.

        Args:
            grad_steps: how many of the last steps record autograd's graph, so that the sample
                is differentiable in the weights through them (alignment); the others run
                without it. The chain's noise is drawn from ``generator`` either way.
            trace: where each of those steps appends its input, timestep and predicted v
                ([N, T, D], [N], [N, T, D]).
            progress: called with (steps done, steps) after each step.
        """
        t_train = self.scheduler.config.num_train_timesteps
        x = torch.randn((len(cond), self.frames, len(CHANNELS)), generator=generator)
        for i, t in enumerate(ddim_timesteps(t_train, steps)):
            graded = i >= steps - grad_steps
            with torch.set_grad_enabled(graded):
                timestep = torch.full((len(cond),), t)
                v = self.net(x, timestep, cond)
                if graded and trace is not None:
                    trace.append((x, timestep, v))
                x0 = self.clean(x, v, timestep)
                mean, std = ddim_step(self.scheduler.alphas_cumprod, x0, t, x, steps=steps, eta=eta)
                x = mean + std * torch.randn(x.shape, generator=generator) if std > 0 else mean
            if progress is not None:
                progress(i + 1, steps)
        with torch.set_grad_enabled(grad_steps > 0):
            return seam_filter(x, self.net.config.patch)


def seam_filter(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``x`` [N, T, D] filtered in time by a box of ``patch`` frames, convolved with [1, 1] / 2
    when ``patch`` is even (symmetric, so no delay; for patch 4: [1, 2, 2, 2, 1] / 8), ends
    padded by odd reflection (x[-j] = 2 x[0] - x[j]), which keeps a straight line straight
    # [N, T, D]

    Why: every token writes ``patch`` frames through one linear head, and the sampled motions carry
    an error that repeats every ``patch`` frames (seams: second differences of 30 to 60 m/s^2 on
    a ballistic flight whose true value is g). The kernel's response is zero at every multiple of
    1 / ``patch`` cycles per frame, so any ``patch``-periodic error is removed, while a parabola
    keeps its second difference (its value shifts by a constant: 8 mm for g at 30 fps).
    """
    if patch <= 1 or x.shape[1] < 2:
        return x
    if patch % 2:  # an odd box is symmetric already
        kernel = torch.ones(patch, dtype=x.dtype) / patch
    else:
        kernel = torch.ones(patch + 1, dtype=x.dtype)
        kernel[0] = kernel[-1] = 0.5
        kernel = kernel / patch
    half = len(kernel) // 2
    reach = min(half, x.shape[1] - 1)
    head = 2 * x[:, :1] - x[:, 1 : reach + 1].flip(1)
    tail = 2 * x[:, -1:] - x[:, -reach - 1 : -1].flip(1)
    padded = torch.cat([head, x, tail], dim=1)  # [N, T + 2 reach, D]
    n, t, d = padded.shape
    flat = padded.permute(0, 2, 1).reshape(n * d, 1, t)
    k = kernel[half - reach : len(kernel) - half + reach]
    out = torch.nn.functional.conv1d(flat, k.view(1, 1, -1))
    return out.reshape(n, d, -1).permute(0, 2, 1)


def ddim_timesteps(train_timesteps: int, steps: int) -> list[int]:
    """DDIM's timesteps, last first, as diffusers' DDIMScheduler spaces them ("leading")."""
    ratio = train_timesteps // steps
    return [i * ratio for i in reversed(range(steps))]


def ddim_step(
    alphas_cumprod: torch.Tensor,
    x0: torch.Tensor,
    t: int,
    x: torch.Tensor,
    *,
    steps: int,
    eta: float,
) -> tuple[torch.Tensor, float]:
    """The mean [N, T, D] and deviation of x_{t-1} given x_t ``x`` and the predicted clean
    sample ``x0`` (DDIM, Song et al. 2020, eq. 12 and 16; x_{t-1} = mean + std * N(0, I))."""
    prev_t = t - len(alphas_cumprod) // steps
    a_t = alphas_cumprod[t]
    a_prev = alphas_cumprod[prev_t] if prev_t >= 0 else torch.tensor(1.0)
    eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    variance = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
    std = float(eta * variance.sqrt())
    mean = a_prev.sqrt() * x0 + (1 - a_prev - std**2) ** 0.5 * eps
    return mean, std


def _read_meta(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: no such model folder")
    path = folder / META_FILE
    if not path.is_file():
        raise ModelLoadError(f"{folder}: not a physmotion model folder: no {META_FILE}")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: its format is not {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise ModelLoadError(
            f"{path}: format version {meta.get('version')!r}; this Continuum reads version "
            f"{VERSION} (retrain with `continuum motion train`)"
        )
    expected = {s.name: {n: [p.lo, p.hi] for n, p in s.params.items()} for s in SCENARIOS.values()}
    if meta.get("params") != expected or meta.get("param_names") != list(PARAM_NAMES):
        raise ModelLoadError(
            f"{path}: its scenarios or parameter ranges differ from this Continuum's (the "
            "normalisation would be wrong); retrain with `continuum motion train`"
        )
    for key in ("frames", "fps", "channels", "displacement_scale"):
        if key not in meta:
            raise ModelLoadError(f"{path}: {key!r} is missing")
    if meta["channels"] != list(CHANNELS) or len(meta["displacement_scale"]) != len(CHANNELS):
        raise ModelLoadError(f"{path}: channels must be {list(CHANNELS)}")
    return meta
