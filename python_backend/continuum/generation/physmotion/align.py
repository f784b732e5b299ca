"""RL alignment: fine-tune the sampler so its motions score better against MuJoCo (``reward``).

The choice: **reward-ranked fine-tuning** (best-of-N self-training: RAFT, Dong et al. 2023;
ReST, Gulcehre et al. 2023), anchored to the pre-trained model. Each round is a policy
improvement step: the best of N samples of the current model is a better policy than the model,
and the denoising loss on those samples moves the model towards it.

Why not policy gradient over the DDIM chain (DDPO / GRPO with PPO clipping, this module's first
version): at the sample counts a laptop affords (60 iterations of 64 chains) its held-out reward
did not move (-2.33 before, -2.34 after; the free-fall residual rose from 57 to 82 m/s^2): the
per-step log-ratio of a 384-dimensional Gaussian is a noisy estimator and the clipped surrogate
makes little progress. Ranked fine-tuning uses the same samples as supervised targets, which is
stable with few samples and needs no log-probabilities.

Each round:

1. draw ``groups`` parameter settings (scenarios in turn, uniform in range, never the training
   set's draws: a separate seed stream) and re-simulate each with MuJoCo (``data.rollout``);
   ``target_share`` of them get a target, as a user would give one: a point the true motion
   passes (the first body's re-simulated position at a random frame in the clip's middle half),
   so the reward's constraint term is trained too,
2. sample ``group_size`` trajectories per setting with the current model (its DDIM sampler,
   ``sample_steps`` steps, ``eta``),
3. score them (``reward.reward_terms``) and keep the ``keep`` best of each setting: only the
   ranking within a setting counts, so settings of different difficulty weigh the same,
4. take ``epochs`` AdamW steps on the kept samples: the pre-training loss (noise a kept sample
   at one of the sampler's timesteps, regress its velocity v) plus ``anchor_weight`` times the
   squared distance between the tuned and the frozen pre-trained model's predictions on the same
   noisy input. Both step distributions of the DDIM chain are Gaussians with the same deviation
   whose means are linear in the predicted clean sample, itself linear in v at a given
   timestep, so that distance is the KL between them up to a per-timestep factor: the proximity
   term of KL-regularised RL.

**Validation and the model kept**: before the first round and every ``validate_every`` rounds,
the model samples ``validation_samples`` chains (fixed seeds) of each of ``validation_settings``
settings drawn once from a stream of their own (neither training, alignment nor the
benchmark's held-out draws), with targets like the rounds', and the mean reward is recorded. The
model returned (and saved) is the one with the best validation reward, the pre-trained one
included: alignment never hands back a model that scores worse than it started on data it was
not tuned on, and the settings below were chosen on these validation figures.

The defaults were chosen on the validation reward (``AlignLog.validation``) of a model
pre-trained on 10,000 rollouts for 3000 steps, 60 rounds each: ``lr`` 1e-5
and ``anchor_weight`` 1.0 took it from -0.599 to -0.548 (best round); 3e-5 and 0.3 to -0.507;
6e-5 and 0.3 to -0.505: a tie, so the smaller step, which stays closer to the pre-trained
model. With the clean-sample model of format version 1, 1e-4 and 0.1 drifted within 15 rounds
(reward -0.94 to -11).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from continuum.generation.physmotion.data import rollout
from continuum.generation.physmotion.model import PhysMotionModel, ddim_timesteps
from continuum.generation.physmotion.reward import RewardConfig, passing_target, reward_terms
from continuum.generation.physmotion.scenarios import SCENARIO_NAMES, SCENARIOS, sample_params


@dataclass(frozen=True)
class AlignConfig:
    """How to align.

    Attributes:
        steps: rounds (sample, rank, fine-tune).
        groups: parameter settings per round.
        group_size: samples drawn per setting.
        keep: best samples kept per setting (at most ``group_size``).
        sample_steps: DDIM steps of a sample (saved as the model's sampler).
        eta: DDIM's eta (> 0: a stochastic sampler, so the samples of a setting differ).
        lr: AdamW's learning rate.
        epochs: gradient steps per round on its kept samples.
        anchor_weight: weight of the distance to the pre-trained model's predictions.
        target_share: the fraction of settings (rounds' and validation's) given a target.
        validation_settings: settings of the validation set (0: no validation, the last round's
            model is kept).
        validation_samples: chains sampled per validation setting.
        validate_every: rounds between validations.
        seed: settings, noise.
        reward: the reward's tolerances and weights.
    """

    steps: int = 60
    groups: int = 16
    group_size: int = 16
    keep: int = 2
    sample_steps: int = 10
    eta: float = 1.0
    lr: float = 3e-5
    epochs: int = 4
    anchor_weight: float = 0.3
    target_share: float = 0.5
    validation_settings: int = 16
    validation_samples: int = 4
    validate_every: int = 10
    seed: int = 1
    reward: RewardConfig = field(default_factory=RewardConfig)


@dataclass(frozen=True)
class AlignLog:
    """What an alignment did.

    Attributes:
        rewards: the mean reward of each round's samples (before that round's update).
        validation: (rounds done, mean validation reward) at each validation.
        kept_round: the rounds done by the model returned (0: the pre-trained model).
    """

    rewards: list[float]
    validation: list[tuple[int, float]]
    kept_round: int


@dataclass(frozen=True)
class _Setting:
    """A parameter setting, its MuJoCo re-simulation [T, B, 3] and its target (or None)."""

    scenario: str
    params: dict[str, float]
    reference: np.ndarray
    target: tuple[float, float, float] | None


def align(
    model: PhysMotionModel,
    *,
    out: str | Path | None = None,
    config: AlignConfig = AlignConfig(),
    show_progress: bool = True,
) -> tuple[PhysMotionModel, AlignLog]:
    """A copy of ``model`` fine-tuned against the reward (the best on validation), and its log.

    Args:
        model: the pre-trained model (left unchanged).
        out: the model folder to write; None writes nothing.
        config: the alignment settings.
        show_progress: a tqdm bar with the mean reward.

    Raises:
        ValueError: ``keep`` not in 1 .. ``group_size``, ``target_share`` not in [0, 1].
    """
    if not 1 <= config.keep <= config.group_size:
        raise ValueError(
            f"AlignConfig.keep must be in 1..group_size ({config.group_size}), got {config.keep}"
        )
    if not 0.0 <= config.target_share <= 1.0:
        raise ValueError(f"AlignConfig.target_share must be in [0, 1], got {config.target_share}")
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
    timesteps = torch.tensor(
        ddim_timesteps(tuned.scheduler.config.num_train_timesteps, config.sample_steps)
    )
    validation_rng = np.random.default_rng([config.seed, 13])  # nor the benchmark's held-out
    validation = [
        _draw(SCENARIO_NAMES[i % len(SCENARIO_NAMES)], validation_rng, tuned, config)
        for i in range(config.validation_settings)
    ]
    k = config.group_size
    history: list[float] = []
    curve: list[tuple[int, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None

    def validate(rounds: int) -> None:
        nonlocal best
        if not validation:
            return
        fixed = torch.Generator().manual_seed(config.seed + 1)  # the same chains every time
        rewards, _, _ = _sample_and_score(
            tuned, validation, config.validation_samples, fixed, config
        )
        score = float(rewards.mean())
        curve.append((rounds, score))
        if best is None or score > best[0]:
            best = (score, rounds, copy.deepcopy(net.state_dict()))

    validate(0)
    bar = tqdm(range(config.steps), desc="aligning", disable=not show_progress)
    for it in bar:
        # 1. Settings and their re-simulations.
        settings = [
            _draw(
                SCENARIO_NAMES[(it * config.groups + g) % len(SCENARIO_NAMES)], rng, tuned, config
            )
            for g in range(config.groups)
        ]
        # 2. Samples of the current model and 3. their rewards.
        rewards, x, cond = _sample_and_score(tuned, settings, k, generator, config)  # [G, k]
        best_k = np.argsort(-rewards, axis=1, kind="stable")[:, : config.keep]
        chosen = torch.from_numpy((best_k + k * np.arange(config.groups)[:, None]).ravel())
        target = x[chosen]
        target_cond = cond[chosen]
        # 4. Denoising loss on the kept samples, anchored to the pre-trained predictions.
        net.train()
        for _ in range(config.epochs):
            t = timesteps[torch.randint(0, len(timesteps), (len(target),), generator=generator)]
            noise = torch.randn(target.shape, generator=generator)
            noisy = tuned.scheduler.add_noise(target, noise, t)
            with torch.no_grad():
                anchor = reference(noisy, t, target_cond)
            pred = net(noisy, t, target_cond)
            loss = torch.nn.functional.mse_loss(pred, tuned.velocity(target, noise, t))
            loss = loss + config.anchor_weight * torch.nn.functional.mse_loss(pred, anchor)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
        net.eval()
        history.append(float(rewards.mean()))
        bar.set_postfix(reward=f"{history[-1]:.3f}")
        if (it + 1) % config.validate_every == 0 or it + 1 == config.steps:
            validate(it + 1)
    kept = config.steps
    if best is not None:
        _, kept, state = best
        net.load_state_dict(state)
    net.eval()
    if out is not None:
        tuned.save_pretrained(out)
    return tuned, AlignLog(history, curve, kept)


def _draw(
    scenario: str, rng: np.random.Generator, model: PhysMotionModel, config: AlignConfig
) -> _Setting:
    """A setting of ``scenario`` drawn from ``rng``, re-simulated, with a target for
    ``config.target_share`` of the draws."""
    params = sample_params(scenario, rng)
    ref = rollout(scenario, params, frames=model.frames, fps=model.fps).positions
    target = passing_target(ref, rng) if rng.random() < config.target_share else None
    return _Setting(scenario, params, ref, target)


def _sample_and_score(
    model: PhysMotionModel,
    settings: list[_Setting],
    k: int,
    generator: torch.Generator,
    config: AlignConfig,
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """``k`` samples of ``model`` per setting: their rewards [G, k], the samples as the model
    returns them (frame 0 pinned to the start) in model space [G k, T, D], and their
    conditions [G k, C]."""
    conds, starts = zip(*(model.conditions(s.scenario, s.params) for s in settings), strict=True)
    cond = torch.stack(conds).repeat_interleave(k, dim=0)  # [G k, C]
    starts_k = np.repeat(np.stack(starts), k, axis=0)
    with torch.no_grad():
        x = model.denoise(cond, steps=config.sample_steps, eta=config.eta, generator=generator)
    positions = model.positions(x, starts_k)
    rewards = np.stack(
        [
            reward_terms(
                s.scenario,
                s.params,
                positions[g * k : (g + 1) * k, :, : SCENARIOS[s.scenario].bodies],
                s.reference,
                fps=model.fps,
                target=s.target,
                config=config.reward,
            ).reward
            for g, s in enumerate(settings)
        ]
    )
    return rewards, model.normalise(positions, starts_k), cond
