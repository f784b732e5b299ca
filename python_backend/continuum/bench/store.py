"""``continuum bench store``: the persistent world store's write, reopen and replay speed.

The world: ``entities`` (100) entities; each tick moves every one of them (one ``TransformSet``
per entity), so a tick is 100 events. The store runs with its defaults (WAL,
``synchronous=FULL``, a snapshot every 10 000 events) in a temporary folder.

- ``append_events_per_s``: events acknowledged per second (``WorldStore.append`` returned, so
  committed and fsynced) over ``append_events`` events in batches of ``batch`` (1000).
- ``reopen_s_1m_events``: after appending ``reopen_events`` (1 000 000) events and then as many
  as fit before the next snapshot is due (the worst case, ``replayed_on_reopen``: 9000), the
  wall time of ``WorldStore.open`` (lock, newest snapshot, replay of the events after it)
  to a ready state. ``reopen_s_full_replay_10k``, for scale: the time to rebuild 10 000 events
  without a snapshot.
- ``replay_ticks_per_s``: ticks per second of ``state_at`` replaying ``replay_ticks`` (1000)
  ticks of events from the snapshot at their start (decoding and applying every event).
- ``edit_ack_ms_p50`` / ``_p99``: a ``world.edit`` (one ``transform_set``) sent by a client to a
  backend serving a persistent world, until its reply (stored, fsynced, applied) arrives;
  ``undo_ack_ms_p50`` likewise for ``world.undo``; ``bridge_edits`` of each.

Context figures: ``events``, ``entities``, ``batch``, ``db_bytes``, ``setup_s``, ``sqlite``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from continuum.world.events import EntityAdded, TransformSet
from continuum.world.state import WorldState
from continuum.world.store import DB_FILE, StoreConfig, WorldStore


def bench_store(
    *,
    entities: int = 100,
    batch: int = 1000,
    append_events: int = 200_000,
    reopen_events: int = 1_000_000,
    replay_ticks: int = 1000,
    bridge_edits: int = 500,
) -> dict:
    config = StoreConfig()
    with tempfile.TemporaryDirectory(prefix="continuum-bench-store-") as tmp:
        root = Path(tmp)
        ids = [f"e{i}" for i in range(entities)]
        store = WorldStore.create(root, "bench", config=config)
        store.append(EntityAdded(entity={"id": i}, tick=0) for i in ids)
        tick = 0

        def batches(count: int):
            nonlocal tick
            for _ in range(count // batch):
                events = []
                for _ in range(batch // entities):
                    tick += 1
                    events += [
                        TransformSet(id=i, transform={"position": [tick, 0.5, -1.0]}, tick=tick)
                        for i in ids
                    ]
                yield events

        # 1. append
        start = time.perf_counter()
        for events in batches(append_events):
            store.append(events)
        append_s = time.perf_counter() - start

        # 2. fill to a million events, close, reopen
        for events in batches(-(-(reopen_events - store.seq) // batch) * batch):
            store.append(events)
        # the worst case for reopening: as many events after the newest snapshot as can be
        for events in batches(config.snapshot_every_events - (store.seq - store._snapshot_seq) - 1):
            store.append(events)
        setup_s = time.perf_counter() - start
        seq = store.seq
        replayed_on_reopen = seq - store._snapshot_seq
        store.close()
        start = time.perf_counter()
        store = WorldStore.open(root, "bench", config=config)
        reopen_s = time.perf_counter() - start
        if store.seq != seq:
            raise AssertionError(f"reopened at seq {store.seq}, expected {seq}")

        start = time.perf_counter()
        store._replay(WorldState(), 10_000)
        full_replay_s = time.perf_counter() - start

        # 3. replay ticks from a snapshot: state_at rebuilds from the nearest snapshot before
        # its target, so aim just before the next snapshot and time the whole replay span.
        ticks_per_snapshot = config.snapshot_every_events // entities
        base = (seq // 2 // config.snapshot_every_events) * config.snapshot_every_events
        spans = replay_ticks // ticks_per_snapshot
        start = time.perf_counter()
        replayed = 0
        for k in range(spans):
            first = base + k * config.snapshot_every_events
            store.state_at(seq=first + config.snapshot_every_events - 1)
            replayed += ticks_per_snapshot
        replay_s = time.perf_counter() - start
        db_bytes = (root / "bench" / DB_FILE).stat().st_size
        store.close()

        # 4. over the bridge, to a backend serving a persistent world
        edit_ms, undo_ms = _bridge_edits(root, bridge_edits)

    return {
        "append_events_per_s": round(append_events / append_s),
        "reopen_s_1m_events": round(reopen_s, 4),
        "reopen_s_full_replay_10k": round(full_replay_s, 4),
        "replay_ticks_per_s": round(replayed / replay_s),
        "edit_ack_ms_p50": round(float(np.percentile(edit_ms, 50)), 3),
        "edit_ack_ms_p99": round(float(np.percentile(edit_ms, 99)), 3),
        "undo_ack_ms_p50": round(float(np.percentile(undo_ms, 50)), 3),
        "bridge_edits": bridge_edits,
        "events": seq,
        "replayed_on_reopen": replayed_on_reopen,
        "entities": entities,
        "batch": batch,
        "db_bytes": db_bytes,
        "setup_s": round(setup_s, 1),
        "sqlite": sqlite3.sqlite_version,
    }


def _bridge_edits(root: Path, count: int) -> tuple[list[float], list[float]]:
    """Round trips in ms of ``count`` world.edit then ``count`` world.undo requests."""
    from continuum.server.app import ServerConfig, serve_in_thread
    from continuum.server.client import BridgeClient
    from continuum.world.scene import Entity, Scene

    scene = Scene("bench", "", (Entity("thing", "Thing"),))
    config = ServerConfig(port=0, worlds_dir=root / "served", world="bench")
    edits, undos = [], []
    with serve_in_thread(config, scene) as server, BridgeClient(port=server.port) as client:
        for i in range(count):
            event = {"kind": "transform_set", "id": "thing", "transform": {"position": [i, 0, 0]}}
            start = time.perf_counter()
            client.request("world.edit", {"events": [event]})
            edits.append((time.perf_counter() - start) * 1e3)
        for _ in range(count):
            start = time.perf_counter()
            client.request("world.undo")
            undos.append((time.perf_counter() - start) * 1e3)
    return edits, undos
