"""Fixtures for the splat-format tests: the real files, random clouds, and a bounded fuzzer."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from continuum.errors import SplatFormatError
from continuum.splats import SplatCloud

REPO = Path(__file__).resolve().parents[4]
DATA = REPO.parent / "shared" / "data" / "splats"

Edit = Callable[[bytes, random.Random], bytes]


@pytest.fixture
def data() -> Path:
    """The real conformance files (../shared/data/splats); skips when that folder is absent."""
    if not DATA.is_dir():
        pytest.skip(f"the real splat files are not at {DATA} (see its MANIFEST.md)")
    return DATA


@pytest.fixture
def make_cloud() -> Callable[..., SplatCloud]:
    """``make_cloud(n=50, degree=3, seed=0)``: a float32 cloud in the ranges trainers produce
    (log-scales below 0, un-normalised quaternions)."""

    def make(n: int = 50, degree: int = 3, seed: int = 0) -> SplatCloud:
        g = torch.Generator().manual_seed(seed)
        k = (degree + 1) ** 2
        return SplatCloud(
            torch.randn(n, 3, generator=g) * 3,
            torch.randn(n, 4, generator=g) * 1.3,
            torch.rand(n, 3, generator=g) * -9 - 0.5,
            torch.randn(n, generator=g) * 3,
            torch.randn(n, k, 3, generator=g) * 0.3,
        )

    return make


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _flip_head(data: bytes, rng: random.Random) -> bytes:
    """Byte flips in the first 2 KiB, where the headers are."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        out[rng.randrange(min(len(out), 2048))] = rng.randrange(256)
    return bytes(out)


@pytest.fixture
def fuzz(tmp_path: Path) -> Callable[..., dict[str, int]]:
    """``fuzz(data, read, *, rounds, seed=0, edits=())``: read ``rounds`` mutations of ``data``
    (truncations, byte flips anywhere and in the first 2 KiB, then the given ``edits`` in turn);
    only a SplatCloud or a SplatFormatError naming the file may come out. Returns how many
    rounds gave each, {"cloud": ..., "error": ...}."""

    def run(
        data: bytes,
        read: Callable[[Path], SplatCloud],
        *,
        rounds: int,
        seed: int = 0,
        edits: tuple[Edit, ...] = (),
    ) -> dict[str, int]:
        rng = random.Random(seed)
        path = tmp_path / f"fuzzed-{seed}"
        kinds = (_truncate, _flip_bytes, _flip_head, *edits)
        outcomes = {"cloud": 0, "error": 0}
        for i in range(rounds):
            path.write_bytes(kinds[i % len(kinds)](data, rng))
            try:
                cloud = read(path)
            except SplatFormatError as e:
                assert str(path) in str(e), f"the error does not name the file: {e}"
                outcomes["error"] += 1
                continue
            assert isinstance(cloud, SplatCloud)
            outcomes["cloud"] += 1
        return outcomes

    return run


@pytest.fixture
def assert_refused(tmp_path: Path) -> Callable[..., None]:
    """``assert_refused(read, content, words, suffix=".ply")``: ``read`` of a file holding
    ``content`` raises a SplatFormatError that matches ``words`` and names the file."""

    def check(
        read: Callable[[Path], SplatCloud], content: bytes, words: str, *, suffix: str
    ) -> None:
        path = tmp_path / f"broken{suffix}"
        path.write_bytes(content)
        with pytest.raises(SplatFormatError, match=words) as caught:
            read(path)
        assert str(path) in str(caught.value)

    return check
