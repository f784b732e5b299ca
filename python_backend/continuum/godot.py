"""Find and run the Godot 4 executable and the engine project (demo, benchmarks, tests).

Order: the ``GODOT`` environment variable, then the project's provisioned copy
(``scripts/provision_godot.sh`` puts it in ``.cache/godot``), then ``godot4``/``godot`` on PATH.

``virtual_display`` gives windowed (non-headless) runs an X display: the current one, or a
private Xvfb (``XVFB``, then ``Xvfb`` on PATH, then ``scripts/provision_xvfb.sh``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from continuum.errors import ContinuumError, GodotNotFoundError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO_ROOT / "engine_plugin" / "godot"
PROVISIONED = REPO_ROOT / ".cache" / "godot" / "bin" / "godot"
PROVISION_XVFB = REPO_ROOT / "scripts" / "provision_xvfb.sh"
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
    """The argv that runs Godot on ``project``; ``user_args`` go after ``--``.

    A windowed run (``headless=False``) gets ``--audio-driver Dummy`` unless ``args`` pick one.
    """
    cmd = [str(find_godot())]
    if headless:
        cmd.append("--headless")
    elif "--audio-driver" not in args:
        cmd += ["--audio-driver", "Dummy"]
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
    display: str | None = None,
) -> GodotRun:
    """Run Godot on the engine project and capture its output.

    ``user_args`` go after ``--`` (read by the project's scripts). Godot does not exit on a script
    error, so every run is bounded by ``timeout_s``; a timed-out run returns code 124.
    ``display`` sets Godot's ``DISPLAY`` (e.g. from ``virtual_display``) for windowed runs.
    """
    cmd = godot_command(args, user_args=user_args, headless=headless, project=project)
    env = {**os.environ, "DISPLAY": display} if display else None
    try:
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return GodotRun(124, (out or "") + f"\n[continuum] Godot timed out after {timeout_s:g} s")
    return GodotRun(done.returncode, done.stdout)


def import_project(project: Path = PROJECT_DIR) -> GodotRun:
    """Import the project's resources and class names (needed once before scripts run)."""
    return run_godot(["--import"], project=project, timeout_s=300)


@contextlib.contextmanager
def virtual_display(
    width: int = 1280, height: int = 720, *, force_xvfb: bool = False, timeout_s: float = 60.0
) -> Iterator[str]:
    """An X display for windowed Godot runs: yields a ``DISPLAY`` value such as ``":3"``.

    The current ``DISPLAY`` if it accepts connections (its size is then whatever it is), unless
    ``force_xvfb``; otherwise a private Xvfb with one ``width``x``height``x24 screen, no TCP, on
    a display number it picks itself (``-displayfd``), stopped on exit, also on an exception.
    Raises ContinuumError when no Xvfb can be found or provisioned, or when it does not start
    within ``timeout_s``.
    """
    current = os.environ.get("DISPLAY")
    if current and not force_xvfb and display_reachable(current):
        yield current
        return
    xvfb = find_xvfb()
    screen = f"{width}x{height}x24"
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(
                [xvfb, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
                pass_fds=(write_fd,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            os.close(read_fd)
            raise ContinuumError(f"cannot start Xvfb ({xvfb}): {exc}") from exc
        finally:
            os.close(write_fd)
        try:
            number = _read_display_number(read_fd, proc, timeout_s)
            if number is None:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-3000:]
                raise ContinuumError(
                    f"Xvfb ({xvfb}) did not start within {timeout_s:g} s "
                    f"(exit status {proc.poll()}):\n{tail}"
                )
            yield f":{number}"
        finally:
            os.close(read_fd)
            _stop(proc)


def find_xvfb() -> str:
    """The Xvfb to run: ``XVFB``, else ``Xvfb`` on PATH, else ``scripts/provision_xvfb.sh``."""
    env = os.environ.get("XVFB")
    if env:
        exe = env if os.sep in env else shutil.which(env)
        if exe and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
        raise ContinuumError(
            f"XVFB={env} is not an executable; point it at an Xvfb (apt-get install xvfb puts "
            "one in /usr/bin) or unset it"
        )
    on_path = shutil.which("Xvfb")
    if on_path:
        return on_path
    tried = "XVFB (unset), Xvfb on PATH (none)"
    if PROVISION_XVFB.is_file():
        done = subprocess.run([str(PROVISION_XVFB)], capture_output=True, text=True)
        sys.stderr.write(done.stderr)
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines and os.access(lines[-1], os.X_OK):
            return lines[-1]
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        tried += f", {PROVISION_XVFB} ({tail[0]})"
    raise ContinuumError(
        f"no Xvfb for a virtual display: tried {tried}. Install one (apt-get install xvfb), "
        "run scripts/provision_xvfb.sh, set XVFB=/path/to/Xvfb, or set DISPLAY to a running "
        "X server"
    )


def display_reachable(display: str) -> bool:
    """Whether an X server accepts connections at ``display`` (``[host]:N[.S]``)."""
    match = re.fullmatch(r"(?:unix)?(?P<host>[^:/]*):(?P<n>\d+)(?:\.\d+)?", display)
    if not match:
        return False
    number, host = int(match["n"]), match["host"]
    if host:
        try:
            socket.create_connection((host, 6000 + number), timeout=1.0).close()
        except OSError:
            return False
        return True
    path = f"/tmp/.X11-unix/X{number}"
    for address in ("\0" + path, path):  # the abstract socket first, as Xlib does
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(address)
            except OSError:
                continue
            return True
    return False


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    """The display number Xvfb writes to ``fd`` once it accepts clients; None if it does not."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], min(left, 0.5))[0]:
            if left <= 0 or proc.poll() is not None:
                return None
            continue
        chunk = os.read(fd, 64)
        if not chunk:  # Xvfb exited (it held the only other end)
            return None
        data += chunk
    text = data.split(b"\n", 1)[0].strip()
    return int(text) if text.isdigit() else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` and reap it (SIGKILL if SIGTERM does not end it within 10 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
