"""Tiny diffusers model folders, built once per test session (generation.random_models)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _build(factory, name: str, builder: str) -> Path:
    pytest.importorskip("diffusers")
    from continuum.generation import random_models

    return getattr(random_models, builder)(factory.mktemp(name) / "model")


@pytest.fixture(scope="session")
def text_to_image_folder(tmp_path_factory) -> Path:
    """A tiny StableDiffusionPipeline folder (read-only: copy it to damage it)."""
    return _build(tmp_path_factory, "sd", "make_text_to_image")


@pytest.fixture(scope="session")
def text_to_image_xl_folder(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "sdxl", "make_text_to_image_xl")


@pytest.fixture(scope="session")
def image_edit_folder(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "ip2p", "make_image_edit")


@pytest.fixture(scope="session")
def image_to_video_folder(tmp_path_factory) -> Path:
    return _build(tmp_path_factory, "svd", "make_image_to_video")
