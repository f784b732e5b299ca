"""kill -9 a writer during a burst of appends, over and over: every acknowledged event survives
and the world opens each time."""

import random
import signal
import subprocess
import sys
import time

from continuum.world.events import EntityAdded
from continuum.world.state import WorldState, apply
from continuum.world.store import StoreConfig, WorldStore

KILLS = 22
WRITER = """
import sys
from continuum.world.events import TransformSet
from continuum.world.store import StoreConfig, WorldStore

store = WorldStore.open(sys.argv[1], "w", config=StoreConfig(snapshot_every_events=500))
print("ready", store.seq, flush=True)
while True:
    tick = store.state().tick
    batch = [
        TransformSet(id="box", transform={"position": [tick + i, 0.0, 0.0]}, tick=tick + i)
        for i in range(1, 51)
    ]
    print("ack", store.append(batch), flush=True)
"""


def test_acknowledged_events_survive_kill_9(tmp_path):
    with WorldStore.create(tmp_path, "w") as store:
        store.append([EntityAdded(entity={"id": "box"})])
    rng = random.Random(7)
    acked: list[int] = []  # every seq a writer acknowledged, in order
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = child.stdout.readline().split()
        assert ready[:1] == ["ready"], child.stderr.read()
        # the world reopens after every kill with every event acknowledged before it
        assert int(ready[1]) >= max(acked, default=1)
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        # Only whole lines: the kill may cut the last one short ("ack " or "ack 12" of 123).
        whole = out.split("\n")[:-1]
        acked += [int(line.split()[1]) for line in whole if line.startswith("ack ")]
    assert len(acked) >= KILLS, "the writers acknowledged too little to test anything"
    with WorldStore.open(tmp_path, "w", config=StoreConfig()) as store:
        assert store.seq >= max(acked)
        stored = [seq for seq, _ in store.events()]
        assert stored == list(range(1, store.seq + 1))
        reference = WorldState()
        for _, event in store.events():
            reference = apply(reference, event)
        assert store.state() == reference
        assert store.info()["snapshots"] >= 1
