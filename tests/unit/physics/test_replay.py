"""replay_physics: a world's physics rebuilt from its store equals the live run bitwise."""

from __future__ import annotations

import numpy as np
import pytest

from continuum.errors import PhysicsError, StoreError
from continuum.physics import PhysicsConfig, Simulation, replay_physics
from continuum.world import ControlApplied, PhysicsSet, StoreConfig, WorldStore
from tests.unit.physics.scenes import ball, floor, scene
from tests.unit.physics.test_state_io import controls_at, pile

CONFIG = PhysicsConfig(realtime=False)
SMALL = StoreConfig(snapshot_every_events=3, snapshot_every_s=1e9)  # snapshots hold the blobs
SAVES = (150, 330)  # the live run saves its physics state at these steps
CHECKED = (0, 100, 150, 260, 330, 400, 500)  # the ticks compared


def live_run(store: WorldStore) -> dict[int, np.ndarray]:
    """Run the scripted pile for 500 steps, logging it to ``store``; the poses at CHECKED."""
    poses = {}
    with Simulation(pile(), config=CONFIG) as sim:
        for step in range(501):
            if step in SAVES:
                store.append([PhysicsSet(blob=sim.save_state(), tick=step)])
            for op in controls_at(step):
                result = sim.control(op)
                store.append([ControlApplied(step=result["step"], op=op, tick=step)])
            if step in CHECKED:
                poses[step] = sim.poses().poses.copy()
            if step < 500:
                sim.step()
    return poses


def test_replay_from_the_store_equals_the_live_run_bitwise(tmp_path):
    with WorldStore.create(tmp_path, "w", pile(), config=SMALL) as store:
        want = live_run(store)
    with WorldStore.open(tmp_path, "w", read_only=True, config=SMALL) as store:
        state = store.state()
        assert state.physics["step"] == 330 and [s for s, _ in state.controls] == [380, 420]
        for tick in CHECKED:
            got = replay_physics(store, pile(), to_tick=tick, config=CONFIG)
            assert got.step == tick
            assert np.array_equal(got.poses.view(np.uint32), want[tick].view(np.uint32)), tick


def test_replay_refuses_another_scene_and_bad_ticks(tmp_path):
    with WorldStore.create(tmp_path, "w", pile(), config=SMALL) as store:
        with Simulation(pile(), config=CONFIG) as sim:
            sim.step(10)
            store.append([PhysicsSet(blob=sim.save_state(), tick=5)])  # logged before its step
        with pytest.raises(StoreError, match="to_tick"):
            replay_physics(store, pile(), to_tick=-1, config=CONFIG)
        with pytest.raises(StoreError, match="at step 10, after it"):
            replay_physics(store, pile(), to_tick=7, config=CONFIG)
        assert replay_physics(store, pile(), to_tick=12, config=CONFIG).step == 12
        other = scene(floor(), ball("z", (0.0, 1.0, 0.0)))
        with pytest.raises(PhysicsError, match="another model"):
            replay_physics(store, other, to_tick=20, config=CONFIG)
