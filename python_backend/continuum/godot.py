"""Find and run the Godot 4 executable and the engine project (demo, benchmarks, tests).

Order: the ``GODOT`` environment variable, then the project's provisioned copy
(``scripts/provision_godot.sh`` puts it in ``.cache/godot``), then ``godot4``/``godot`` on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from continuum.errors import GodotNotFoundError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO_ROOT / "engine_plugin" / "godot"
PROVISIONED = REPO_ROOT / ".cache" / "godot" / "bin" / "godot"
MIN_VERSION = (4, 3)


def find_godot() -> Path:
    """The Godot 4.3+ executable to use; raises GodotNotFoundError saying how to get one."""
    env = os.environ.get("GODOT")
    candidates = [Path(env)] if env else []
    candidates.append(PROVISIONED)
    candidates += [Path(p) for p in map(shutil.which, ("godot4", "godot")) if p]
    for exe in candidates:
        if exe.is_file() and os.access(exe, os.X_OK) and godot_version(exe) >= MIN_VERSION:
            return exe
        if env and exe == Path(env):
            raise GodotNotFoundError(
                f"GODOT={env} is not a Godot {MIN_VERSION[0]}.{MIN_VERSION[1]}+ executable; "
                "point it at one or unset it to use the provisioned copy"
            )
    raise GodotNotFoundError(
        "no Godot 4.3+ found: run scripts/provision_godot.sh (make godot), or set GODOT "
        "to a Godot 4 executable"
    )


def godot_version(exe: Path) -> tuple[int, int]:
    """(major, minor) that ``exe --version`` reports, (0, 0) if it does not run."""
    try:
        out = subprocess.run(
            [str(exe), "--headless", "--version"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0, 0)
    match = re.search(r"^(\d+)\.(\d+)", out.strip().splitlines()[-1] if out.strip() else "")
    return (int(match[1]), int(match[2])) if match else (0, 0)


@dataclass
class GodotRun:
    """What a Godot run printed, and the ``PREFIX {json}`` result lines found in it."""

    returncode: int
    output: str

    def results(self, prefix: str) -> list[dict]:
        return [
            json.loads(line[len(prefix) + 1 :])
            for line in self.output.splitlines()
            if line.startswith(prefix + " ")
        ]


def godot_command(
    args: list[str],
    *,
    user_args: list[str] | None = None,
    headless: bool = True,
    project: Path = PROJECT_DIR,
) -> list[str]:
    """The argv that runs Godot on ``project``; ``user_args`` go after ``--``."""
    cmd = [str(find_godot())]
    if headless:
        cmd.append("--headless")
    cmd += ["--path", str(project), *args]
    if user_args:
        cmd += ["--", *user_args]
    return cmd


def run_godot(
    args: list[str],
    *,
    user_args: list[str] | None = None,
    timeout_s: float = 120.0,
    headless: bool = True,
    project: Path = PROJECT_DIR,
) -> GodotRun:
    """Run Godot on the engine project and capture its output.

    ``user_args`` go after ``--`` (read by the project's scripts). Godot does not exit on a script
    error, so every run is bounded by ``timeout_s``; a timed-out run returns code 124.
    """
    cmd = godot_command(args, user_args=user_args, headless=headless, project=project)
    try:
        done = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return GodotRun(124, (out or "") + f"\n[continuum] Godot timed out after {timeout_s:g} s")
    return GodotRun(done.returncode, done.stdout)


def import_project(project: Path = PROJECT_DIR) -> GodotRun:
    """Import the project's resources and class names (needed once before scripts run)."""
    return run_godot(["--import"], project=project, timeout_s=300)
