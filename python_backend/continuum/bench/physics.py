"""``continuum bench physics``: the simulation's speed, the pose stream's cost, and the latency
from an engine's control to the pose that shows it.

- ``rtf_10``, ``rtf_100``, ``rtf_500``: the real-time factor with N free bodies in contact
  (``continuum.physics.make_pile``: 0.2 m boxes and balls, two in three boxes, stacked about four
  layers high on a ground plane, each resting on others from the first step): a ``Simulation``
  with ``realtime=False`` (default solver settings) steps in its own thread as fast as it can;
  after ``settle_s`` of simulated time, simulated seconds divided by wall seconds over the next
  ``sim_seconds`` of simulated time. Above 1: faster than real time.
- ``publish_us_per_tick_100``: the mean wall time in microseconds of one tick of the server's
  ``poses`` publisher with 100 bodies (the snapshot, the encoding and the send on the PUB socket,
  one subscriber connected), over ``publish_seconds`` at 90 Hz, measured inside the server
  while the simulation steps in real time. It includes any wait for the GIL, which the stepping
  thread holds between MuJoCo calls; ``publish_cpu_us_per_tick_100`` is the publishing thread's
  own CPU time for the same ticks (the work itself).
- ``control_to_pose_p50_ms``, ``control_to_pose_p99_ms``: a real headless Godot
  (``res://tests/bench/physics_latency.gd``, the plugin's own bridge) teleports a body to a new
  place ``samples`` times, one at a time, and times each from sending ``physics.control`` to
  receiving the first ``poses`` frame that shows the body within 1 mm of it: the backend's worker,
  the wait for the next publish tick (up to one interval at 90 Hz, 11.1 ms), and delivery to
  Godot's frame loop. The scene is the 100-body pile of ``make_pile`` with the teleported ball
  4 m beside it, under zero gravity so that the ball stays where it was put (the script moves
  it 0.3 m along +x and back). The script sends each teleport at a random moment of the publish
  interval, as a player's input comes, so the wait for the next tick is half an interval on
  average.
- ``engine_jitter_ms_p99``: in the same run, the 99th percentile of |interval - 1000 / 90| over
  the intervals between the arrivals of consecutive ``poses`` frames in Godot (the stream's
  regularity as the engine sees it, its own frame loop included).

Context figures: ``publish_hz``, ``dt``, ``latency_samples``, ``mujoco``, ``godot_version``,
``cpus``, ``machine``.
"""

from __future__ import annotations

import os
import platform
import threading
import time

import numpy as np

from continuum.errors import ContinuumError
from continuum.physics import PhysicsConfig, Simulation, body_entity, make_pile
from continuum.world import Scene

SIZES = (10, 100, 500)
PUBLISH_HZ = 90.0
PROBE = "probe"
LATENCY_SCRIPT = "res://tests/bench/physics_latency.gd"


def bench_physics(
    *,
    sizes: tuple[int, ...] = SIZES,
    settle_s: float = 0.5,
    sim_seconds: float = 2.0,
    publish_seconds: float = 3.0,
    samples: int = 300,
    godot: bool = True,
) -> dict:
    """All figures above, in one JSON-ready dict. The keyword arguments shrink the work for
    tests; ``godot=False`` leaves out the three figures that need Godot."""
    figures: dict[str, object] = {}
    for n in sizes:
        figures[f"rtf_{n}"] = round(
            real_time_factor(n, settle_s=settle_s, sim_seconds=sim_seconds), 3
        )
    wall, cpu = publish_us_per_tick(100, seconds=publish_seconds)
    figures["publish_us_per_tick_100"] = round(wall, 1)
    figures["publish_cpu_us_per_tick_100"] = round(cpu, 1)
    if godot:
        figures.update(control_to_pose(samples=samples))
    import mujoco

    figures.update(
        publish_hz=PUBLISH_HZ,
        dt=PhysicsConfig().dt,
        mujoco=mujoco.__version__,
        cpus=len(os.sched_getaffinity(0)),
        machine=platform.machine(),
    )
    return figures


def latency_scene() -> Scene:
    """The 100-body pile of ``make_pile`` and a ball ``PROBE`` (radius 0.1 m) 4 m beside it."""
    pile = make_pile(100)
    probe = body_entity(PROBE, {"type": "sphere", "radius": 0.1}, position=(4, 1, 0), mass=1.0)
    return Scene("physics-latency", pile.description, (*pile.entities, probe))


def real_time_factor(n: int, *, settle_s: float = 0.5, sim_seconds: float = 2.0) -> float:
    """Simulated seconds per wall second over ``sim_seconds``, after ``settle_s``, with ``n``
    bodies of ``make_pile`` stepping as fast as they can."""
    config = PhysicsConfig(realtime=False, max_speed=1000.0)
    with Simulation(make_pile(n), config=config) as sim:
        sim.start()
        _wait_sim_time(sim, settle_s)
        sim0, wall0 = sim.sim_time, time.perf_counter()
        _wait_sim_time(sim, sim0 + sim_seconds)
        sim1, wall1 = sim.sim_time, time.perf_counter()
    return (sim1 - sim0) / (wall1 - wall0)


def publish_us_per_tick(n: int, *, seconds: float = 3.0) -> tuple[float, float]:
    """Mean microseconds of one ``poses`` publisher tick of a server simulating ``n`` bodies,
    with one subscriber draining the stream: (wall time, the publishing thread's CPU time)."""
    from continuum.server.app import ServerConfig, serve_in_thread
    from continuum.server.client import BridgeClient

    config = ServerConfig(port=0, physics=PhysicsConfig(publish_hz=PUBLISH_HZ))
    with serve_in_thread(config, make_pile(n)) as server, BridgeClient(port=server.port) as c:
        c.subscribe(["poses"])
        stop = threading.Event()
        received = [0]

        def drain() -> None:
            while not stop.is_set():
                try:
                    c.stream(timeout_s=1.0)
                except ContinuumError:
                    continue
                received[0] += 1

        thread = threading.Thread(target=drain, name="bench-drain", daemon=True)
        thread.start()
        time.sleep(0.5)  # the subscription is live and the loop warm
        before = dict(server.stats)
        time.sleep(seconds)
        after = dict(server.stats)
        stop.set()
        thread.join(5)
    frames = after["pose_frames"] - before["pose_frames"]
    if frames <= 0 or not received[0]:
        raise ContinuumError("the poses publisher sent nothing to measure")
    return tuple(  # type: ignore[return-value]
        (after[key] - before[key]) / frames * 1e6
        for key in ("pose_publish_s", "pose_publish_cpu_s")
    )


def control_to_pose(*, samples: int = 300) -> dict:
    """``control_to_pose_p50_ms``, ``control_to_pose_p99_ms`` and ``engine_jitter_ms_p99`` from
    the Godot latency script against an in-process server (see the module docstring)."""
    from continuum.godot import find_godot, godot_version, import_project, run_godot
    from continuum.server.app import ServerConfig, serve_in_thread

    imported = import_project()
    if imported.returncode != 0:
        raise ContinuumError(f"Godot could not import the project:\n{imported.output[-2000:]}")
    config = ServerConfig(port=0, physics=PhysicsConfig(publish_hz=PUBLISH_HZ))
    with serve_in_thread(config, latency_scene()) as server:
        sim = server.simulation
        sim.control({"op": "set", "gravity": [0, 0, 0]})
        sim.control({"op": "teleport", "entity": PROBE, "position": [4, 1, 0]})  # at rest
        run = run_godot(
            ["--script", LATENCY_SCRIPT],
            user_args=[
                f"--continuum-port={server.port}",
                f"--entity={PROBE}",
                f"--samples={samples}",
            ],
            timeout_s=120 + samples * 0.2,
        )
    results = [r for r in run.results("CONTINUUM_RESULT") if "control_to_pose_ms" in r]
    if run.returncode != 0 or not results or not results[-1]["control_to_pose_ms"]:
        raise ContinuumError(
            f"the Godot latency script failed (exit {run.returncode}):\n{run.output[-3000:]}"
        )
    latency = np.asarray(results[-1]["control_to_pose_ms"], dtype=float)
    jitter = np.asarray(results[-1]["jitter_ms"], dtype=float)
    major, minor = godot_version(find_godot())
    return {
        "control_to_pose_p50_ms": round(float(np.percentile(latency, 50)), 2),
        "control_to_pose_p99_ms": round(float(np.percentile(latency, 99)), 2),
        "engine_jitter_ms_p99": round(float(np.percentile(jitter, 99)), 2) if jitter.size else None,
        "latency_samples": int(latency.size),
        "godot_version": f"{major}.{minor}",
    }


def _wait_sim_time(sim: Simulation, target: float, *, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sim.sim_time < target:
        if time.monotonic() > deadline:
            raise ContinuumError(
                f"the simulation reached {sim.sim_time:.3f} s of {target:.3f} s in {timeout_s} s"
            )
        time.sleep(0.005)
