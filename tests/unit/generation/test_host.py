"""A model in its own process: the same results as in this one, progress relayed, cancels, a
dead process reported, a bad folder refused."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

pytest.importorskip("diffusers")

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation import ModelSpec, TextToImage, load_model
from continuum.generation.host import HostedModel

REQUEST = TextToImage(prompt="a red barn", width=32, height=32, steps=3, seed=7)


@pytest.fixture(scope="module")
def hosted(text_to_image_folder):
    model = HostedModel("text_to_image", ModelSpec(text_to_image_folder))
    yield model
    model.close()


def test_a_hosted_model_runs_as_it_would_here(hosted, text_to_image_folder):
    steps = []
    got = hosted.run(REQUEST, lambda s, n: steps.append((s, n)))
    # progress is also called, unchanged, as a check while waiting: the steps, in order
    assert list(dict.fromkeys(s for s in steps if s[0])) == [(1, 3), (2, 3), (3, 3)]
    description = hosted.describe()
    assert description["pipeline"] == "StableDiffusionPipeline"
    assert description["process"] != os.getpid()
    here = load_model("text_to_image", ModelSpec(text_to_image_folder))
    try:
        want = here.run(REQUEST, lambda s, n: None)
    finally:
        here.close()
    assert np.array_equal(got.pixels, want.pixels)


def test_a_cancel_stops_the_run_and_the_model_serves_on(hosted):
    class Stop(Exception):
        pass

    def progress(step, steps):
        if step >= 1:
            raise Stop

    with pytest.raises(Stop):
        hosted.run(TextToImage(prompt="x", width=32, height=32, steps=50), progress)
    assert hosted.run(REQUEST, lambda s, n: None).pixels.shape == (32, 32, 3)


def test_a_bad_folder_is_refused_with_the_loaders_message(tmp_path):
    with pytest.raises(ModelLoadError, match=r"no model_index\.json"):
        HostedModel("text_to_image", ModelSpec(tmp_path))


def test_a_dead_process_is_reported(text_to_image_folder):
    model = HostedModel("text_to_image", ModelSpec(text_to_image_folder))
    try:
        os.kill(model.describe()["process"], signal.SIGKILL)
        with pytest.raises(GenerationError, match=r"process \d+ ended .*rebind the slot"):
            model.run(REQUEST, lambda s, n: None)
    finally:
        model.close()
