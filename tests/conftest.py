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
