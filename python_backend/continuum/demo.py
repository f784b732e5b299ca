"""``continuum demo``: the backend and the Godot demo project talking, reported in plain words.

The backend serves a scene (default ``scenes/splats``: a rainbow torus of Gaussian splats and a
camera) in this process; Godot runs the demo project in a window, on the current display or on a
private Xvfb when there is none. Once Godot shows every splat entity's cloud, the demo edits the
world live: midway through the run it recolours each splat by height and sets it on the world,
which the backend announces and Godot fetches and swaps in. At the end Godot saves a screenshot
of the edited scene, seen through the scene's camera.

A scene with physics (``scenes/physics_playground``) is simulated by the backend and streamed to
Godot, which moves the bodies' nodes as the poses say. The simulation waits (paused) until Godot
shows the bodies, so that Godot sees them fall and settle; midway through the run the demo throws
a ball into the stack of boxes through the server's simulation, and the report says how many
bodies moved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from continuum.errors import ContinuumError
from continuum.godot import (
    REPO_ROOT,
    GodotRun,
    godot_command,
    import_project,
    virtual_display,
)

if TYPE_CHECKING:
    from continuum.physics import Simulation
    from continuum.splats.cloud import SplatCloud
    from continuum.world.scene import Scene

DEFAULT_SCENE = REPO_ROOT / "scenes" / "splats"
DEFAULT_SCREENSHOT = REPO_ROOT / ".cache" / "demo" / "continuum-demo.png"
WINDOW = (1280, 720)  # the demo project's window, and the virtual display's screen
RESULT_PREFIX = "CONTINUUM_DEMO"
SPLATS_PREFIX = "CONTINUUM_DEMO_SPLATS"  # Godot: every splat entity shows one more version
PHYSICS_PREFIX = "CONTINUUM_DEMO_PHYSICS"  # Godot: the physics bodies follow the pose stream
THROWN = "ball"  # the body the demo throws, when the scene has one
THROW_FROM = (0.05, 0.45, 1.8)  # m, glTF axes: in front of the stack...
THROW_VELOCITY = (0.0, 1.0, -9.0)  # m/s: ...into its second row
# The live edit's colour ramp, from the lowest splat of an entity to its highest.
LOW_COLOUR = (0.10, 0.25, 0.95)  # blue
HIGH_COLOUR = (1.00, 0.70, 0.10)  # amber
GODOT_SLACK_S = 90.0  # beyond --seconds: start-up, connecting, fetching, the screenshot


def run_demo(
    *,
    scene: str | Path | None = None,
    seconds: float = 5.0,
    headless: bool = False,
    screenshot: str | Path | None = None,
) -> int:
    """Serve ``scene``, run the Godot demo for ``seconds``, edit its splats live, print what
    happened. Returns an exit status: 0 when Godot connected, received the world and ticks,
    showed both versions of every splat and (unless ``headless``) saved the screenshot.

    Args:
        scene: scene folder; default ``scenes/splats``.
        seconds: how long the demo runs after Godot connects; the live edit comes midway.
        headless: run Godot without a window (it then draws nothing: no screenshot).
        screenshot: where the PNG goes; default ``.cache/demo/continuum-demo.png`` in the repo.
    """
    from continuum.server.app import ServerConfig, serve_in_thread
    from continuum.world import load_scene

    if seconds < 0:
        raise ContinuumError(f"--seconds must be >= 0, got {seconds:g}")
    world_scene = load_scene(scene if scene else DEFAULT_SCENE)
    shot = None if headless else Path(screenshot or DEFAULT_SCREENSHOT).resolve()

    _say("1/5 importing the Godot project")
    imported = import_project()
    if imported.returncode != 0:
        raise ContinuumError(f"Godot could not import the project:\n{imported.output[-2000:]}")

    edits = _recoloured_splats(world_scene)
    names = ", ".join(repr(e[0]) for e in edits)
    _say(
        f"2/5 live edit prepared: {names} recoloured by height" if edits else "2/5 no splat to edit"
    )

    _say(f"3/5 serving scene {world_scene.name!r} from {world_scene.path}")
    user_args = [f"--demo-seconds={seconds:g}"]
    if edits:
        user_args.append("--demo-versions=2")
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)  # so that an old one is never reported as this run's
        user_args.append(f"--demo-screenshot={shot}")
    edited_at: float | None = None
    thrown_at: float | None = None
    with (
        serve_in_thread(ServerConfig(port=0), world_scene) as server,
        _display(headless) as display,
    ):
        sim = server.simulation
        if sim is not None:
            sim.pause()  # until Godot shows the bodies, so that it sees them fall
        _say(f"    backend on tcp://127.0.0.1:{server.port} (state stream :{server.pub_port})")
        where = "headless" if display is None else f"a window on DISPLAY={display}"
        _say(f"4/5 running the Godot demo for {seconds:g} s ({where})")
        cmd = godot_command(
            ["--resolution", f"{WINDOW[0]}x{WINDOW[1]}"],
            user_args=[f"--continuum-port={server.port}", *user_args],
            headless=display is None,
        )
        with _GodotProcess(cmd, display=display) as godot:
            deadline = time.monotonic() + seconds + GODOT_SLACK_S
            if sim is not None:
                following = godot.wait_for_physics(timeout_s=deadline - time.monotonic())
                sim.resume()
                if following is not None:
                    _say(f"    physics: Godot follows the poses, {following['seconds']:.1f} s in")
                    thrown_at = _throw(sim, following["seconds"], seconds)
            shown = (
                godot.wait_for_splats(1, timeout_s=deadline - time.monotonic()) if edits else None
            )
            if shown is not None:
                time.sleep(max(0.0, seconds / 2 - shown["seconds"]))
                for entity_id, cloud, sh_degree in edits:
                    server.world.set_splat(entity_id, cloud, sh_degree=sh_degree)
                edited_at = max(seconds / 2, shown["seconds"])
                _say(f"    live edit: {names} set on the world, {edited_at:.1f} s in")
            run = godot.wait(timeout_s=deadline - time.monotonic())

    reports = run.results(RESULT_PREFIX)
    if not reports:
        raise ContinuumError(
            f"the Godot demo gave no report (exit {run.returncode}):\n{run.output[-3000:]}"
        )
    _say("5/5 what happened")
    return _report(
        reports[-1], edits=len(edits), edited_at=edited_at, thrown_at=thrown_at, screenshot=shot
    )


def _throw(sim: Simulation, shown_s: float, seconds: float) -> float | None:
    """Midway through the run, throw ``THROWN`` into the stack (a teleport with a velocity); the
    seconds since Godot connected when it was thrown, or None when the scene has no such body."""
    if THROWN not in sim.layout()[1]:
        return None
    time.sleep(max(0.0, seconds / 2 - shown_s))
    sim.control(
        {"op": "teleport", "entity": THROWN, "position": list(THROW_FROM),
         "velocity": list(THROW_VELOCITY)}
    )  # fmt: skip
    thrown_at = max(seconds / 2, shown_s)
    _say(f"    threw {THROWN!r} into the stack, {thrown_at:.1f} s in")
    return thrown_at


def _report(
    r: dict,
    *,
    edits: int,
    edited_at: float | None,
    thrown_at: float | None = None,
    screenshot: Path | None,
) -> int:
    """Print Godot's CONTINUUM_DEMO report ``r`` in plain words; return the exit status."""
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

    splats = r.get("splat_entities", {})
    versions = [s["versions"] for s in splats.values()]
    if not splats:
        print("splats:     none in this scene (no live edit)")
    else:
        shown = (
            f"{min(versions)}"
            if min(versions) == max(versions)
            else (f"{min(versions)}..{max(versions)}")
        )
        count = sum(s["splats"] for s in splats.values())
        noun = "entity" if len(splats) == 1 else "entities"
        print(f"splats:     {len(splats)} {noun}, {count} splats, {shown} versions shown")
        if edited_at is None:
            print("live edit:  not made (Godot never showed the first version)")
        else:
            print(f"live edit:  recoloured by height {edited_at:.1f} s in, hot-swapped by Godot")
    for failure in r.get("splat_failures", []):
        print(f"splat fetch failed: {failure}")
    physics = r.get("physics")
    if physics:
        moved = physics.get("moved", [])
        print(
            f"physics:    {physics['bodies']} bodies, {physics['frames']} pose frames at "
            f"{physics['publish_hz']:g} Hz ({physics.get('frames_missed', 0)} missed), "
            f"{len(moved)} moved: {', '.join(moved) if moved else 'none'}"
        )
        if thrown_at is None:
            print(f"throw:      none (no body {THROWN!r}, or Godot never showed the bodies)")
        else:
            print(f"throw:      {THROWN!r} thrown into the stack {thrown_at:.1f} s in")
    saved = r.get("screenshot")
    if screenshot is None:
        print("screenshot: none (--headless: Godot draws nothing)")
    elif saved and Path(saved).is_file():
        print(f"screenshot: {saved}")
    else:
        print(f"screenshot: FAILED, nothing saved to {screenshot}")

    ok = bool(r.get("connected") and entities and r.get("ticks"))
    ok = ok and (not edits or (edited_at is not None and min(versions, default=0) >= 2))
    ok = ok and (not physics or (physics["frames"] > 0 and bool(physics.get("moved"))))
    return 0 if ok and (screenshot is None or saved) else 1


def _recoloured_splats(scene: Scene) -> list[tuple[str, SplatCloud, int | None]]:
    """(entity id, its cloud recoloured by height, its component's sh_degree) for each entity of
    ``scene`` with a splat component, read back from the scene's files."""
    from continuum.splats.formats import read_splats

    edits = []
    for entity in scene.entities:
        spec = entity.components.get("splat")
        if spec is not None:
            cloud = read_splats(scene.resolve(spec["file"]))
            edits.append((entity.id, recolour_by_height(cloud), spec.get("sh_degree")))
    return edits


def recolour_by_height(
    cloud: SplatCloud,
    *,
    low: tuple[float, float, float] = LOW_COLOUR,
    high: tuple[float, float, float] = HIGH_COLOUR,
) -> SplatCloud:
    """``cloud`` with its base colour running from ``low`` at its lowest splat to ``high`` at its
    highest (+Y of the cloud's own frame). Each splat keeps its brightness (its largest RGB
    channel) and its view-dependent SH bands; geometry and opacity are unchanged."""
    import torch

    from continuum.splats.sh import C0, rgb_to_sh0

    y = cloud.means[:, 1]  # [N]
    t = ((y - y.min()) / (y.max() - y.min()).clamp_min(1e-9)).unsqueeze(-1)  # [N, 1]
    lo = torch.tensor(low, dtype=cloud.dtype, device=cloud.device)  # [3]
    hi = torch.tensor(high, dtype=cloud.dtype, device=cloud.device)  # [3]
    ramp = lo + t * (hi - lo)  # [N, 3]
    rgb = cloud.sh[:, 0] * C0 + 0.5  # [N, 3]
    value = rgb.amax(dim=-1, keepdim=True).clamp(0.0, 1.0)  # [N, 1]
    sh = cloud.sh.clone()  # [N, K, 3]
    sh[:, 0] = rgb_to_sh0(ramp / ramp.amax(dim=-1, keepdim=True) * value)
    return dataclasses.replace(cloud, sh=sh)


@contextlib.contextmanager
def _display(headless: bool) -> Iterator[str | None]:
    """None when ``headless``; else the current DISPLAY, or a private Xvfb's when none."""
    if headless:
        yield None
        return
    if not os.environ.get("DISPLAY"):
        _say(f"    no DISPLAY: starting a virtual one ({WINDOW[0]}x{WINDOW[1]}, Xvfb)")
    with virtual_display(*WINDOW) as display:
        yield display


class _GodotProcess:
    """Godot running ``cmd``, its output read as it comes (for the SPLATS_PREFIX lines).

    A context manager: leaving it kills Godot if it still runs.
    """

    def __init__(self, cmd: list[str], *, display: str | None) -> None:
        env = {**os.environ, "DISPLAY": display} if display else None
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )
        self._lines: list[str] = []
        self._splats: list[dict] = []
        self._physics: dict | None = None
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, name="continuum-demo-godot", daemon=True)
        self._reader.start()

    def __enter__(self) -> _GodotProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._reader.join(timeout=10)

    def wait_for_splats(self, versions: int, *, timeout_s: float) -> dict | None:
        """Godot's first SPLATS_PREFIX line with at least ``versions``; None if Godot ended or
        ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for progress in self._splats:
                    if progress.get("versions", 0) >= versions:
                        return progress
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    return None
                self._changed.wait(left)

    def wait_for_physics(self, *, timeout_s: float) -> dict | None:
        """Godot's PHYSICS_PREFIX line (its bodies follow the pose stream); None if Godot ended
        or ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._physics is None:
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    return None
                self._changed.wait(left)
            return self._physics

    def wait(self, *, timeout_s: float) -> GodotRun:
        """Godot's exit status and output; code 124 (and Godot killed) after ``timeout_s``."""
        try:
            code = self._proc.wait(timeout=max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            self.close()
            code = 124
            self._lines.append(f"[continuum] Godot timed out after {timeout_s:g} s\n")
        self._reader.join(timeout=10)
        return GodotRun(code, "".join(self._lines))

    def _read(self) -> None:
        assert self._proc.stdout is not None
        try:
            for line in self._proc.stdout:
                with self._changed:
                    self._lines.append(line)
                    if line.startswith(SPLATS_PREFIX + " "):
                        self._splats.append(json.loads(line[len(SPLATS_PREFIX) + 1 :]))
                        self._changed.notify_all()
                    elif line.startswith(PHYSICS_PREFIX + " "):
                        self._physics = json.loads(line[len(PHYSICS_PREFIX) + 1 :])
                        self._changed.notify_all()
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()


def _say(text: str) -> None:
    print(f"continuum demo: {text}", file=sys.stderr, flush=True)
