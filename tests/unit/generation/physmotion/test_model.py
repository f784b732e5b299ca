"""The model folder: round trip, clear errors for broken folders, and the DDIM step against
diffusers' scheduler."""

import json
import shutil

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.physmotion.model import (
    PhysMotionModel,
    ddim_step,
    ddim_timesteps,
    seam_filter,
)
from continuum.generation.physmotion.scenarios import check_params, start_state


@pytest.fixture()
def folder(tmp_path, tiny_folder):
    copy = tmp_path / "model"
    shutil.copytree(tiny_folder, copy)
    return copy


def test_save_and_load_give_the_same_samples(tiny_folder, tmp_path):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    assert sorted(p.name for p in tiny_folder.iterdir()) == [
        "model",
        "physmotion.json",
        "scheduler",
    ]
    assert (tiny_folder / "model" / "diffusion_pytorch_model.safetensors").is_file()
    model.save_pretrained(tmp_path / "again")
    again = PhysMotionModel.from_pretrained(tmp_path / "again")
    a = model.sample("collide", {"speed": 2.0}, n=3, seed=4)
    b = again.sample("collide", {"speed": 2.0}, n=3, seed=4)
    assert a.shape == (3, 16, 2, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, model.sample("collide", {"speed": 2.0}, n=3, seed=5))
    start = start_state("collide", check_params("collide", {"speed": 2.0}))
    assert np.allclose(a[:, 0], start[:, :3], atol=1e-6)  # frame 0 is pinned to the start
    assert model.sample("drop", {}, n=2).shape == (2, 16, 1, 3)


def test_sampling_checks_the_parameters(tiny_folder):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    with pytest.raises(GenerationError, match=r"throw\.vy must be in"):
        model.sample("throw", {"vy": 100.0})


def _edit_meta(folder, **changes):
    meta = json.loads((folder / "physmotion.json").read_text())
    meta.update(changes)
    (folder / "physmotion.json").write_text(json.dumps(meta))


def _edit_config(folder, **changes):
    path = folder / "model" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        (lambda f: (f / "physmotion.json").unlink(), "not a physmotion model folder"),
        (lambda f: (f / "physmotion.json").write_text("{nope"), "not readable JSON"),
        (lambda f: _edit_meta(f, version=99), "format version 99; this Continuum reads version 2"),
        (lambda f: _edit_meta(f, format="other"), "format is not"),
        (lambda f: _edit_meta(f, params={}), "parameter ranges differ"),
        (lambda f: _edit_meta(f, channels=["x"]), "channels must be"),
        (
            lambda f: (f / "model" / "diffusion_pytorch_model.safetensors").unlink(),
            "model/diffusion_pytorch_model.safetensors is missing",
        ),
        (
            lambda f: (f / "model" / "diffusion_pytorch_model.safetensors").write_bytes(b"x" * 9),
            "cannot load the model",
        ),
        (lambda f: shutil.rmtree(f / "scheduler"), "scheduler_config.json is missing"),
        (lambda f: _edit_config(f, width=32), "size mismatch"),  # weights of another size
        (lambda f: shutil.rmtree(f), "no such model folder"),
    ],
)
def test_broken_folders_give_clear_errors(folder, breakage, match):
    breakage(folder)
    with pytest.raises(ModelLoadError, match=match):
        PhysMotionModel.from_pretrained(folder)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_the_ddim_step_matches_diffusers(tiny_folder, eta):
    # The denoiser's v turned into the clean sample (``clean``) and stepped (``ddim_step``)
    # must equal diffusers' DDIM step from v.
    model = PhysMotionModel.from_pretrained(tiny_folder)
    reference = DDIMScheduler.from_config(model.scheduler.config)
    assert reference.config.prediction_type == "v_prediction"
    reference.set_timesteps(5)
    assert reference.timesteps.tolist() == ddim_timesteps(100, 5)
    gen = torch.Generator().manual_seed(0)
    x, v = torch.randn(2, 16, 6, generator=gen), torch.randn(2, 16, 6, generator=gen)
    for t in reference.timesteps.tolist():
        x0 = model.clean(x, v, torch.full((2,), t))
        mean, std = ddim_step(model.scheduler.alphas_cumprod, x0, t, x, steps=5, eta=eta)
        zero = torch.zeros_like(x)
        expected = reference.step(v, t, x, eta=eta, variance_noise=zero).prev_sample
        assert torch.allclose(mean, expected, atol=1e-5)
        noise = torch.randn(x.shape, generator=gen)
        noisy = reference.step(v, t, x, eta=eta, variance_noise=noise).prev_sample
        assert torch.allclose(mean + std * noise, noisy, atol=1e-5)


def test_velocity_and_clean_invert_each_other(tiny_folder):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    gen = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(3, 16, 6, generator=gen), torch.randn(3, 16, 6, generator=gen)
    t = torch.tensor([0, 50, 99])
    noisy = model.scheduler.add_noise(x0, noise, t)
    assert torch.allclose(model.clean(noisy, model.velocity(x0, noise, t), t), x0, atol=1e-5)


def _seam_filter_reference(x, patch):
    # Plain loops: odd reflection at the ends, the [1/2, 1, ..., 1, 1/2] / patch kernel.
    t = x.shape[1]
    half = patch // 2
    weights = [0.5] + [1.0] * (patch - 1) + [0.5]
    out = np.zeros_like(x)
    for i in range(t):
        for j in range(-half, half + 1):
            k = i + j
            if k < 0:
                v = 2 * x[:, 0] - x[:, -k]
            elif k >= t:
                v = 2 * x[:, -1] - x[:, 2 * (t - 1) - k]
            else:
                v = x[:, k]
            out[:, i] += weights[j + half] / patch * v
    return out


def test_the_seam_filter_removes_patch_periodic_errors_and_keeps_lines_and_parabolas():
    t = np.arange(32, dtype=np.float64)
    line = 0.3 * t - 1.0
    parabola = -0.05 * t**2
    seams = np.tile([0.0, 1.0, 1.0, -2.0], 8)
    x = torch.tensor(np.stack([line, parabola, parabola + seams], axis=1)[None])  # [1, 32, 3]
    y = seam_filter(x, 4).numpy()[0]
    assert np.allclose(y[:, 0], line)
    second = np.diff(y[:, 1], 2)
    assert np.allclose(second[2:-2], -0.1)  # the interior keeps its acceleration
    assert np.allclose(y[2:-2, 2], y[2:-2, 1])  # the seams are gone (the ends reflect them)
    rand = torch.randn(3, 16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert np.allclose(seam_filter(rand, 4).numpy(), _seam_filter_reference(rand.numpy(), 4))


def test_graded_steps_make_the_sample_differentiable_and_leave_it_unchanged(tiny_folder):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    cond, starts = model.conditions("throw", {})
    cond = cond[None].expand(2, -1)

    def run(grad_steps, trace=None):
        return model.denoise(
            cond,
            steps=4,
            eta=1.0,
            generator=torch.Generator().manual_seed(5),
            grad_steps=grad_steps,
            trace=trace,
        )

    plain = run(0)
    assert not plain.requires_grad  # no graph unless asked
    trace = []
    graded = run(2, trace)
    assert torch.equal(graded.detach(), plain)  # the same chain, noise drawn alike
    assert len(trace) == 2 and all(v.requires_grad for _, _, v in trace)
    assert [int(t[0]) for _, t, _ in trace] == ddim_timesteps(100, 4)[-2:]
    positions = model.trajectories(graded, np.repeat(starts[None], 2, axis=0))
    assert np.array_equal(positions.detach().numpy(), model.positions(graded, starts[None]))
    positions[:, -1, 0, 1].sum().backward()
    grads = [p.grad for p in model.net.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
