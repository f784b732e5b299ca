"""The reward's terms: zero for MuJoCo's own motion, penalties where physics is broken, and the
vectorised terms against plain per-frame loops."""

import math

import numpy as np
import pytest
import torch

from continuum.generation.physmotion.data import RAMP_HEIGHT, rollout
from continuum.generation.physmotion.reward import RewardConfig, reward_terms
from continuum.generation.physmotion.scenarios import RADIUS, check_params, start_state

SETTINGS = [
    ("drop", {"height": 2.0, "restitution": 0.7}),
    ("throw", {"vx": 3.0, "vy": 4.0, "restitution": 0.6}),
    ("ramp", {"angle": 35.0, "height": 1.0, "friction": 0.1}),
    ("collide", {"speed": 3.0, "offset": 0.05}),
]


@pytest.mark.parametrize(("scenario", "params"), SETTINGS)
def test_the_re_simulation_itself_scores_about_zero(scenario, params):
    ref = rollout(scenario, params).positions
    t = reward_terms(scenario, params, ref[None], ref, fps=30)
    assert t.offset_m[0] == 0.0
    assert not t.penetrates[0] and t.penetration_m[0] < 0.07
    assert t.energy_gain[0] < 0.1
    residual = t.freefall_accel_residual[0]
    if scenario in ("drop", "throw"):  # in the air a while; the others roll, slide, tumble
        assert residual < 0.01
    else:
        assert math.isnan(residual) or residual < 0.01
    assert t.reward[0] == pytest.approx(0.0, abs=1e-3)


def test_a_trajectory_through_the_floor_is_penalised():
    scenario, params = SETTINGS[0]
    ref = rollout(scenario, params).positions
    sunk = ref.copy()
    sunk[20:, :, 1] -= 0.3
    t = reward_terms(scenario, params, np.stack([ref, sunk]), ref, fps=30)
    assert t.penetrates.tolist() == [False, True]
    assert t.penetration_m[1] > 0.25 and t.reward[1] < t.reward[0] - 1.0


def test_through_the_ramp_and_through_the_other_ball_are_penetrations():
    ramp = rollout(*SETTINGS[2]).positions
    dug = ramp.copy()
    dug[:, 0, 1] -= 0.3  # 30 cm down into the ramp along the way
    assert reward_terms("ramp", SETTINGS[2][1], dug[None], ramp, fps=30).penetrates[0]
    balls = rollout(*SETTINGS[3]).positions
    merged = balls.copy()
    merged[:, 1] = merged[:, 0]  # both balls in one place
    t = reward_terms("collide", SETTINGS[3][1], merged[None], balls, fps=30)
    assert t.penetrates[0] and t.penetration_m[0] == pytest.approx(2 * RADIUS, abs=1e-6)


def test_speeding_up_gains_energy_and_wrong_gravity_leaves_a_residual():
    params = {"height": 1.8, "vx": 1.0, "vy": 0.0}
    t = np.arange(12) / 30  # in the air all along
    arc = np.stack([1.0 * t, 1.8 - 0.5 * 5.0 * t**2, 0 * t], axis=1)[:, None]  # g = 5, not 9.81
    ref = rollout("throw", params, frames=12).positions
    terms = reward_terms("throw", params, np.stack([arc, 3 * (ref - ref[0]) + ref[0]]), ref, fps=30)
    assert terms.freefall_accel_residual[0] == pytest.approx(9.81 - 5.0, abs=1e-3)
    assert terms.energy_gain[1] > 10.0  # three times as fast


def test_target_success_is_passing_within_the_radius():
    scenario, params = SETTINGS[1]
    ref = rollout(scenario, params).positions
    on_path = tuple(ref[30, 0] + [0.0, 0.1, 0.0])
    off_path = tuple(ref[30, 0] + [0.0, 1.0, 0.0])
    hit = reward_terms(scenario, params, ref[None], ref, fps=30, target=on_path)
    miss = reward_terms(scenario, params, ref[None], ref, fps=30, target=off_path)
    assert hit.target_success[0] and hit.target_distance[0] <= 0.1 + 1e-6
    assert not miss.target_success[0] and miss.target_distance[0] > 0.5
    assert miss.reward[0] < hit.reward[0]
    none = reward_terms(scenario, params, ref[None], ref, fps=30)
    assert math.isnan(none.target_distance[0]) and not none.target_success[0]


# -- the plain references ------------------------------------------------------------------------


def _clearance_plain(scenario, p, pos):
    """Per frame and body, one point at a time."""
    n, frames, bodies, _ = pos.shape
    out = np.empty((n, frames, bodies))
    for i in range(n):
        for t in range(frames):
            for b in range(bodies):
                x, y, _ = pos[i, t, b]
                c = y - RADIUS
                if scenario == "ramp":
                    a = math.radians(p["angle"])
                    top = (-math.cos(a) * RAMP_HEIGHT / math.sin(a), RAMP_HEIGHT)
                    best = math.inf
                    for k in range(4001):  # the slope's top edge, sampled every mm or so
                        s = k / 4000
                        best = min(best, math.hypot(x - s * top[0], y - s * top[1]))
                    along = -x * math.cos(a) + y * math.sin(a)
                    under = x * math.sin(a) + y * math.cos(a) < 0
                    inside = under and 0 < along < RAMP_HEIGHT / math.sin(a)
                    c = min(c, (-best if inside else best) - RADIUS)
                if scenario == "collide":
                    c = min(c, float(np.linalg.norm(pos[i, t, 0] - pos[i, t, 1])) - 2 * RADIUS)
                out[i, t, b] = c
    return out


def _terms_plain(scenario, p, pos, fps, config):
    """Energy gain and free-fall residual, one trajectory and frame at a time."""
    clear = _clearance_plain(scenario, p, pos)
    g = p["gravity"]
    masses = [p["mass"], p.get("mass2", 0.0)][: pos.shape[2]]
    start = start_state(scenario, p)
    gains, residuals = [], []
    for i in range(len(pos)):
        e0 = sum(
            m * (g * s[1] + 0.5 * float(s[3:] @ s[3:])) for m, s in zip(masses, start, strict=True)
        ) / sum(masses)
        best, errors = -math.inf, []
        for t in range(1, pos.shape[1] - 1):
            e = 0.0
            for b, m in enumerate(masses):
                v = (pos[i, t + 1, b] - pos[i, t - 1, b]) * fps / 2
                e += m * (g * pos[i, t, b, 1] + 0.5 * float(v @ v)) / sum(masses)
                move = max(
                    np.linalg.norm(pos[i, t, b] - pos[i, t - 1, b]),
                    np.linalg.norm(pos[i, t + 1, b] - pos[i, t, b]),
                )
                if min(clear[i, t - 1 : t + 2, b]) > config.contact_margin + move:
                    a = (pos[i, t + 1, b] - 2 * pos[i, t, b] + pos[i, t - 1, b]) * fps**2
                    errors.append(np.linalg.norm(a - [0.0, -g, 0.0]))
            best = max(best, e)
        gains.append(max(best - e0, 0.0))
        residuals.append(np.mean(errors) if errors else math.nan)
    return clear, np.array(gains), np.array(residuals)


@pytest.mark.parametrize(("scenario", "params"), SETTINGS)
def test_vectorised_terms_match_plain_loops(scenario, params):
    from continuum.generation.physmotion.reward import surface_clearance

    p = check_params(scenario, params)
    ref = rollout(scenario, p, frames=24).positions.astype(np.float64)
    rng = np.random.default_rng(0)
    pos = ref[None] + rng.normal(0.0, 0.05, (3, *ref.shape))  # noisy copies, some penetrating
    config = RewardConfig()
    clear, gains, residuals = _terms_plain(scenario, p, pos, 30, config)
    atol = 2e-4 if scenario == "ramp" else 1e-9  # the plain ramp distance is sampled
    clearance = surface_clearance(scenario, p, torch.from_numpy(pos)).numpy()
    assert np.allclose(clearance, clear, atol=atol)
    t = reward_terms(scenario, p, pos, ref, fps=30, config=config)
    assert np.allclose(t.energy_gain, gains)
    assert np.allclose(t.freefall_accel_residual, residuals, equal_nan=True)


@pytest.mark.parametrize(("scenario", "params"), SETTINGS)
def test_the_differentiable_reward_is_the_reward_and_its_gradient_is_right(scenario, params):
    from continuum.generation.physmotion.reward import reward_tensor

    ref = rollout(scenario, params, frames=12).positions.astype(np.float64)
    rng = np.random.default_rng(1)
    pos = ref[None] + rng.normal(0.0, 0.05, (2, *ref.shape))
    target = tuple(float(v) for v in ref[6, 0] + 0.3)  # missed: the target term counts
    config = RewardConfig(penetration_tol=0.0, energy_tol=0.0)  # every term active
    plain = reward_terms(scenario, params, pos, ref, fps=30, target=target, config=config)
    x = torch.from_numpy(pos).requires_grad_()

    def reward(p):
        return reward_tensor(scenario, params, p, ref, fps=30, target=target, config=config)

    assert np.allclose(reward(x).detach().numpy(), plain.reward)
    # Central differences of the same function (its kinks are measure-zero for noisy input).
    assert torch.autograd.gradcheck(reward, (x,), eps=1e-6, atol=1e-4)
