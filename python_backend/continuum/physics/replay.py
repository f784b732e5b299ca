"""Replay: a persistent world's physics at any tick, rebuilt from its store.

The world log holds the physics as ``PhysicsSet`` events (a ``Simulation.save_state`` dict)
followed by ``ControlApplied`` events (each control with the step it was applied at). The pose
at a tick is the newest saved state at or before it, loaded into a fresh simulation of the
scene, with the controls logged after it replayed at their steps: bitwise the poses of the live
run on the same machine.

This lives in physics, not in world: physics already reads the world's scene and store, while
the world never imports the physics (the server wires the two together).
"""

from __future__ import annotations

from continuum.errors import StoreError
from continuum.physics.config import PhysicsConfig
from continuum.physics.simulation import Simulation
from continuum.physics.stream import PoseFrame
from continuum.world.scene import Scene
from continuum.world.store import WorldStore


def replay_physics(
    store: WorldStore,
    scene: Scene | None = None,
    *,
    to_tick: int,
    config: PhysicsConfig = PhysicsConfig(),  # noqa: B008
) -> PoseFrame:
    """The poses at step ``to_tick`` of the physics stored in ``store``.

    Ticks are the simulation's step counts. ``scene`` is the scene the saved states were taken
    of (the same bodies); by default the world's own entities at that tick (bodies added or
    removed by edits included). ``config`` must be the live simulation's.

    Raises:
        StoreError: ``to_tick`` is out of range or compacted away, or it is before the newest
            saved physics state at or before it (an event tick later than its step).
        PhysicsError: the saved state does not fit ``scene`` (another model), or a logged
            control fails on replay.
    """
    # 1. The world at the tick: the newest physics blob and the controls after it.
    if isinstance(to_tick, bool) or not isinstance(to_tick, int) or to_tick < 0:
        raise StoreError(f"replay_physics: to_tick must be an int >= 0, got {to_tick!r:.40}")
    world = store.state_at(tick=to_tick)
    if scene is None:
        scene = world.to_scene(store.scene_info)
    # 2. A fresh simulation of the scene, at the saved state when there is one.
    with Simulation(scene, config=config) as sim:
        if world.physics is not None:
            sim.load_state(world.physics)
        if sim.step_count > to_tick:
            raise StoreError(
                f"replay_physics: the physics state saved at or before tick {to_tick} is at "
                f"step {sim.step_count}, after it"
            )
        # 3. The controls at their steps, then on to the tick.
        controls = [(int(step), op) for step, op in world.controls]
        return sim.replay(to_tick, controls)
