"""``continuum demo``: the backend and the Godot demo project talking, reported in plain words."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from continuum.errors import ContinuumError
from continuum.godot import REPO_ROOT, import_project, run_godot
from continuum.server.process import BackendProcess

DEFAULT_SCENE = REPO_ROOT / "scenes" / "hello"


def run_demo(
    *, scene: str | Path | None = None, seconds: float = 5.0, headless: bool = False
) -> int:
    """Start ``continuum serve`` and the demo; print what happened. Returns an exit status.

    The demo opens a window when a display is available, and runs headless otherwise.
    """
    scene = Path(scene) if scene else DEFAULT_SCENE
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    headless = headless or not display
    _say("1/4 importing the Godot project")
    imported = import_project()
    if imported.returncode != 0:
        raise ContinuumError(f"Godot could not import the project:\n{imported.output[-2000:]}")
    _say(f"2/4 starting the backend with scene {scene}")
    with BackendProcess(scene) as backend:
        _say(f"    backend on tcp://127.0.0.1:{backend.port} (state stream :{backend.pub_port})")
        _say(
            f"3/4 running the Godot demo for {seconds:g} s ({'headless' if headless else 'window'})"
        )
        run = run_godot(
            [],
            user_args=[f"--continuum-port={backend.port}", f"--demo-seconds={seconds}"],
            timeout_s=seconds + 60,
            headless=headless,
        )
    reports = run.results("CONTINUUM_DEMO")
    if not reports:
        raise ContinuumError(
            f"the Godot demo gave no report (exit {run.returncode}):\n{run.output[-3000:]}"
        )
    r = reports[-1]
    _say("4/4 what happened")
    print(
        f"handshake:  {'ok' if r.get('connected') else 'FAILED'}, protocol {r.get('protocol')}, "
        f"session {r.get('session')}"
    )
    entities = r.get("entities", [])
    print(f"entities:   {len(entities)} received: {', '.join(entities)}")
    print(
        f"ticks:      {r.get('ticks')} received, seq {r.get('tick_seq_first')}"
        f"..{r.get('tick_seq_last')}"
    )
    if r.get("rtt_ms_p50") is None:
        print("round trip: no ping was answered")
    else:
        print(f"round trip: p50 {r['rtt_ms_p50']:.3f} ms, max {r['rtt_ms_max']:.3f} ms")
    return 0 if r.get("connected") and entities and r.get("ticks") else 1


def _say(text: str) -> None:
    print(f"continuum demo: {text}", file=sys.stderr, flush=True)
