"""``continuum bench hotreload``: what rebinding a generation slot costs the rest of the backend.

A backend serves ``scenes/physics_playground`` (its simulation stepping in real time) with the
``tick`` stream at ``tick_hz`` (90); a client subscribed to ``tick`` records when each arrives.

- ``max_tick_gap_ms_idle``: the largest gap between consecutive ticks over ``idle_s`` with
  nothing else happening (the reference: one period is 11.1 ms at 90 Hz).
- ``max_tick_gap_ms_reload``: the largest gap while ``text_to_image`` is rebound ``reloads``
  times in a row, alternating between two random-weight Stable Diffusion folders of ``width``
  (16: 72 M parameters, 287 MB of safetensors; ``generation.random_models``), each bind sent
  over the bridge (``models.bind``) and awaited (``models.changed`` ready). Target: under two
  tick periods.
- ``physics_rtf_idle``, ``physics_rtf_during_reload``: simulated over wall seconds of the
  backend's simulation in the same windows (1.0: real time kept).
- ``reload_s_p50``: bind to ready, median.
- ``job_queue_overhead_ms``: median time from ``gen.submit`` to ``gen.done`` for a job whose model
  work is nil (the built-in ``motion``, one frame), less the median ``ping`` round trip: the
  queue, the worker hand-off and the pushes.

Context figures: ``tick_hz``, ``ticks_idle``, ``ticks_reload``, ``parameters``, ``model_mb``,
``jobs``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq

from continuum.server.app import ServerConfig, serve_in_thread
from continuum.server.client import BridgeClient
from continuum.server.codec import decode_message

SCENE = Path(__file__).resolve().parents[3] / "scenes" / "physics_playground"


def bench_hotreload(
    *,
    width: int = 16,
    reloads: int = 6,
    idle_s: float = 3.0,
    tick_hz: float = 90.0,
    jobs: int = 50,
) -> dict:
    from continuum.generation.random_models import make_text_to_image
    from continuum.world import load_scene

    with tempfile.TemporaryDirectory(prefix="continuum-bench-hotreload-") as tmp:
        # 1. two model folders to alternate between (a rebind to the same spec also reloads)
        first = make_text_to_image(Path(tmp) / "a", width=width)
        second = Path(tmp) / "b"
        shutil.copytree(first, second)
        model_mb = sum(f.stat().st_size for f in first.rglob("*") if f.is_file()) / 1e6

        config = ServerConfig(port=0, tick_hz=tick_hz, session_idle_s=600)
        with serve_in_thread(config, load_scene(SCENE)) as server:
            ticks = _TickRecorder(server.pub_port)
            try:
                with BridgeClient(port=server.port, timeout_s=120) as client:
                    client.request("subscribe", {"topics": ["tick"]})
                    time.sleep(0.5)  # the subscription takes hold

                    # 2. idle
                    idle = _window(server, ticks, lambda: time.sleep(idle_s))

                    # 3. rebinding
                    reload_s: list[float] = []

                    def rebind() -> None:
                        for i in range(reloads):
                            folder = (first, second)[i % 2]
                            start = time.perf_counter()
                            spec = {"model": str(folder)}
                            client.request("models.bind", {"slot": "text_to_image", "spec": spec})
                            _until_ready(client)
                            reload_s.append(time.perf_counter() - start)

                    reloading = _window(server, ticks, rebind)
                    parameters = (
                        client.request("models.list").header["slots"][0]["model"].get("parameters")
                    )

                    # 4. the job queue's own cost
                    overhead = _queue_overhead_ms(client, jobs)
            finally:
                ticks.close()

    period_ms = 1000.0 / tick_hz
    return {
        "max_tick_gap_ms_reload": round(reloading["max_gap_ms"], 2),
        "max_tick_gap_ms_idle": round(idle["max_gap_ms"], 2),
        "tick_period_ms": round(period_ms, 2),
        "physics_rtf_during_reload": round(reloading["rtf"], 3),
        "physics_rtf_idle": round(idle["rtf"], 3),
        "reload_s_p50": round(float(np.median(reload_s)), 3),
        "job_queue_overhead_ms": round(overhead, 3),
        "tick_hz": tick_hz,
        "ticks_idle": idle["ticks"],
        "ticks_reload": reloading["ticks"],
        "reloads": reloads,
        "parameters": parameters,
        "model_mb": round(model_mb, 1),
        "jobs": jobs,
    }


class _TickRecorder:
    """A SUB socket in a thread, recording when each ``tick`` arrives."""

    def __init__(self, pub_port: int) -> None:
        self.times: list[float] = []
        self._ctx = zmq.Context()
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.SUBSCRIBE, b"tick")
        self._sub.connect(f"tcp://127.0.0.1:{pub_port}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-ticks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sub, zmq.POLLIN)
        while not self._stop.is_set():
            if poller.poll(50):
                frames = self._sub.recv_multipart()
                now = time.perf_counter()
                if decode_message(frames).kind == "tick":
                    self.times.append(now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sub.close()
        self._ctx.term()


def _window(server, ticks: _TickRecorder, work) -> dict:
    """Run ``work``; the largest tick gap and the physics' real-time factor meanwhile."""
    sim = server.simulation
    start, step0 = time.perf_counter(), sim.step_count
    work()
    end, step1 = time.perf_counter(), sim.step_count
    inside = [t for t in ticks.times if start <= t <= end]
    gaps = np.diff(inside) * 1e3 if len(inside) > 1 else np.array([float("nan")])
    return {
        "max_gap_ms": float(np.max(gaps)),
        "rtf": (step1 - step0) * sim.config.dt / (end - start),
        "ticks": len(inside),
    }


def _until_ready(client: BridgeClient) -> None:
    while True:
        push = client.push(timeout_s=120)
        if push.kind == "models.changed" and push.header["slot"] == "text_to_image":
            if push.header["state"] == "failed":
                raise RuntimeError(f"the bench's model failed to load: {push.header['error']}")
            if push.header["state"] == "ready":
                return


def _queue_overhead_ms(client: BridgeClient, jobs: int) -> float:
    pings, rounds = [], []
    for _ in range(jobs):
        start = time.perf_counter()
        client.request("ping")
        pings.append(time.perf_counter() - start)
        start = time.perf_counter()
        job = client.request("gen.submit", {"slot": "motion", "params": {"frames": 1}})
        while True:
            push = client.push(timeout_s=30)
            if push.header.get("job") == job.header["job"] and push.kind in (
                "gen.done",
                "gen.failed",
            ):
                break
        rounds.append(time.perf_counter() - start)
    return (float(np.median(rounds)) - float(np.median(pings))) * 1e3
