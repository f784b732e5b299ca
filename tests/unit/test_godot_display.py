"""``virtual_display``: a private Xvfb that a windowed Godot renders on, gone after the block."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from continuum.errors import ContinuumError
from continuum.godot import display_reachable, run_godot, virtual_display

PROJECT_GODOT = """config_version=5

[application]

config/name="virtual display probe"
run/main_scene="res://main.tscn"
"""
MAIN_SCENE = """[gd_scene format=3]

[node name="Main" type="Node2D"]
"""


def _children() -> set[int]:
    """Pids of this process's children, zombies included (Xvfb runs as one)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid():
            pids.add(int(stat.parent.name))
    return pids


@pytest.mark.godot
def test_windowed_godot_renders_on_a_virtual_display(tmp_path):
    (tmp_path / "project.godot").write_text(PROJECT_GODOT)
    (tmp_path / "main.tscn").write_text(MAIN_SCENE)
    before = _children()
    with virtual_display(320, 240, force_xvfb=True) as display:
        assert display_reachable(display)
        assert _children() - before, "no Xvfb child process"
        run = run_godot(
            ["--rendering-driver", "opengl3", "--quit-after", "10"],
            headless=False,
            display=display,
            project=tmp_path,
            timeout_s=120,
        )
    assert run.returncode == 0, run.output[-3000:]
    assert re.search(r"^OpenGL API .* Using Device: ", run.output, re.M), run.output[-3000:]
    assert not display_reachable(display)
    assert _children() <= before


def test_xvfb_is_stopped_when_the_block_raises():
    before = _children()
    seen = []
    with pytest.raises(RuntimeError, match="boom"), virtual_display(64, 64, force_xvfb=True) as d:
        seen.append(d)
        assert display_reachable(d)
        raise RuntimeError("boom")
    assert seen and not display_reachable(seen[0])
    assert _children() <= before


def test_a_reachable_display_is_reused_and_a_dead_one_is_not(monkeypatch):
    with virtual_display(64, 64, force_xvfb=True) as outer:
        monkeypatch.setenv("DISPLAY", outer)
        with virtual_display(64, 64) as inner:
            assert inner == outer
    assert not display_reachable(outer)
    with virtual_display(64, 64) as fresh:  # DISPLAY is still `outer`, now gone
        assert display_reachable(fresh)


def test_an_xvfb_that_is_not_executable_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("XVFB", str(tmp_path / "no-such-Xvfb"))
    with (
        pytest.raises(ContinuumError, match=r"XVFB=.*apt-get install xvfb"),
        virtual_display(64, 64, force_xvfb=True),
    ):
        pass
