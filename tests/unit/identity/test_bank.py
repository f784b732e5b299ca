"""Identity banks: the adaptive update against its plain reference, eviction, drift, retrieval,
persistence; the registry's re-identification against bank-by-bank search."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from continuum.errors import IdentityError
from continuum.identity.bank import BankConfig, IdentityBank, update_reference
from continuum.identity.registry import Identities, reidentify_reference
from continuum.world import IdentityRemoved, IdentitySet, WorldState, apply

DIM = 16


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def around(center, spread, rng):
    return unit(center + spread * rng.normal(size=center.shape))


def test_the_vectorised_update_is_the_reference_update():
    rng = np.random.default_rng(0)
    config = BankConfig(capacity=6, merge=0.05, novelty=0.15, min_quality=0.4)
    fast, slow = IdentityBank("e", "t", DIM, config), IdentityBank("e", "t", DIM, config)
    centers = [unit(rng.normal(size=DIM)) for _ in range(4)]
    actions = set()
    for step in range(300):
        v = around(centers[step % 4], rng.uniform(0.0, 0.6), rng)
        q = float(rng.uniform(0, 1))
        a = fast.update(v, quality=q, when=float(step))
        b = update_reference(slow, v, quality=q, when=float(step))
        assert (a.action, a.slot) == (b.action, b.slot), step
        assert a.similarity == pytest.approx(b.similarity, abs=1e-5)
        assert a.drift == pytest.approx(b.drift, abs=1e-5)
        np.testing.assert_allclose(fast.matrix, slow.matrix, atol=1e-5)
        actions.add(a.action)
    assert actions == {"inserted", "merged", "replaced", "skipped"}


def test_merge_insert_skip_and_pinned_anchors():
    config = BankConfig(capacity=3, merge=0.05, novelty=0.2, min_quality=0.5)
    bank = IdentityBank("anna", "t", 3, config)
    bank.add([1, 0, 0], quality=1.0)  # the registered anchor, pinned
    assert bank.update(unit([1, 0.1, 0]), quality=0.9).action == "merged"
    assert bank.slots[0].weight == pytest.approx(1.9)
    assert bank.update(unit([1, 0.5, 0]), quality=0.9).action == "skipped"  # neither
    assert bank.update(unit([0, 1, 0]), quality=0.3).action == "skipped"  # novel, not confident
    assert bank.update(unit([0, 1, 0]), quality=0.9).action == "inserted"
    assert bank.update(unit([0, 0, 1]), quality=0.9).action == "inserted"
    replaced = bank.update(unit([0, -1, 0.2]), quality=0.9)
    assert replaced.action == "replaced" and replaced.slot != 0  # the anchor stays
    assert np.array_equal(bank.matrix[0], [1, 0, 0])  # an anchor keeps its vector
    full = IdentityBank("b", "t", 3, BankConfig(capacity=1))
    full.add([1, 0, 0])
    with pytest.raises(IdentityError, match="every slot is pinned"):
        full.update(unit([0, 1, 0]), quality=1.0)


def test_eviction_keeps_the_bank_diverse():
    config = BankConfig(capacity=4, merge=0.001, novelty=0.002, min_quality=0.0)
    bank = IdentityBank("e", "t", 3, config)
    bank.add([1, 0, 0])
    for v in ([0, 1, 0], [0, 0, 1], [0.0, 0.99, 0.14]):  # the last is near [0, 1, 0]
        bank.update(unit(v), quality=1.0)
    bank.update(unit([-1, 0, 0]), quality=1.0)  # full: one of the two near twins goes
    kept = bank.matrix
    for axis in ([1, 0, 0], [-1, 0, 0], [0, 0, 1]):
        assert (kept @ np.array(axis) > 0.999).sum() == 1, axis
    assert (kept[:, 1] > 0.9).sum() == 1  # one of the twins


def test_baseline_policies():
    single = IdentityBank("s", "t", 3, BankConfig(policy="single"))
    single.add([1, 0, 0])
    assert single.update(unit([0, 1, 0])).action == "skipped" and len(single) == 1
    fifo = IdentityBank("f", "t", 3, BankConfig(capacity=2, policy="fifo"))
    fifo.add([1, 0, 0], pin=False)
    for v in ([0, 1, 0], [0, 0, 1]):
        fifo.update(unit(v))
    assert [tuple(r) for r in fifo.matrix.round(3)] == [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0)]


def test_drift_retrieval_and_checks():
    bank = IdentityBank("e", "t", 3, BankConfig(drift_k=2))
    bank.add([1, 0, 0], quality=1.0)
    bank.add([0, 1, 0], quality=3.0, asset="ab" * 32)
    assert bank.drift_of([1, 0, 0]) == pytest.approx(1 - 1 / 4)  # weights 1 and 3
    assert bank.drift_of([-1, 0, 0]) == pytest.approx(1 + 1 / 4)
    assert bank.retrieve(k=1) == [(1, 1.0)] and bank.slots[1].uses == 1
    assert bank.retrieve(np.array([0.9, 0.1, 0]), k=2)[0][0] == 0
    for bad, words in [
        ([1, 0], "holds 3-D embeddings"),
        ([0, 0, 0], "non-zero"),
        ([np.nan, 0, 0], "finite"),
    ]:
        with pytest.raises(IdentityError, match=words):
            bank.update(bad)
    with pytest.raises(IdentityError, match="quality"):
        bank.update([1, 0, 0], quality=2.0)


def test_a_bank_round_trips_through_json():
    rng = np.random.default_rng(1)
    bank = IdentityBank("e", "face", DIM, BankConfig(capacity=5))
    for i in range(20):
        bank.update(unit(rng.normal(size=DIM)), quality=0.8, when=float(i), meta={"view": i})
    back = IdentityBank.from_json(copy.deepcopy(bank.to_json()))
    assert back.to_json() == bank.to_json()
    np.testing.assert_array_equal(back.matrix, bank.matrix)
    with pytest.raises(IdentityError, match="not an identity bank"):
        IdentityBank.from_json({"entity": "e"})


def test_reidentification_over_the_pool_is_bank_by_bank_search():
    rng = np.random.default_rng(2)
    ids = Identities(configs={"t": BankConfig(capacity=4, merge=0.01, novelty=0.02)})
    centers = {f"p{i}": unit(rng.normal(size=DIM)) for i in range(40)}  # the pool grows
    for name, c in centers.items():
        ids.register(name, "t", np.stack([around(c, 0.1, rng) for _ in range(2)]))
    ids.remove("p3")
    for _ in range(30):
        q = unit(rng.normal(size=DIM))
        got = ids.reidentify("t", q, k=5)
        want = reidentify_reference(ids.banks(), q)[:5]
        assert [e for e, _ in got] == [e for e, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    assert ids.reidentify("t", centers["p7"])[0][0] == "p7"
    assert all(e != "p3" for e, _ in ids.reidentify("t", centers["p3"], k=40))


def test_observe_updates_alerts_and_logs_events():
    ids = Identities(
        configs={"t": BankConfig(capacity=4, merge=0.05, novelty=0.1, drift_threshold=0.5)}
    )
    _, events = ids.register("anna", "t", np.array([[1, 0, 0]], np.float32))
    assert isinstance(events[0], IdentitySet) and events[0].id == "anna"
    seen, events = ids.observe("t", [0.99, 0.05, 0])  # recognised: updated
    assert seen.entity == "anna" and seen.update.action == "merged" and not seen.alert
    assert len(events) == 1
    seen, events = ids.observe("t", [0, 0, 1], entity="anna")  # named, far: drift alert
    assert seen.alert and seen.drift > 0.5 and seen.update.action == "inserted"
    seen, events = ids.observe("t", [0, 1, 0])  # nobody
    assert seen.entity is None and events == []
    with pytest.raises(IdentityError, match="no identity bank for entity 'ben'"):
        ids.observe("t", [1, 0, 0], entity="ben")
    with pytest.raises(IdentityError, match="3-D, got 2-D"):
        ids.reidentify("t", [1, 0])
    # the world state rebuilds the same banks
    state = WorldState()
    for event in [
        *ids.register("ben", "t", np.eye(3, dtype=np.float32)[1:2])[1],
        IdentitySet(id="anna", bank=ids.bank("anna").to_json()),
    ]:
        state = apply(state, event)
    again = Identities.from_state(state)
    assert again.bank("anna").to_json() == ids.bank("anna").to_json()
    assert again.reidentify("t", [0, 1, 0])[0][0] == "ben"
    assert ids.remove("ben") == [IdentityRemoved(id="ben")]


def test_inserted_views_are_provisional_until_seen_again():
    config = BankConfig(capacity=3, merge=0.05, novelty=0.2, min_quality=0.0, drift_k=1)
    bank = IdentityBank("e", "t", 3, config)
    bank.add([1, 0, 0])
    assert bank.update(unit([0, 1, 0])).action == "inserted"  # a one-off, perhaps not this one
    assert bank.similarity([0, 1, 0]) == pytest.approx(0.0, abs=1e-6)  # it does not count
    assert bank.drift_of([0, 1, 0]) == pytest.approx(1.0)
    assert [i for i, _ in bank.retrieve(k=3)] == [0]
    assert bank.update(unit([0, 1, 0.05])).action == "merged"  # seen again: confirmed
    assert bank.similarity([0, 1, 0]) > 0.99
    bank.update(unit([0, 0, 1]))  # provisional
    replaced = bank.update(unit([0, -1, 0]))  # full: the provisional one goes first
    assert replaced.action == "replaced" and replaced.slot == 2
    ids = Identities(configs={"t": config})
    ids.register("a", "t", np.array([[1, 0, 0]], np.float32))
    ids.register("b", "t", np.array([[0, 0, 1]], np.float32))
    ids.observe("t", unit([0, 1, 0]), entity="a")  # a mistake: provisional in a
    assert ids.reidentify("t", unit([0, 0.3, 1]))[0][0] == "b"


def test_slots_follow_a_slowly_changing_view():
    config = BankConfig(capacity=4, merge=0.02, novelty=0.05, max_weight=4.0)
    bank = IdentityBank("e", "t", 2, config)
    bank.add([1, 0], pin=False)
    for step in range(1, 200):  # turns 90 degrees, 0.45 degree a step
        angle = np.radians(0.45 * step)
        bank.update([np.cos(angle), np.sin(angle)], quality=1.0)
    assert bank.similarity([0, 1]) > 0.99  # kept up with the view
