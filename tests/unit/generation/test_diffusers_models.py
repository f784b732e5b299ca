"""Diffusers model folders loaded as slot models: each slot runs, reports its steps, stops when
told, and every broken folder is refused with a message that names the fault."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

import diffusers
import torch

from continuum.errors import GenerationError, ModelLoadError
from continuum.generation.diffusers_models import DiffusersModel, load_diffusers
from continuum.generation.slots import (
    Image,
    ImageEdit,
    ImageToVideo,
    TextToImage,
    Video,
)
from continuum.generation.specs import ModelSpec


def _load(slot: str, folder: Path, **spec) -> DiffusersModel:
    return load_diffusers(slot, ModelSpec(folder, **spec))


def _never(step: int, steps: int) -> None:
    """A progress callback for runs whose progress is not under test."""


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


def _edit_index(folder: Path, **changes) -> None:
    index_file = folder / "model_index.json"
    index = json.loads(index_file.read_text())
    index.update(changes)
    index_file.write_text(json.dumps(index))


@pytest.fixture(scope="module")
def sd(text_to_image_folder) -> DiffusersModel:
    model = _load("text_to_image", text_to_image_folder)
    yield model
    model.close()


@pytest.fixture(scope="module")
def ip2p(image_edit_folder) -> DiffusersModel:
    model = _load("image_edit", image_edit_folder)
    yield model
    model.close()


@pytest.fixture(scope="module")
def svd(image_to_video_folder) -> DiffusersModel:
    model = _load("image_to_video", image_to_video_folder)
    yield model
    model.close()


# -- each slot runs --------------------------------------------------------------------------


def test_text_to_image_gives_a_deterministic_image(sd, text_to_image_folder):
    request = TextToImage("a red cube", width=40, height=24, steps=2, seed=7)
    first = sd.run(request, _never)
    assert isinstance(first, Image)
    assert first.pixels.dtype == np.uint8 and first.pixels.shape == (24, 40, 3)
    np.testing.assert_array_equal(sd.run(request, _never).pixels, first.pixels)
    other = sd.run(TextToImage("a red cube", width=40, height=24, steps=2, seed=8), _never)
    assert not np.array_equal(other.pixels, first.pixels)
    assert sd.describe() == {
        "name": "model",
        "pipeline": "StableDiffusionPipeline",
        "device": "cpu",
        "dtype": "float32",
        "path": str(text_to_image_folder),
        "parameters": sd.describe()["parameters"],
    }
    assert sd.describe()["parameters"] > 10_000


def test_text_to_image_takes_sdxl(text_to_image_xl_folder):
    model = _load("text_to_image", text_to_image_xl_folder)
    try:
        request = TextToImage("a blue sphere", negative_prompt="blur", width=32, height=16, steps=2)
        out = model.run(request, _never)
        assert out.pixels.dtype == np.uint8 and out.pixels.shape == (16, 32, 3)
        np.testing.assert_array_equal(model.run(request, _never).pixels, out.pixels)
        assert model.describe()["pipeline"] == "StableDiffusionXLPipeline"
    finally:
        model.close()


def test_image_edit_keeps_the_input_size(ip2p):
    image = _picture(33, 27)  # not a multiple of the latent grid: resized there and back
    request = ImageEdit(image, "make it red", steps=2, seed=3)
    out = ip2p.run(request, _never)
    assert isinstance(out, Image)
    assert out.pixels.dtype == np.uint8 and out.pixels.shape == (33, 27, 3)
    np.testing.assert_array_equal(ip2p.run(request, _never).pixels, out.pixels)


def test_image_to_video_gives_frames_at_the_input_size(svd):
    request = ImageToVideo(_picture(24, 36), frames=3, fps=6, steps=2, motion=60.0, seed=1)
    out = svd.run(request, _never)
    assert isinstance(out, Video)
    assert out.fps == 6
    assert out.frames.dtype == np.uint8 and out.frames.shape == (3, 24, 36, 3)
    np.testing.assert_array_equal(svd.run(request, _never).frames, out.frames)


def test_a_request_of_another_slot_is_refused(sd):
    with pytest.raises(GenerationError, match="expected a TextToImage request, got ImageEdit"):
        sd.run(ImageEdit(_picture(16, 16), "x"), _never)


# -- progress and stopping -------------------------------------------------------------------


REQUESTS = {
    "sd": TextToImage("a cube", width=16, height=16, steps=3),
    "ip2p": ImageEdit(_picture(16, 16), "brighter", steps=3),
    "svd": ImageToVideo(_picture(16, 16), frames=2, steps=3),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_progress_is_told_once_per_step(name, request):
    model = request.getfixturevalue(name)
    calls = []
    model.run(REQUESTS[name], lambda step, steps: calls.append((step, steps)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


class _Cancel(Exception):
    pass


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_an_exception_from_progress_stops_the_run(name, request):
    model = request.getfixturevalue(name)
    calls = []

    def progress(step: int, steps: int) -> None:
        calls.append(step)
        raise _Cancel

    with pytest.raises(_Cancel):
        model.run(REQUESTS[name], progress)
    assert calls == [1]
    model.run(REQUESTS[name], _never)  # the model serves the next run


def test_close_frees_the_model_and_later_runs_fail(text_to_image_folder):
    model = _load("text_to_image", text_to_image_folder)
    model.close()
    model.close()
    with pytest.raises(GenerationError, match="closed"):
        model.run(TextToImage("x", width=16, height=16, steps=1), _never)


# -- dtypes and devices ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_runs_on_the_cpu(text_to_image_folder, dtype):
    model = _load("text_to_image", text_to_image_folder, dtype=dtype)
    try:
        assert model.describe()["dtype"] == dtype
        assert model._pipe.unet.dtype == getattr(torch, dtype)
        out = model.run(TextToImage("x", width=16, height=16, steps=1), _never)
        assert out.pixels.dtype == np.uint8 and out.pixels.shape == (16, 16, 3)
    finally:
        model.close()


def test_cuda_without_cuda_is_refused(text_to_image_folder, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match=r"'cuda:1' asked for, but CUDA is not available"):
        _load("text_to_image", text_to_image_folder, device="cuda:1")


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory"),
    ],
)
def test_out_of_memory_while_loading_says_so(text_to_image_folder, monkeypatch, error):
    def from_pretrained(*args, **kwargs):
        raise error

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_pretrained", from_pretrained)
    with pytest.raises(ModelLoadError, match="out of memory loading it on cpu"):
        _load("text_to_image", text_to_image_folder)


# -- folders that are refused ----------------------------------------------------------------


def test_a_folder_without_model_index_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match=r"not a diffusers model folder: no model_index\.json"):
        _load("text_to_image", tmp_path)
    (tmp_path / "sd_turbo.safetensors").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="single-file checkpoint"):
        _load("text_to_image", tmp_path)
    with pytest.raises(ModelLoadError, match="no such model folder"):
        _load("text_to_image", tmp_path / "absent")


def test_a_pickle_only_folder_is_refused_without_unpickling(
    text_to_image_folder, tmp_path, monkeypatch
):
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(text_to_image_folder)
    pipe.save_pretrained(tmp_path / "pickled", safe_serialization=False)
    assert list((tmp_path / "pickled" / "unet").glob("*.bin"))

    def load(*args, **kwargs):
        raise AssertionError("a pickle was opened")

    monkeypatch.setattr(torch, "load", load)
    with pytest.raises(
        ModelLoadError, match=r"safetensors only: (text_encoder, )?unet, vae hold only pickled"
    ):
        _load("text_to_image", tmp_path / "pickled")


@pytest.mark.parametrize(
    "file",
    ["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"],
)
def test_a_truncated_safetensors_file_is_named(text_to_image_folder, tmp_path, file):
    folder = _copy(text_to_image_folder, tmp_path)
    data = (folder / file).read_bytes()
    (folder / file).write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ModelLoadError, match=rf"{file}: truncated or corrupt: its header says"):
        _load("text_to_image", folder)


def test_a_corrupt_safetensors_file_is_named(text_to_image_folder, tmp_path):
    folder = _copy(text_to_image_folder, tmp_path)
    file = folder / "vae" / "diffusion_pytorch_model.safetensors"
    file.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}...")
    with pytest.raises(ModelLoadError, match=r"vae/diffusion_pytorch_model.safetensors: corrupt"):
        _load("text_to_image", folder)
    file.write_bytes(b"garbage garbage")
    with pytest.raises(ModelLoadError, match="not a whole safetensors file"):
        _load("text_to_image", folder)


@pytest.mark.parametrize("component", ["vae", "tokenizer", "scheduler"])
def test_a_missing_component_folder_is_named(text_to_image_folder, tmp_path, component):
    folder = _copy(text_to_image_folder, tmp_path)
    shutil.rmtree(folder / component)
    with pytest.raises(ModelLoadError, match=rf"component {component} .* folder {component}/ is"):
        _load("text_to_image", folder)


def test_a_bad_config_keeps_the_library_message(text_to_image_folder, tmp_path):
    folder = _copy(text_to_image_folder, tmp_path)
    (folder / "unet" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"cannot load the StableDiffusionPipeline: .*config"):
        _load("text_to_image", folder)


def test_weights_that_do_not_fit_the_config_keep_the_library_message(
    text_to_image_folder, tmp_path
):
    folder = _copy(text_to_image_folder, tmp_path)
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["block_out_channels"] = [32, 64]
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"cannot load .*ValueError: .*shape"):
        _load("text_to_image", folder)


def test_a_bad_model_index_is_refused(text_to_image_folder, tmp_path):
    folder = _copy(text_to_image_folder, tmp_path)
    (folder / "model_index.json").write_text("[1, 2")
    with pytest.raises(ModelLoadError, match=r"model_index\.json: not a readable JSON file"):
        _load("text_to_image", folder)


def test_a_pipeline_of_another_slot_is_refused(image_edit_folder, text_to_image_folder):
    with pytest.raises(
        ModelLoadError,
        match="its pipeline is 'StableDiffusionInstructPix2PixPipeline', which does not serve "
        "text_to_image; text_to_image takes StableDiffusionPipeline, StableDiffusionXLPipeline",
    ):
        _load("text_to_image", image_edit_folder)
    with pytest.raises(ModelLoadError, match="image_to_video takes StableVideoDiffusionPipeline"):
        _load("image_to_video", text_to_image_folder)
    with pytest.raises(ModelLoadError, match="motion slot takes the built-in model"):
        _load("motion", text_to_image_folder)


def test_custom_code_is_refused(text_to_image_folder, tmp_path):
    folder = _copy(text_to_image_folder, tmp_path)
    _edit_index(folder, unet=["my_package", "EvilUNet"])
    with pytest.raises(ModelLoadError, match="component unet comes from 'my_package'"):
        _load("text_to_image", folder)
    _edit_index(folder, _class_name=["pipeline", "MyPipeline"])
    with pytest.raises(ModelLoadError, match="does not serve text_to_image"):
        _load("text_to_image", folder)


def test_an_absent_safety_checker_is_disabled(text_to_image_folder, tmp_path):
    folder = _copy(text_to_image_folder, tmp_path)
    _edit_index(  # as Stable Diffusion 1.5 lists them, without their folders
        folder,
        safety_checker=["stable_diffusion", "StableDiffusionSafetyChecker"],
        feature_extractor=["transformers", "CLIPImageProcessor"],
        requires_safety_checker=True,
    )
    model = _load("text_to_image", folder)
    try:
        assert model._pipe.safety_checker is None
        out = model.run(TextToImage("x", width=16, height=16, steps=1), _never)
        assert out.pixels.shape == (16, 16, 3)
    finally:
        model.close()


def test_text_to_image_from_a_reference_is_image_to_image(text_to_image_folder):
    model = load_diffusers("text_to_image", ModelSpec(text_to_image_folder))
    try:
        reference = np.full((24, 40, 3), 200, np.uint8)
        steps = []
        request = TextToImage(
            prompt="a cat", width=32, height=32, steps=4, seed=1, reference=reference, strength=0.5
        )
        out = model.run(request, lambda s, n: steps.append((s, n)))
        assert out.pixels.shape == (32, 32, 3) and out.pixels.dtype == np.uint8
        assert steps == [(1, 2), (2, 2)]  # strength 0.5 of 4 steps
        plain = model.run(replace(request, reference=None), lambda s, n: None)
        assert not np.array_equal(out.pixels, plain.pixels)
    finally:
        model.close()
