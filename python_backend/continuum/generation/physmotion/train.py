"""Pre-training a motion model on rollouts: DDPM noising, a v-prediction loss, AdamW, cosine decay.

Each step draws ``batch`` samples of the data set, a DDPM timestep per sample and Gaussian
noise, noises the normalised trajectories (``DDPMScheduler.add_noise``) and regresses the
velocity v (mean squared error; the schedule's ``prediction_type`` is "v_prediction", see
``model``). The model is
checkpointed into ``out`` every ``checkpoint_every`` steps and at the end
(``PhysMotionModel.save_pretrained``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from continuum.generation.physmotion.data import Dataset
from continuum.generation.physmotion.flight import free_flight
from continuum.generation.physmotion.model import ModelConfig, PhysMotionModel
from continuum.generation.physmotion.scenarios import MAX_BODIES

MIN_SCALE = 0.05  # m: the smallest displacement scale (a channel that barely moves)


@dataclass(frozen=True)
class TrainConfig:
    """How to pre-train.

    Attributes:
        steps: optimiser steps.
        batch: samples per step.
        lr: AdamW's peak learning rate (cosine decay to 0, 50 warm-up steps).
        weight_decay: AdamW's weight decay.
        seed: initialisation, batches and noise.
        checkpoint_every: steps between checkpoints into ``out`` (0: only at the end).
    """

    steps: int = 6000
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 0


def displacement_scale(data: Dataset) -> np.ndarray:
    """Per channel (x, y, z of each body), the RMS displacement from the start where the body
    exists, at least ``MIN_SCALE``  # [MAX_BODIES * 3]"""
    disp = data.positions - data.starts[:, None, :, :3]  # [N, T, B, 3]
    present = np.any(data.starts != 0, axis=2)  # [N, B]
    out = np.empty((MAX_BODIES, 3), np.float32)
    for b in range(MAX_BODIES):
        d = disp[present[:, b], :, b]
        out[b] = np.sqrt((d**2).mean(axis=(0, 1))) if len(d) else 1.0
    return np.maximum(out.ravel(), MIN_SCALE)


def model_inputs(model: PhysMotionModel, data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The data set in model space [N, T, D] and its conditions [N, C]."""
    frames = data.positions.shape[1]
    guides = np.stack(
        [
            free_flight(s, p, frames=frames, fps=data.fps)
            for s, p in zip(data.scenarios, data.params, strict=True)
        ]
    )
    cond = model.condition_vectors(data.conditions, data.starts, guides)
    return model.normalise(data.positions, data.starts), cond


def pretrain(
    data: Dataset,
    *,
    out: str | Path | None = None,
    model_config: ModelConfig = ModelConfig(),  # noqa: B008
    config: TrainConfig = TrainConfig(),
    show_progress: bool = True,
) -> tuple[PhysMotionModel, list[float]]:
    """A new model trained on ``data`` (its frames and fps), and the loss of each step.

    Args:
        data: the rollouts (``make_dataset``).
        out: the model folder to write (checkpoints and the final model); None writes nothing.
        model_config: the model's size (its frames and fps are taken from ``data``).
        config: the optimisation.
        show_progress: a tqdm bar with the running loss.
    """
    torch.manual_seed(config.seed)
    frames = data.positions.shape[1]
    model_config = ModelConfig(**{**model_config.__dict__, "frames": frames, "fps": data.fps})
    model = PhysMotionModel.create(model_config, displacement_scale(data))
    x0, cond = model_inputs(model, data)
    net, scheduler = model.net, model.scheduler
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warmup = min(50, config.steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: (
            min(1.0, (s + 1) / warmup)
            * 0.5
            * (1 + np.cos(np.pi * min(s, config.steps) / config.steps))
        ),
    )
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    bar = tqdm(range(config.steps), desc="pre-training", disable=not show_progress)
    for step in bar:
        idx = torch.randint(0, len(x0), (config.batch,), generator=generator)
        t = torch.randint(
            0, scheduler.config.num_train_timesteps, (config.batch,), generator=generator
        )
        noise = torch.randn(x0[idx].shape, generator=generator)
        noisy = scheduler.add_noise(x0[idx], noise, t)
        target = model.velocity(x0[idx], noise, t)
        loss = torch.nn.functional.mse_loss(net(noisy, t, cond[idx]), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if (
            out is not None
            and config.checkpoint_every
            and (step + 1) % config.checkpoint_every == 0
        ):
            model.save_pretrained(out)
    net.eval()
    if out is not None:
        model.save_pretrained(out)
    return model, losses
