"""Start ``continuum serve`` as a child process and learn its ports (demo, benchmarks, tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from continuum.errors import ContinuumError

READY_PREFIX = "CONTINUUM_READY "


class BackendProcess:
    """A ``continuum serve`` child process. A context manager; ``stop()`` ends it with SIGTERM.

    Args:
        scene: scene folder to serve, or None.
        port, pub_port: 0 picks free ports; read the real ones from ``port``/``pub_port``.
        extra: further ``continuum serve`` arguments.
        startup_s: how long to wait for the ready line.
    """

    def __init__(
        self,
        scene: str | Path | None = None,
        *,
        port: int = 0,
        pub_port: int | None = None,
        extra: list[str] | None = None,
        startup_s: float = 30.0,
    ) -> None:
        cmd = [sys.executable, "-m", "continuum", "serve", "--port", str(port)]
        if pub_port is not None:
            cmd += ["--pub-port", str(pub_port)]
        if scene is not None:
            cmd += ["--scene", str(scene)]
        cmd += extra or []
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        info = self._wait_ready(startup_s)
        self.port: int = info["port"]
        self.pub_port: int = info["pub_port"]

    def __enter__(self) -> BackendProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, *, timeout_s: float = 10.0) -> int:
        """SIGTERM, then wait; returns the exit status (SIGKILL after ``timeout_s``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        self.proc.kill()
        self.proc.wait()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))

    def _wait_ready(self, startup_s: float) -> dict[str, int]:
        assert self.proc.stdout is not None
        found: list[str] = []

        def read() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                if line.startswith(READY_PREFIX):
                    found.append(line[len(READY_PREFIX) :])
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(startup_s)
        if not found:
            self.stop()
            tail = "\n".join(self.log[-10:])
            raise ContinuumError(
                f"`continuum serve` did not come up within {startup_s:g} s:\n{tail}"
            )
        return json.loads(found[0])
