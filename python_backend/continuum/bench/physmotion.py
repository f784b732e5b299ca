"""``continuum bench physmotion``: physics-controlled motion generation, trained from scratch,
before and after RL alignment, measured against MuJoCo on held-out parameter settings.

1. **Data**: ``samples`` (10,000) MuJoCo rollouts (``physmotion.data.make_dataset``, seed
   ``seed``): the four scenarios in turn, parameters uniform in their ranges, 64 frames at 30 fps.
2. **Pre-training** (``train_s``): ``train_steps`` (6000) steps of batch 64 of a transformer
   denoiser of ``width`` (128) and ``layers`` (4) (``parameters``).
3. **Alignment** (``align_s``): ``align_steps`` (400) rounds of RL alignment
   (``physmotion.align``: the reward's gradient through the DDIM chain, anchored to the
   pre-trained model): 16 settings x 2 chains a round, settings drawn from their own random
   stream, half of them with a target; the model kept is the best on a validation set of 16
   settings drawn from a fourth stream, measured before the first round and every 10
   (``align_validation``: [rounds, mean reward] pairs; ``align_kept_round``: 0 means
   alignment did not beat the pre-trained model there and it is returned unchanged).
4. **Held-out evaluation**: ``eval_settings`` (6) settings per scenario drawn from a third random
   stream (continuous uniform draws: none equals a training or alignment draw), each re-simulated
   with MuJoCo. For each, the pre-trained and the aligned model sample the same 8 chains (same
   seeds; 10 DDIM steps, eta 1, their sampler, ``seam_filter`` included) and every sample is
   scored (``physmotion.reward``); the figures are means over all samples of all settings:

   - ``offset_m_pre`` / ``_post``: mean distance (m) to the re-simulation, over frames and bodies.
   - ``penetration_rate_pre`` / ``_post``: the fraction of samples that sink deeper than 7 cm
     into the ground, the ramp or the other ball at some frame.
   - ``freefall_accel_residual_pre`` / ``_post``: m/s^2, |acceleration - gravity| over the
     samples' free-fall frames (samples without any are left out).
   - ``energy_gain_pre`` / ``_post``: J/kg, the largest rise of mechanical energy above the start.
   - ``constraint_success_pre`` / ``_post``: each setting gets a target, the re-simulated first
     body's position at a random frame between a quarter and three quarters of the clip (a point
     the true motion reaches); the model's 8 samples are ranked by their closest approach and the
     best one kept (what the motion slot does with a target); success is passing within 0.15 m.
   - ``reward_pre`` / ``_post``: the mean combined reward.

5. ``sample_ms``: wall time of one sample (n = 1) of the aligned model, the median of 10.

Context: ``samples``, ``train_steps``, ``align_steps``, ``eval_settings``, ``frames``, ``fps``,
``parameters``, ``cpus``, ``torch_threads``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from continuum.generation.physmotion.align import AlignConfig, align
from continuum.generation.physmotion.data import make_dataset, rollout
from continuum.generation.physmotion.model import ModelConfig, PhysMotionModel
from continuum.generation.physmotion.reward import RewardConfig, passing_target, reward_terms
from continuum.generation.physmotion.scenarios import SCENARIO_NAMES, SCENARIOS, sample_params
from continuum.generation.physmotion.slot_model import TARGET_CANDIDATES
from continuum.generation.physmotion.train import TrainConfig, pretrain


def bench_physmotion(
    *,
    samples: int = 10_000,
    train_steps: int = 6000,
    align_steps: int = 400,
    eval_settings: int = 6,
    width: int = 128,
    layers: int = 4,
    frames: int = 64,
    seed: int = 0,
    show_progress: bool = False,
) -> dict:
    """All figures above, in one JSON-ready dict; the keyword arguments shrink it for tests."""
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    data = make_dataset(samples, frames=frames, seed=seed, show_progress=show_progress)
    start = time.perf_counter()
    model, _ = pretrain(
        data,
        model_config=ModelConfig(width=width, layers=layers),
        config=TrainConfig(steps=train_steps, seed=seed),
        show_progress=show_progress,
    )
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    tuned, log = align(
        model, config=AlignConfig(steps=align_steps, seed=seed + 1), show_progress=show_progress
    )
    align_s = time.perf_counter() - start

    figures: dict[str, object] = dict(
        held_out(model, tuned, eval_settings=eval_settings, seed=seed)
    )
    timings = []
    for k in range(10):
        start = time.perf_counter()
        tuned.sample("throw", {}, n=1, seed=k)
        timings.append(time.perf_counter() - start)

    figures.update(
        train_s=round(train_s, 2),
        align_s=round(align_s, 2),
        sample_ms=round(1000 * float(np.median(timings)), 2),
        samples=samples,
        train_steps=train_steps,
        align_steps=align_steps,
        align_validation=[[rounds, round(score, 4)] for rounds, score in log.validation],
        align_kept_round=log.kept_round,
        eval_settings=eval_settings * len(SCENARIO_NAMES),
        eval_samples_per_setting=TARGET_CANDIDATES,
        frames=model.frames,
        fps=model.fps,
        parameters=sum(p.numel() for p in model.net.parameters()),
        scenarios=list(SCENARIOS),
        cpus=len(os.sched_getaffinity(0)),
        torch_threads=torch.get_num_threads(),
    )
    return figures


def held_out(
    model: PhysMotionModel, tuned: PhysMotionModel, *, eval_settings: int = 6, seed: int = 0
) -> dict[str, float]:
    """Step 4: the pre-trained ``model`` and the aligned ``tuned`` on ``eval_settings`` held-out
    settings per scenario (the ``_pre`` and ``_post`` figures)."""
    rng = np.random.default_rng([seed, 99])  # held out: a stream neither data nor align use
    config = RewardConfig()
    scores: dict[str, list[list[float]]] = {"pre": [], "post": []}
    hits: dict[str, list[bool]] = {"pre": [], "post": []}
    for i in range(eval_settings * len(SCENARIO_NAMES)):
        name = SCENARIO_NAMES[i % len(SCENARIO_NAMES)]
        params = sample_params(name, rng)
        ref = rollout(name, params, frames=model.frames, fps=model.fps).positions
        target = passing_target(ref, rng)
        for key, m in (("pre", model), ("post", tuned)):
            positions = m.sample(  # both on the chain the alignment tuned
                name,
                params,
                n=TARGET_CANDIDATES,
                seed=i,
                steps=tuned.sampler_steps,
                eta=tuned.sampler_eta,
            )
            terms = reward_terms(
                name, params, positions, ref, fps=m.fps, target=target, config=config
            )
            hits[key].append(bool(terms.target_distance.min() <= config.target_radius))
            scores[key] += np.stack(
                [
                    terms.offset_m,
                    terms.penetrates,
                    terms.freefall_accel_residual,
                    terms.energy_gain,
                    terms.reward,
                ],
                axis=1,
            ).tolist()
    figures: dict[str, float] = {}
    names = ("offset_m", "penetration_rate", "freefall_accel_residual", "energy_gain", "reward")
    for key in ("pre", "post"):
        table = np.array(scores[key], np.float64)
        for j, name in enumerate(names):
            column = table[:, j]
            figures[f"{name}_{key}"] = round(float(np.nanmean(column)), 4)
        figures[f"constraint_success_{key}"] = round(float(np.mean(hits[key])), 4)
    return figures
