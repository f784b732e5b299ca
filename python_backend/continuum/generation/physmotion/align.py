"""RL alignment: fine-tune the sampler so its motions score better against MuJoCo (``reward``).

The choice: **GRPO over the DDIM chain, with PPO clipping and an exact KL to the pre-trained
model** (DDPO's policy gradient, Black et al. 2023, with group-relative advantages, Shao et al.
2024, instead of a learnt value or per-prompt running statistics).

- The policy is the stochastic DDIM sampler (``eta`` 1): each denoising step is a Gaussian
  x_{t-1} ~ N(mu_theta(x_t, t, c), sigma_t^2 I) (``model.ddim_step``), so every step of a chain
  has a log-probability; steps with sigma_t = 0 (the last) are deterministic and left out.
- Each iteration: 1. draw ``groups`` parameter settings (scenarios in turn, uniform in range,
  never the training set's draws: a separate seed stream), 2. re-simulate each with MuJoCo
  (``data.rollout``), 3. sample ``group_size`` chains per setting with the current model,
  4. score them (``reward.reward_terms``), 5. advantage = (reward - group mean) / (group std +
  1e-3): only how a sample compares with its siblings of the same setting counts,
  6. ``epochs`` gradient steps on the clipped surrogate summed over the chain's steps, plus
  ``kl_weight`` times the KL between the fine-tuned and the frozen pre-trained step
  distributions. Both Gaussians share sigma_t, so that KL is exactly
  |mu_theta - mu_ref|^2 / (2 sigma_t^2); log-probabilities and KL are per dimension (means over
  the trajectory's values, as DDPO's implementation does), so the learning rate
  does not depend on the trajectory's size.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from continuum.generation.physmotion.data import rollout
from continuum.generation.physmotion.model import PhysMotionModel, ddim_step
from continuum.generation.physmotion.reward import RewardConfig, reward_terms
from continuum.generation.physmotion.scenarios import SCENARIO_NAMES, SCENARIOS, sample_params


@dataclass(frozen=True)
class AlignConfig:
    """How to align.

    Attributes:
        steps: policy-gradient iterations.
        groups: parameter settings per iteration.
        group_size: chains sampled per setting.
        sample_steps: DDIM steps of a chain (saved as the model's sampler).
        eta: DDIM's eta (> 0: a stochastic chain).
        lr: AdamW's learning rate.
        epochs: gradient steps per batch of chains (PPO's inner epochs; the clip acts from the
            second on).
        clip: PPO's ratio clip.
        kl_weight: weight of the KL to the pre-trained model.
        seed: settings, noise.
        reward: the reward's tolerances and weights.
    """

    steps: int = 60
    groups: int = 8
    group_size: int = 8
    sample_steps: int = 10
    eta: float = 1.0
    lr: float = 1e-4
    epochs: int = 2
    clip: float = 0.2
    kl_weight: float = 0.01
    seed: int = 1
    reward: RewardConfig = field(default_factory=RewardConfig)


def align(
    model: PhysMotionModel,
    *,
    out: str | Path | None = None,
    config: AlignConfig = AlignConfig(),
    show_progress: bool = True,
) -> tuple[PhysMotionModel, list[float]]:
    """A copy of ``model`` fine-tuned against the reward, and the mean reward per iteration.

    Args:
        model: the pre-trained model (left unchanged).
        out: the model folder to write; None writes nothing.
        config: the alignment settings.
        show_progress: a tqdm bar with the mean reward.
    """
    sampler = {"steps": config.sample_steps, "eta": config.eta}
    tuned = PhysMotionModel(
        copy.deepcopy(model.net), model.scheduler, {**model.meta, "sampler": sampler}
    )
    reference = model.net
    reference.eval()
    net = tuned.net
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0.0)
    rng = np.random.default_rng([config.seed, 7])  # a stream of its own: never the training draws
    generator = torch.Generator().manual_seed(config.seed)
    alphas = tuned.scheduler.alphas_cumprod
    history: list[float] = []
    bar = tqdm(range(config.steps), desc="aligning", disable=not show_progress)
    for it in bar:
        # 1-2. Settings and their re-simulations.
        settings = []
        for g in range(config.groups):
            name = SCENARIO_NAMES[(it * config.groups + g) % len(SCENARIO_NAMES)]
            params = sample_params(name, rng)
            settings.append(
                (name, params, rollout(name, params, frames=tuned.frames, fps=tuned.fps))
            )
        conds, starts = zip(*(tuned.conditions(s, p) for s, p, _ in settings), strict=True)
        k = config.group_size
        cond = torch.stack(conds).repeat_interleave(k, dim=0)  # [G k, C]
        # 3. Chains from the current model.
        chain: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        net.eval()
        with torch.no_grad():
            x = tuned.denoise(
                cond, steps=config.sample_steps, eta=config.eta, generator=generator, chain=chain
            )
        positions = tuned.positions(x, np.repeat(np.stack(starts), k, axis=0))
        # 4-5. Rewards and group-relative advantages.
        rewards = np.concatenate(
            [
                reward_terms(
                    name,
                    params,
                    positions[g * k : (g + 1) * k, :, : SCENARIOS[name].bodies],
                    sim.positions,
                    fps=tuned.fps,
                    config=config.reward,
                ).reward
                for g, (name, params, sim) in enumerate(settings)
            ]
        )
        grouped = rewards.reshape(config.groups, k)
        adv = (grouped - grouped.mean(1, keepdims=True)) / (grouped.std(1, keepdims=True) + 1e-3)
        advantage = torch.from_numpy(adv.ravel().astype(np.float32))
        # 6. The clipped surrogate and the KL over the chain's stochastic steps.
        step = {"steps": config.sample_steps, "eta": config.eta}
        stochastic = []  # (x_t, x_prev, t, timesteps, sampling mean, reference mean, sigma)
        with torch.no_grad():
            for x_t, x_prev, t in chain:
                ts = torch.full((len(cond),), t)
                old_mean, std = ddim_step(alphas, net(x_t, ts, cond), t, x_t, **step)
                if std > 0:
                    ref_mean, _ = ddim_step(alphas, reference(x_t, ts, cond), t, x_t, **step)
                    stochastic.append((x_t, x_prev, t, ts, old_mean, ref_mean, std))
        net.train()
        for _ in range(config.epochs):
            optimiser.zero_grad(set_to_none=True)
            for x_t, x_prev, t, ts, old_mean, ref_mean, std in stochastic:
                mean, _ = ddim_step(alphas, net(x_t, ts, cond), t, x_t, **step)
                log_ratio = ((x_prev - old_mean) ** 2 - (x_prev - mean) ** 2).mean((1, 2))
                ratio = (log_ratio / (2 * std**2)).exp()
                surrogate = torch.minimum(
                    ratio * advantage, ratio.clamp(1 - config.clip, 1 + config.clip) * advantage
                )
                kl = ((mean - ref_mean) ** 2).mean((1, 2)) / (2 * std**2)
                loss = (-surrogate + config.kl_weight * kl).mean() / len(stochastic)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
        history.append(float(rewards.mean()))
        bar.set_postfix(reward=f"{history[-1]:.3f}")
    net.eval()
    if out is not None:
        tuned.save_pretrained(out)
    return tuned, history
