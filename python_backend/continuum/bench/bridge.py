"""``continuum bench bridge``: request/reply latency and bulk throughput of the bridge.

Measured in one run against one ``continuum serve`` child process: from the GDScript client in a
real headless Godot, and from pyzmq in this process, with the same requests.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from continuum.errors import ContinuumError
from continuum.godot import find_godot, godot_version, import_project, run_godot
from continuum.server.client import BridgeClient
from continuum.server.process import BackendProcess

RTT_REQUESTS = 2000
PAYLOAD_BYTES = 100
BULK_BYTES = 16 << 20
BULK_REPEATS = 5


def bench_bridge(*, rtt_requests: int = RTT_REQUESTS) -> dict:
    """Figures: ``godot_rtt_p50_ms``, ``godot_rtt_p99_ms``, ``godot_bulk_MBps`` and the
    same from pyzmq (``pyzmq_rtt_p50_ms``, ``pyzmq_rtt_p99_ms``, ``pyzmq_bulk_MBps``).

    RTT: sequential 100-byte ``echo`` requests; bulk: a 16 MiB ``fill`` reply, the median of
    ``BULK_REPEATS`` runs, timed from the request to the array in hand (1 MB = 10^6 bytes).
    """
    exe = find_godot()
    imported = import_project()
    if imported.returncode != 0:
        raise ContinuumError(
            f"Godot could not import the engine project:\n{imported.output[-2000:]}"
        )
    with BackendProcess(extra=["--tick-hz", "90"]) as backend:
        pyzmq = _bench_pyzmq(backend.port, rtt_requests, BULK_BYTES)
        run = run_godot(
            ["--script", "res://tests/integration/probe.gd"],
            user_args=[
                f"--continuum-port={backend.port}",
                "--scenario=bench",
                f"--count={rtt_requests}",
                f"--bulk_repeat={BULK_REPEATS}",
            ],
            timeout_s=300,
        )
    results = run.results("CONTINUUM_RESULT")
    if run.returncode != 0 or not results:
        raise ContinuumError(
            f"the Godot bench client failed ({run.returncode}):\n{run.output[-3000:]}"
        )
    godot = {k: _round(v) for k, v in results[-1].items() if k.startswith("godot_")}
    major, minor = godot_version(exe)
    return {
        **godot,
        **pyzmq,
        "rtt_requests": rtt_requests,
        "payload_bytes": PAYLOAD_BYTES,
        "bulk_bytes": BULK_BYTES,
        "godot_version": f"{major}.{minor}",
        "cpus": len(os.sched_getaffinity(0)),
        "machine": platform.machine(),
    }


def _bench_pyzmq(port: int, n: int, bulk_bytes: int) -> dict:
    payload = np.arange(PAYLOAD_BYTES, dtype=np.uint8)
    with BridgeClient(port=port) as client:
        for _ in range(100):  # warm up the connection and both event loops
            client.request("echo", {}, [payload])
        rtts = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            reply = client.request("echo", {}, [payload])
            rtts[i] = time.perf_counter() - t0
            if reply.blobs[0].nbytes != PAYLOAD_BYTES:
                raise ContinuumError("echo returned a blob of the wrong size")
        seconds = []
        for _ in range(BULK_REPEATS):
            t0 = time.perf_counter()
            blob = client.request("fill", {"bytes": bulk_bytes}).blobs[0]
            seconds.append(time.perf_counter() - t0)
            if blob.nbytes != bulk_bytes or (bulk_bytes > 300 and blob[300] != 300 % 251):
                raise ContinuumError("fill returned the wrong octets")
    return {
        "pyzmq_rtt_p50_ms": round(float(np.percentile(rtts, 50)) * 1e3, 4),
        "pyzmq_rtt_p99_ms": round(float(np.percentile(rtts, 99)) * 1e3, 4),
        # The median of the repeats, as the Godot client reports it.
        "pyzmq_bulk_MBps": round(bulk_bytes / float(np.median(seconds)) / 1e6, 1),
    }


def _round(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value
