"""Pre-training and RL alignment at a tiny size: they change the weights, keep the shapes, and
write loadable folders."""

import numpy as np
import pytest
import torch

from continuum.generation.physmotion.align import AlignConfig, align
from continuum.generation.physmotion.model import PhysMotionModel
from continuum.generation.physmotion.reward import RewardConfig
from continuum.generation.physmotion.train import TrainConfig, displacement_scale, pretrain

from .conftest import TINY


def _weights(model):
    return torch.cat([p.detach().ravel().clone() for p in model.net.parameters()])


def test_pretraining_learns_and_checkpoints(tiny_data, tmp_path):
    config = TrainConfig(steps=4, batch=4, checkpoint_every=2)
    model, losses = pretrain(
        tiny_data, out=tmp_path / "m", model_config=TINY, config=config, show_progress=False
    )
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert model.frames == 16 and model.fps == 30
    loaded = PhysMotionModel.from_pretrained(tmp_path / "m")
    assert torch.equal(_weights(loaded), _weights(model))
    untrained, _ = pretrain(  # the same seeded start, no learning
        tiny_data,
        model_config=TINY,
        config=TrainConfig(steps=1, batch=4, lr=0.0),
        show_progress=False,
    )
    assert not torch.equal(_weights(untrained), _weights(model))


def test_the_displacement_scale_counts_present_bodies_only(tiny_data):
    scale = displacement_scale(tiny_data)
    assert scale.shape == (6,) and np.all(scale >= 0.05)
    assert scale[4] == 0.05  # the resting ball barely moves up or down


def test_alignment_changes_the_weights_and_keeps_the_output(tiny_folder, tmp_path):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    before = _weights(model)
    config = AlignConfig(
        steps=2,
        groups=4,
        group_size=3,
        grad_steps=2,
        sample_steps=4,
        lr=1e-3,
        validation_settings=0,
        reward=RewardConfig(),
    )
    tuned, log = align(model, out=tmp_path / "aligned", config=config, show_progress=False)
    assert len(log.rewards) == 2 and all(np.isfinite(log.rewards))
    assert log.validation == [] and log.kept_round == 2
    assert torch.equal(_weights(model), before)  # the pre-trained model is left as it was
    assert not torch.equal(_weights(tuned), before)
    loaded = PhysMotionModel.from_pretrained(tmp_path / "aligned")
    assert loaded.meta["sampler"] == {"steps": 4, "eta": 1.0}
    assert loaded.sample("throw", {}, n=2).shape == model.sample("throw", {}, n=2).shape


def test_alignment_keeps_the_model_best_on_validation(tiny_folder):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    before = _weights(model)
    # A learning rate that wrecks the model: validation must hand the pre-trained one back.
    config = AlignConfig(
        steps=2,
        groups=4,
        group_size=2,
        sample_steps=4,
        lr=10.0,
        validation_settings=4,
        validation_samples=2,
        validate_every=1,
    )
    tuned, log = align(model, config=config, show_progress=False)
    assert [rounds for rounds, _ in log.validation] == [0, 1, 2]
    scores = [score for _, score in log.validation]
    assert scores[0] > max(scores[1:])  # the wrecked rounds score worse
    assert log.kept_round == 0 and torch.equal(_weights(tuned), before)


def test_alignment_refuses_bad_settings(tiny_folder):
    model = PhysMotionModel.from_pretrained(tiny_folder)
    with pytest.raises(ValueError, match="grad_steps"):
        align(model, config=AlignConfig(sample_steps=4, grad_steps=5), show_progress=False)
    with pytest.raises(ValueError, match="target_share"):
        align(model, config=AlignConfig(target_share=1.5), show_progress=False)
