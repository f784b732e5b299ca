"""Splats as live-synced Godot assets: a real headless Godot against a real backend.

The backend (in this process, ``serve_in_thread``) serves ``scenes/splats``; Godot runs
``tests/integration/asset_probe.gd``, whose ContinuumWorld fetches each entity's splat pack over
the request channel (credit, chunk hashes, the user:// cache) and shows it in a SplatInstance3D.
The tests change the splat while Godot runs, corrupt a chunk on the wire, set a size limit, and
take the backend away in the middle of a transfer.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from continuum.godot import godot_command
from continuum.server.app import Server, ServerConfig, serve_in_thread
from continuum.server.protocol import Limits
from continuum.splats.cloud import SplatCloud
from continuum.world import load_scene
from tests.conftest import SPLATS

pytestmark = pytest.mark.godot
PROBE = "res://tests/integration/asset_probe.gd"
RESULT = "CONTINUUM_RESULT "


@contextlib.contextmanager
def splat_server(**limits: int) -> Iterator[Server]:
    """scenes/splats served on free ports, with ``limits`` overriding Limits fields."""
    config = ServerConfig(port=0, tick_hz=30.0, limits=Limits(**limits))
    with serve_in_thread(config, load_scene(SPLATS)) as server:
        yield server


def random_cloud(n: int, *, seed: int) -> SplatCloud:
    """``n`` Gaussians in a unit ball, SH degree 0."""
    gen = torch.Generator().manual_seed(seed)
    return SplatCloud(
        means=torch.rand(n, 3, generator=gen) * 2.0 - 1.0,
        quats=torch.randn(n, 4, generator=gen),
        log_scales=math.log(0.03) + 0.3 * torch.randn(n, 3, generator=gen),
        opacity_logits=torch.randn(n, generator=gen),
        sh=torch.randn(n, 1, 3, generator=gen),
    )


class GodotProbe:
    """asset_probe.gd running in the background; its events are read as they come."""

    def __init__(self, port: int, scenario: str, cache: Path, *extra: str, timeout_s: float = 60):
        cmd = godot_command(
            ["--script", PROBE],
            user_args=[
                f"--continuum-port={port}",
                f"--scenario={scenario}",
                f"--cache={cache}",
                f"--timeout={timeout_s:g}",
                *extra,
            ],
        )
        self.timeout_s = timeout_s
        self.lines: list[str] = []
        self.events: list[dict] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: Callable[[dict], bool], timeout_s: float = 60) -> dict:
        """The first result line that ``predicate`` accepts; fails the test after ``timeout_s``."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: (
                    next((e for e in self.events if predicate(e)), None)
                    or self.proc.poll() is not None
                ),
                timeout_s,
            )
            match = next((e for e in self.events if predicate(e)), None)
        assert match is not None, f"no such event (found {found!r}):\n{self.output[-4000:]}"
        return match

    def finish(self) -> tuple[int, dict]:
        """Wait for Godot to quit (it is bounded by its own --timeout); its status and result."""
        try:
            code = self.proc.wait(self.timeout_s + 30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        results = [e for e in self.events if "ok" in e]
        assert results, f"no result from the probe (exit {code}):\n{self.output[-4000:]}"
        return code, results[-1]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                if line.startswith(RESULT):
                    self.events.append(json.loads(line[len(RESULT) :]))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()


def _shown(event: dict) -> bool:
    return event.get("event") == "shown"


def test_godot_fetches_and_shows_the_backends_splat(tmp_path):
    """(a) The pack the backend describes arrives intact: same hash, same number of splats."""
    with splat_server() as server:
        asset = server.world.splat("cloud")
        assert asset is not None
        probe = GodotProbe(server.port, "sync", tmp_path / "cache")
        code, result = probe.finish()
    assert code == 0 and result["ok"], probe.output[-4000:]
    assert result["hashes"] == [asset.hash] and result["world_hash"] == asset.hash
    assert result["count"] == asset.meta["count"] == 1536
    assert result["stats"]["fetched"] == 1 and result["stats"]["bad_chunks"] == 0
    assert result["stats"]["max_outstanding"] <= Limits().max_credit
    assert (tmp_path / "cache" / f"{asset.hash}.cspk").stat().st_size == asset.bytes
    assert "SCRIPT ERROR" not in probe.output


def test_second_run_comes_from_the_cache(tmp_path):
    """A cached pack is never sent twice: a second Godot with the same cache starts no transfer."""
    with splat_server() as server:
        first = GodotProbe(server.port, "sync", tmp_path / "cache")
        assert first.finish()[0] == 0, first.output[-4000:]
        transfers = server.stats["transfers"]
        second = GodotProbe(server.port, "sync", tmp_path / "cache")
        code, result = second.finish()
        assert server.stats["transfers"] == transfers
    assert code == 0 and result["ok"], second.output[-4000:]
    assert result["shown"][0]["from_cache"] and result["stats"]["from_cache"] == 1


def test_new_splat_while_godot_runs_is_swapped_in(tmp_path):
    """(b) set_splat while Godot shows the old version: the new one arrives and is swapped in on
    the same node, and no frame goes without a cloud in between."""
    with splat_server() as server:
        old = server.world.splat("cloud")
        probe = GodotProbe(server.port, "sync", tmp_path / "cache", "--versions=2")
        probe.wait_for(_shown)
        new = server.world.set_splat("cloud", random_cloud(5000, seed=1))
        code, result = probe.finish()
    assert code == 0 and result["ok"], probe.output[-4000:]
    assert result["hashes"] == [old.hash, new.hash] and result["world_hash"] == new.hash
    assert result["count"] == new.meta["count"] == 5000
    assert result["blank_frames"] == 0 and result["nodes"] == 1


class CorruptingProxy:
    """A TCP proxy in front of the backend's ROUTER port that flips one octet in the payload of
    the first ``asset.chunk`` it forwards (ZMTP 3.1 parsed on the way to the engine), once."""

    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.corrupted = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                engine, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            backend = socket.create_connection(("127.0.0.1", self.backend_port))
            for target, args in (
                (self._pipe, (engine, backend)),
                (self._rewrite, (backend, engine)),
            ):
                thread = threading.Thread(target=target, args=args, daemon=True)
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _rewrite(self, src: socket.socket, dst: socket.socket) -> None:
        buffer = bytearray()
        greeted = False
        part = 0  # index of the next message frame within its message
        in_chunk = False
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                buffer += data
                out = bytearray()
                if not greeted and len(buffer) >= 64:
                    out += buffer[:64]
                    del buffer[:64]
                    greeted = True
                while greeted and buffer:
                    flags = buffer[0]
                    head = 9 if flags & 0x02 else 2
                    if len(buffer) < head:
                        break
                    size = int.from_bytes(buffer[1:head], "big")
                    if len(buffer) < head + size:
                        break
                    frame = buffer[: head + size]
                    del buffer[: head + size]
                    if not flags & 0x04:  # a message frame, not a command
                        body = frame[head:]
                        if part == 0:
                            in_chunk = bytes(body) == b"asset.chunk"
                        elif part == 2 and in_chunk and size > 0 and self.corrupted == 0:
                            frame[head + size // 2] ^= 0xFF
                            self.corrupted += 1
                        part = part + 1 if flags & 0x01 else 0
                    out += frame
                dst.sendall(out)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_corrupted_chunk_is_fetched_again(tmp_path):
    """(c) One flipped octet in a chunk on the wire: Godot notices (the chunk's sha256), asks for
    that chunk again and ends up with the right pack."""
    with splat_server() as server:
        asset = server.world.splat("cloud")
        proxy = CorruptingProxy(server.port)
        try:
            probe = GodotProbe(proxy.port, "sync", tmp_path / "cache")
            code, result = probe.finish()
        finally:
            proxy.close()
    assert proxy.corrupted == 1
    assert code == 0 and result["ok"], probe.output[-4000:]
    assert result["hashes"] == [asset.hash] and result["count"] == 1536
    assert result["stats"]["bad_chunks"] == 1 and result["stats"]["refetches"] == 1
    assert "failed its sha256; fetching it again" in probe.output


def test_asset_over_the_limit_is_refused(tmp_path):
    """(d) A pack larger than continuum/assets/max_bytes is refused with a message that names the
    size and the setting; nothing crashes and the session carries on."""
    with splat_server() as server:
        asset = server.world.splat("cloud")
        probe = GodotProbe(
            server.port, "refuse", tmp_path / "cache", "--continuum-max-asset-bytes=1000"
        )
        code, result = probe.finish()
        assert server.stats["transfers"] == 0  # refused before asking
    assert code == 0 and result["ok"], probe.output[-4000:]
    assert result["code"] == "too_large" and result["still_connected"]
    assert f"is {asset.bytes} octets" in probe.output
    assert "continuum/assets/max_bytes" in probe.output
    assert "SCRIPT ERROR" not in probe.output


def test_backend_lost_mid_transfer_keeps_the_old_version(tmp_path):
    """(e) The backend goes away while a 200k-splat version is on its way (small chunks, credit
    1): Godot warns, keeps showing the old version, keeps running and exits with its status."""
    stack = contextlib.ExitStack()
    with stack:
        server = stack.enter_context(splat_server(chunk_bytes=64 << 10))
        old = server.world.splat("cloud")
        probe = GodotProbe(server.port, "lost", tmp_path / "cache", "--credit=1")
        probe.wait_for(_shown)
        new = server.world.set_splat("cloud", random_cloud(200_000, seed=2))
        assert new.bytes > 100 * (64 << 10)
        probe.wait_for(lambda e: e.get("event") == "transfer" and e.get("hash") == new.hash)
        stack.close()  # the backend stops: its sockets close in the middle of the transfer
        code, result = probe.finish()
    assert code == 0 and result["ok"], probe.output[-4000:]
    assert result["code"] == "disconnected"
    assert result["kept_hash"] == old.hash and result["kept_count"] == 1536
    assert result["blank_frames"] == 0 and result["state"] != "CONNECTED"
    assert not (tmp_path / "cache" / f"{new.hash}.cspk").exists()
    assert "WARNING: [continuum] lost the backend while fetching asset" in probe.output
    assert "SCRIPT ERROR" not in probe.output
