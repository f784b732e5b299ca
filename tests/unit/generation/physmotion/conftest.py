"""Tiny rollouts and a tiny model folder, built once for the physmotion tests."""

import pytest
import torch

from continuum.generation.physmotion.data import make_dataset
from continuum.generation.physmotion.model import ModelConfig
from continuum.generation.physmotion.train import TrainConfig, pretrain

TINY = ModelConfig(frames=16, patch=4, width=16, layers=1, heads=2, train_timesteps=100)


@pytest.fixture(scope="session")
def tiny_data():
    torch.set_num_threads(2)
    return make_dataset(8, frames=16, seed=3, show_progress=False)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, tiny_data):
    folder = tmp_path_factory.mktemp("physmotion") / "tiny"
    pretrain(
        tiny_data,
        out=folder,
        model_config=TINY,
        config=TrainConfig(steps=3, batch=4),
        show_progress=False,
    )
    return folder
