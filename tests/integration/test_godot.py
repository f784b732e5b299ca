"""A real headless Godot 4 against a real ``continuum serve``: the GDScript suite and scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from continuum.godot import godot_command, run_godot
from continuum.server.process import BackendProcess
from continuum.server.protocol import PROTOCOL_VERSION
from tests.conftest import HELLO, SPLAT_DATA
from tests.integration.conftest import run_probe

pytestmark = pytest.mark.godot
PROBE = "res://tests/integration/probe.gd"


@pytest.fixture
def backend():
    with BackendProcess(HELLO, extra=["--tick-hz", "60"]) as proc:
        yield proc


def _probe(port: int, scenario: str, *extra: str) -> tuple[int, dict, str]:
    return run_probe(PROBE, port, scenario, *extra, timeout_s=90)


def test_gdscript_unit_suite(monkeypatch):
    """The GDScript unit tests (codecs against bridge/vectors, connection, session, world, dock,
    splat clouds and decoders, the latter on shared/data/splats where it is there)."""
    if SPLAT_DATA.is_dir():
        monkeypatch.setenv("CONTINUUM_SPLAT_DATA", str(SPLAT_DATA.resolve()))
    run = run_godot(["--script", "res://tests/run_tests.gd"], timeout_s=300)
    summary = [line for line in run.output.splitlines() if line.endswith(" failed")]
    assert run.returncode == 0 and summary, run.output[-5000:]
    passed, failed = (int(part.split()[0]) for part in summary[-1].split(", "))
    assert failed == 0 and passed >= 80, summary[-1]


def test_handshake(backend):
    code, result, output = _probe(backend.port, "handshake")
    assert code == 0 and result["ok"], output[-3000:]
    assert result["protocol"] == PROTOCOL_VERSION and result["pub_port"] == backend.pub_port
    assert result["tick_hz"] == 60 and "world.get" in result["capabilities"]
    assert result["errors"] == []


def test_request_reply(backend):
    code, result, output = _probe(backend.port, "request_reply")
    assert code == 0 and result["ok"], output[-3000:]
    assert result["echo_ok"] and result["pong"]
    assert result["scene"] == "hello"
    assert result["entity_ids"] == ["floor", "cube", "ball", "pillar", "sign", "sun", "camera"]
    assert (result["unknown_kind_code"], result["bad_request_code"]) == (
        "unknown_kind",
        "bad_request",
    )


def test_ticks_arrive_in_order(backend):
    code, result, output = _probe(backend.port, "ticks", "--count=60")
    assert code == 0 and result["ok"], output[-3000:]
    assert result["count"] >= 60 and result["increasing"]
    assert result["last_seq"] - result["first_seq"] >= 59


def test_reconnect_after_backend_restart():
    first = BackendProcess(HELLO)
    port, pub_port = first.port, first.pub_port
    cmd = godot_command(
        ["--script", PROBE],
        user_args=[f"--continuum-port={port}", "--scenario=reconnect", "--timeout=60"],
    )
    godot = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    connected = threading.Event()

    def read() -> None:
        assert godot.stdout is not None
        for line in godot.stdout:
            lines.append(line)
            if '"event":"connected"' in line:
                connected.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    second = None
    try:
        assert connected.wait(60), "".join(lines)[-3000:]
        assert first.stop() == 0
        time.sleep(1.0)  # the engine notices the loss and backs off
        second = BackendProcess(HELLO, port=port, pub_port=pub_port)
        godot.wait(90)
        reader.join(5)
    finally:
        if godot.poll() is None:
            godot.kill()
        first.stop()
        if second is not None:
            second.stop()
    results = [json.loads(x.split(" ", 1)[1]) for x in lines if x.startswith("CONTINUUM_RESULT ")]
    assert godot.returncode == 0 and results[-1]["ok"], "".join(lines)[-3000:]
    assert results[-1]["session"] != results[-1]["first_session"]  # a fresh handshake
    assert results[-1]["disconnected_reason"]


def test_wrong_token_is_reported_and_not_retried():
    with BackendProcess(HELLO, extra=["--token", "s3cret"]) as backend:
        code, result, output = _probe(backend.port, "unauthorized", "--continuum-token=nope")
    assert code == 0 and result["ok"], output[-3000:]
    assert "unauthorized" in result["error_codes"] and result["state"] == "DISCONNECTED"


def test_garbage_server_is_reported_and_survived():
    """A port that answers with garbage: the client reports it, keeps retrying, never crashes."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve_garbage() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(range(256)) * 4)

    thread = threading.Thread(target=serve_garbage, daemon=True)
    thread.start()
    try:
        code, result, output = _probe(listener.getsockname()[1], "bad_server")
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert code == 0 and result["ok"], output[-3000:]
    assert result["error_codes"] and result["state"] != "DISCONNECTED"
    assert "SCRIPT ERROR" not in output


def test_demo_shows_the_world(tmp_path):
    """The README's demo command: the splat scene in a window (a virtual display when there is
    none), edited live midway, reported in plain words, with a screenshot of the edited torus."""
    import numpy as np
    from PIL import Image

    shot = tmp_path / "demo.png"
    done = subprocess.run(
        [sys.executable, "-m", "continuum", "demo", "--seconds", "3", "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert f"handshake:  ok, protocol {PROTOCOL_VERSION}" in out
    assert "entities:   2 received: cloud, camera" in out
    assert int(out.split("ticks:")[1].split()[0]) > 10
    assert "round trip: p50 " in out
    assert "splats:     1 entity, 1536 splats, 2 versions shown" in out
    assert "live edit:  recoloured by height" in out
    assert f"screenshot: {shot}" in out

    image = np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)  # [H, W, 3]
    h, w, _ = image.shape
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])  # [P, 3]
    background = np.median(border, axis=0)  # [3]
    centre = image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)  # [M, 3]
    torus = centre[np.abs(centre - background).max(axis=1) > 40]  # [T, 3]
    # The scene's camera frames the torus: it fills a good part of the centre, not a speck.
    assert len(torus) > 0.15 * len(centre), f"{len(torus)} of {len(centre)} pixels in {shot}"
    bins, counts = np.unique(torus // 64, axis=0, return_counts=True)
    assert (counts > 0.01 * len(torus)).sum() >= 4, f"too few colours: {bins.tolist()} in {shot}"
    # It shows the edited version: blue to amber by height, where the rainbow was a third green.
    green = (torus[:, 1] > torus[:, 0] + 10) & (torus[:, 1] > torus[:, 2] + 10)
    assert green.mean() < 0.02, f"{green.mean():.0%} green pixels: the first version? {shot}"
    middle = image[:, 2 * w // 5 : 3 * w // 5]  # [H, W/5, 3], clear of the HUD
    rows = np.nonzero((np.abs(middle - background).max(axis=2) > 40).any(axis=1))[0]
    top, bottom = middle[rows.min() + 8].mean(axis=0), middle[rows.max() - 8].mean(axis=0)
    assert top[0] > top[2] + 40 and bottom[2] > bottom[0] + 40, (top, bottom, shot)


def test_demo_headless_has_no_screenshot():
    """``--headless``: the same run without a window; the edit still swaps in, nothing is drawn."""
    done = subprocess.run(
        [sys.executable, "-m", "continuum", "demo", "--seconds", "2", "--headless"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "entities:   2 received: cloud, camera" in done.stdout
    assert "splats:     1 entity, 1536 splats, 2 versions shown" in done.stdout
    assert "screenshot: none (--headless: Godot draws nothing)" in done.stdout
