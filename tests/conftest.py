"""Fixtures shared by the Python tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from continuum.server.app import Server, ServerConfig, serve_in_thread
from continuum.world import load_scene

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "scenes" / "hello"
# The real splat files (MANIFEST.md there): $CONTINUUM_SPLAT_DATA, else beside the repository.
SPLAT_DATA = Path(os.environ.get("CONTINUUM_SPLAT_DATA") or REPO.parent / "shared/data/splats")
SPLATS = REPO / "scenes" / "splats"


@pytest.fixture
def server_factory() -> Iterator:
    """Start in-process servers on free ports: ``server_factory(scene=HELLO, **ServerConfig
    fields)``."""
    with __import__("contextlib").ExitStack() as stack:

        def start(scene: Path = HELLO, **overrides: object) -> Server:
            config = ServerConfig(port=0, **overrides)  # type: ignore[arg-type]
            return stack.enter_context(serve_in_thread(config, load_scene(scene)))

        yield start


@pytest.fixture
def server(server_factory) -> Server:
    """A server on free ports serving scenes/hello at 100 Hz."""
    return server_factory(tick_hz=100.0)


# -- tiny diffusers model folders, built once per test session (generation.random_models) ---------


def _build_model(factory, name: str, builder: str) -> Path:
    pytest.importorskip("diffusers")
    from continuum.generation import random_models

    return getattr(random_models, builder)(factory.mktemp(name) / "model")


@pytest.fixture(scope="session")
def text_to_image_folder(tmp_path_factory) -> Path:
    """A tiny StableDiffusionPipeline folder (read-only: copy it to damage it)."""
    return _build_model(tmp_path_factory, "sd", "make_text_to_image")


@pytest.fixture(scope="session")
def text_to_image_xl_folder(tmp_path_factory) -> Path:
    return _build_model(tmp_path_factory, "sdxl", "make_text_to_image_xl")


@pytest.fixture(scope="session")
def image_edit_folder(tmp_path_factory) -> Path:
    return _build_model(tmp_path_factory, "ip2p", "make_image_edit")


@pytest.fixture(scope="session")
def image_to_video_folder(tmp_path_factory) -> Path:
    return _build_model(tmp_path_factory, "svd", "make_image_to_video")
