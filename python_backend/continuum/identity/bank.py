"""Identity banks: what a recurring entity looked like, kept and updated adaptively.

A bank holds up to ``capacity`` **slots**, each an L2-normalised embedding with what it came from
(time, quality, a reference image asset, metadata) and how much it has been seen (``weight``: the
summed quality of the observations merged into it; ``uses``: how often it was retrieved). An
observation updates the bank by one rule (``update``), with ``d`` its cosine distance to the
nearest slot:

1. ``d <= merge``: it is that slot seen again: merged into it (a weighted mean with the slot's
   weight capped at ``max_weight``, so that a slot follows its view as it slowly changes;
   renormalised; the reference image is replaced when the observation's quality is higher)
   -> "merged". A slot made at registration (pinned: the identity's anchor) keeps its vector.
2. ``d >= novelty`` and ``quality >= min_quality``: a new view worth keeping: inserted, but
   **provisional**: it counts for nothing (re-identification, drift, retrieval) until a later
   observation merges into it, which confirms it. A one-off observation that was not this entity
   at all (a tracker's mistake) thus never speaks for the identity, and goes first at eviction.
   At capacity a slot goes first (below) -> "inserted" or "replaced".
3. otherwise (neither close nor confidently new): the bank is left as it was -> "skipped".

**Eviction** takes the oldest provisional slot if there is one; else it keeps the bank useful and
diverse: each unpinned slot scores ``usefulness = weight' + uses' + (1 - redundancy)``, where
``weight'`` and ``uses'`` are the slot's weight and uses over the bank's largest, and
``redundancy`` its highest similarity to another slot; the lowest goes. Pinned slots never go, so
a bank cannot drift away from who it was registered as.

**Drift** of an observation is ``1 - s``, with ``s`` the weight-averaged similarity to its
``drift_k`` nearest confirmed slots: 0 is the stored identity exactly, 1 unrelated, 2 opposite.

The policies "fifo" (insert every observation, the oldest goes) and "single" (the first reference
only, never updated) are the baselines the benchmark compares against. ``update_reference`` is
the plain, slot-by-slot version of ``update`` that the tests compare the vectorised one against.
"""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from continuum.errors import IdentityError

POLICIES = ("adaptive", "fifo", "single")
ACTIONS = ("inserted", "merged", "replaced", "skipped")


@dataclass(frozen=True)
class BankConfig:
    """How a bank updates.

    Attributes:
        capacity: the most slots (1..4096).
        merge: cosine distance at or below which an observation merges into its nearest slot.
        novelty: cosine distance at or above which a confident observation is inserted.
        min_quality: the quality (0..1) an observation needs to be inserted.
        drift_k: the nearest slots the drift score averages over.
        drift_threshold: drift above which an observation of the entity raises an alert.
        policy: "adaptive" (the rule above), "fifo" or "single" (baselines).
        max_weight: the weight a slot's mean keeps against a new observation, at most.
    """

    capacity: int = 32
    merge: float = 0.06
    novelty: float = 0.12
    min_quality: float = 0.5
    drift_k: int = 3
    drift_threshold: float = 0.35
    policy: str = "adaptive"
    max_weight: float = 8.0

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= 4096:
            raise IdentityError(f"capacity must be in 1..4096, got {self.capacity}")
        if not 0 <= self.merge <= self.novelty <= 2:
            raise IdentityError(
                f"need 0 <= merge <= novelty <= 2, got merge={self.merge}, novelty={self.novelty}"
            )
        if not 0 <= self.min_quality <= 1 or self.drift_k < 1:
            raise IdentityError("min_quality must be in [0, 1] and drift_k >= 1")
        if self.policy not in POLICIES:
            raise IdentityError(f"policy must be one of {POLICIES}, got {self.policy!r}")


@dataclass
class Slot:
    """One stored view of the identity (its vector lives in the bank's matrix)."""

    weight: float
    quality: float
    time: float
    uses: int = 0
    asset: str | None = None  # the reference image, an asset hash
    meta: dict[str, Any] = field(default_factory=dict)
    pinned: bool = False
    confirmed: bool = True  # False: provisional (inserted, not seen again yet)


@dataclass(frozen=True)
class Update:
    """What an observation did to a bank: ``action`` (ACTIONS), the slot it touched (or -1),
    its similarity to the nearest slot before, and its drift."""

    action: str
    slot: int
    similarity: float
    drift: float


class IdentityBank:
    """The slots of one entity's identity. Not thread-safe (the registry locks).

    Args:
        entity: the entity's id.
        kind: the embedder's kind ("face", "appearance", ...).
        dim: the embeddings' size.
        config: the update rule's settings.
        vectors: where to keep the slots' vectors (a registry passes rows of its pool, so that
            re-identification is one matrix product over every bank); default: its own.
        active: likewise, where to keep which slots count  # [capacity] bool
    """

    def __init__(
        self,
        entity: str,
        kind: str,
        dim: int,
        config: BankConfig = BankConfig(),
        *,
        vectors: np.ndarray | None = None,
        active: np.ndarray | None = None,
    ) -> None:
        if not isinstance(entity, str) or not entity:
            raise IdentityError(f"an identity needs a non-empty entity id, got {entity!r:.40}")
        if not 1 <= dim <= 4096:
            raise IdentityError(f"dim must be in 1..4096, got {dim}")
        self.entity, self.kind, self.dim, self.config = entity, kind, dim, config
        if vectors is None:
            vectors = np.zeros((config.capacity, dim), np.float32)
        elif vectors.shape != (config.capacity, dim) or vectors.dtype != np.float32:
            raise IdentityError(f"vectors must be float32 [{config.capacity}, {dim}]")
        self.vectors = vectors  # [capacity, dim]; a registry's pool gives a view of its own
        # which slots count (confirmed ones); the pool's view too, for re-identification
        self.active = np.zeros(config.capacity, bool) if active is None else active  # [capacity]
        self.slots: list[Slot] = []
        self.updates = 0
        self.drift: float | None = None
        self._clock = 0  # insertion order, for fifo

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def matrix(self) -> np.ndarray:
        """The slots' vectors  # [len, dim]"""
        return self.vectors[: len(self.slots)]

    # -- updating ----------------------------------------------------------------------------

    def add(
        self,
        vector: np.ndarray,
        *,
        quality: float = 1.0,
        asset: str | None = None,
        meta: dict[str, Any] | None = None,
        when: float | None = None,
        pin: bool = True,
    ) -> int:
        """Store ``vector`` as a slot as it is (registration: pinned by default); returns its
        index. At capacity the least useful unpinned slot goes; a bank full of pinned slots
        refuses."""
        v = self._check(vector)
        slot = Slot(
            quality,
            quality,
            time.time() if when is None else when,
            asset=asset,
            meta=dict(meta or {}),
            pinned=pin,
        )
        return self._insert(v, slot)

    def update(
        self,
        vector: np.ndarray,
        *,
        quality: float = 1.0,
        asset: str | None = None,
        meta: dict[str, Any] | None = None,
        when: float | None = None,
    ) -> Update:
        """Update the bank with an observation (the rule of the module docstring).

        Args:
            vector: the observation's embedding  # [dim]
            quality: how much to trust it, 0..1 (a detector's confidence, a sharpness).
            asset: its reference image, kept if it is inserted (or better than the slot's).
        """
        v = self._check(vector)
        if not 0 <= quality <= 1 or not math.isfinite(quality):
            raise IdentityError(f"quality must be in [0, 1], got {quality!r}")
        when = time.time() if when is None else when
        self.updates += 1
        if not self.active[: len(self.slots)].any():  # nothing counts yet: this view does
            slot = self._insert(v, Slot(quality, quality, when, asset=asset, meta=dict(meta or {})))
            self.drift = 1.0
            return Update("inserted", slot, 0.0, 1.0)
        sims = self.matrix @ v  # every slot: a provisional one may be merged into
        counted = np.where(self.active[: len(sims)], sims, -np.inf)
        similarity = float(np.max(counted))
        drift = self._drift(counted)
        self.drift = drift
        policy = self.config.policy
        if policy == "single":
            return Update("skipped", -1, similarity, drift)
        new = Slot(quality, quality, when, asset=asset, meta=dict(meta or {}))
        if policy == "fifo":
            replaced = len(self.slots) == self.config.capacity
            slot = self._insert(v, new, evict=self._oldest)
            return Update("replaced" if replaced else "inserted", slot, similarity, drift)
        nearest = int(np.argmax(sims))
        distance = 1.0 - float(sims[nearest])
        if distance <= self.config.merge:
            self._merge(nearest, v, quality, asset, when)
            return Update("merged", nearest, similarity, drift)
        if distance >= self.config.novelty and quality >= self.config.min_quality:
            replaced = len(self.slots) == self.config.capacity
            new.confirmed = False
            slot = self._insert(v, new)
            return Update("replaced" if replaced else "inserted", slot, similarity, drift)
        return Update("skipped", -1, similarity, drift)

    # -- reading -----------------------------------------------------------------------------

    def similarity(self, vector: np.ndarray) -> float:
        """The highest cosine similarity of ``vector`` to a confirmed slot (-1: none)."""
        sims = self._counted(self._check(vector))
        return float(np.max(sims)) if np.isfinite(sims).any() else -1.0

    def drift_of(self, vector: np.ndarray) -> float:
        """The drift of ``vector`` against the bank (1.0 for a bank with no confirmed slot)."""
        sims = self._counted(self._check(vector))
        return self._drift(sims) if np.isfinite(sims).any() else 1.0

    def retrieve(self, query: np.ndarray | None = None, k: int = 4) -> list[tuple[int, float]]:
        """The ``k`` best slots ``(index, similarity)``: the most similar to ``query``, or
        without one the most useful (weight, then recency; similarity is then 1.0). Counts
        a use of each."""
        counted = [i for i in range(len(self.slots)) if self.active[i]]
        if not counted:
            return []
        if query is not None:
            sims = self._counted(self._check(query))
            order = np.argsort(-sims, kind="stable")[: min(k, len(counted))]
            picked = [(int(i), float(sims[i])) for i in order]
        else:
            order = sorted(counted, key=lambda i: (-self.slots[i].weight, -self.slots[i].time))
            picked = [(i, 1.0) for i in order[:k]]
        for i, _ in picked:
            self.slots[i].uses += 1
        return picked

    def describe(self) -> dict[str, Any]:
        """PROTOCOL.md 15's bank."""
        return {
            "entity": self.entity,
            "kind": self.kind,
            "slots": len(self.slots),
            "capacity": self.config.capacity,
            "dim": self.dim,
            "updates": self.updates,
            "drift": self.drift,
        }

    # -- persistence -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The bank as JSON (vectors as base64 float32, little-endian)."""
        return {
            "entity": self.entity,
            "kind": self.kind,
            "dim": self.dim,
            "config": self.config.__dict__,
            "vectors": base64.b64encode(self.matrix.astype("<f4").tobytes()).decode(),
            "slots": [s.__dict__ for s in self.slots],
            "updates": self.updates,
            "drift": self.drift,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> IdentityBank:
        """The bank of a ``to_json`` dict.

        Raises:
            IdentityError: a malformed bank (the message names the field).
        """
        try:
            bank = cls(doc["entity"], doc["kind"], int(doc["dim"]), BankConfig(**doc["config"]))
            slots = [Slot(**s) for s in doc["slots"]]
            raw = base64.b64decode(doc["vectors"], validate=True)
            vectors = np.frombuffer(raw, "<f4").reshape(len(slots), bank.dim)
        except (KeyError, TypeError, ValueError) as exc:
            raise IdentityError(f"not an identity bank: {exc}") from None
        bank.vectors[: len(slots)] = vectors
        bank.slots = slots
        bank.active[: len(slots)] = [s.confirmed for s in slots]
        bank.updates = int(doc.get("updates", 0))
        bank.drift = doc.get("drift")
        bank._clock = len(slots)
        return bank

    # -- private -------------------------------------------------------------------------------

    def _check(self, vector: Any) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape != (self.dim,):
            raise IdentityError(
                f"identity {self.entity!r} holds {self.dim}-D embeddings ({self.kind}), got "
                f"{v.shape[0]}-D"
            )
        norm = float(np.linalg.norm(v))
        if not math.isfinite(norm) or norm == 0:
            raise IdentityError(f"identity {self.entity!r}: an embedding must be finite, non-zero")
        return v / norm

    def _counted(self, v: np.ndarray) -> np.ndarray:
        """``v``'s similarity to each slot, -inf for the provisional ones  # [len]"""
        return np.where(self.active[: len(self.slots)], self.matrix @ v, -np.inf)

    def _drift(self, sims: np.ndarray) -> float:
        """From similarities with -inf for slots that do not count."""
        k = min(self.config.drift_k, int(np.isfinite(sims).sum()))
        top = np.argpartition(-sims, k - 1)[:k]
        weights = np.array([self.slots[i].weight for i in top], np.float64) + 1e-9
        return float(1.0 - np.dot(weights, sims[top]) / weights.sum())

    def _merge(self, i: int, v: np.ndarray, quality: float, asset: str | None, when: float) -> None:
        slot = self.slots[i]
        weight = min(slot.weight, self.config.max_weight)
        if not slot.pinned:  # an anchor stays as it was registered
            merged = self.vectors[i] * weight + v * quality
            norm = float(np.linalg.norm(merged))
            if norm > 0:
                self.vectors[i] = merged / norm
        if asset is not None and quality > slot.quality:
            slot.asset, slot.quality = asset, quality
        slot.weight = min(weight + quality, self.config.max_weight)
        slot.time = max(slot.time, when)
        slot.confirmed = True
        self.active[i] = True

    def _insert(self, v: np.ndarray, slot: Slot, *, evict: Any = None) -> int:
        slot.meta.setdefault("order", self._clock)
        self._clock += 1
        if len(self.slots) < self.config.capacity:
            self.slots.append(slot)
            i = len(self.slots) - 1
        else:
            i = (evict or self._least_useful)()
            if i < 0:
                raise IdentityError(
                    f"identity {self.entity!r}: every slot is pinned (capacity "
                    f"{self.config.capacity}); register fewer references or raise the capacity"
                )
            self.slots[i] = slot
        self.vectors[i] = v
        self.active[i] = slot.confirmed
        return i

    def _oldest(self) -> int:
        return min(range(len(self.slots)), key=lambda i: self.slots[i].meta.get("order", 0))

    def _least_useful(self) -> int:
        """The unpinned slot to evict (-1: none can be)."""
        provisional = [i for i, s in enumerate(self.slots) if not s.confirmed]
        if provisional:
            return min(provisional, key=lambda i: self.slots[i].meta.get("order", 0))
        free = [i for i, s in enumerate(self.slots) if not s.pinned]
        if not free:
            return -1
        m = self.matrix
        sims = m @ m.T
        np.fill_diagonal(sims, -np.inf)
        redundancy = sims.max(axis=1)  # [n]
        weights = np.array([s.weight for s in self.slots])
        uses = np.array([s.uses for s in self.slots], np.float64)
        usefulness = weights / weights.max() + uses / max(uses.max(), 1.0) + (1.0 - redundancy)
        return min(free, key=lambda i: (usefulness[i], self.slots[i].time))


def update_reference(
    bank: IdentityBank, vector: np.ndarray, *, quality: float = 1.0, when: float = 0.0
) -> Update:
    """``IdentityBank.update`` done slot by slot in plain Python (adaptive policy, no assets):
    the reference the vectorised update is tested against. Changes ``bank`` the same way."""
    config = bank.config
    v = [float(x) for x in vector]
    norm = math.sqrt(sum(x * x for x in v))
    v = [x / norm for x in v]

    def dot(a: Any, b: Any) -> float:
        return sum(float(x) * float(y) for x, y in zip(a, b, strict=True))

    def put(i: int, slot: Slot, vec: list[float]) -> None:
        bank.vectors[i] = vec
        bank.active[i] = slot.confirmed

    bank.updates += 1
    n = len(bank.slots)
    if not any(s.confirmed for s in bank.slots):
        slot = Slot(quality, quality, when, meta={"order": bank._clock})
        bank._clock += 1
        if n < config.capacity:
            bank.slots.append(slot)
            i = n
        else:
            i = min(range(n), key=lambda j: bank.slots[j].meta.get("order", 0))
            bank.slots[i] = slot
        put(i, slot, v)
        bank.drift = 1.0
        return Update("inserted", i, 0.0, 1.0)
    sims = [dot(bank.vectors[i], v) for i in range(n)]
    counted = [i for i in range(n) if bank.slots[i].confirmed]
    best = max(sims[i] for i in counted)
    ranked = sorted(counted, key=lambda i: -sims[i])[: config.drift_k]
    total = sum(bank.slots[i].weight + 1e-9 for i in ranked)
    drift = 1.0 - sum((bank.slots[i].weight + 1e-9) * sims[i] for i in ranked) / total
    bank.drift = drift
    nearest = max(range(n), key=lambda i: (sims[i], -i))
    if 1.0 - sims[nearest] <= config.merge:
        slot = bank.slots[nearest]
        weight = min(slot.weight, config.max_weight)
        if not slot.pinned:
            merged = [
                a * weight + b * quality for a, b in zip(bank.vectors[nearest], v, strict=True)
            ]
            m = math.sqrt(sum(x * x for x in merged))
            bank.vectors[nearest] = [x / m for x in merged]
        slot.weight = min(weight + quality, config.max_weight)
        slot.time = max(slot.time, when)
        slot.confirmed = True
        bank.active[nearest] = True
        return Update("merged", nearest, best, drift)
    if 1.0 - sims[nearest] >= config.novelty and quality >= config.min_quality:
        new = Slot(quality, quality, when, meta={"order": bank._clock}, confirmed=False)
        bank._clock += 1
        if n < config.capacity:
            bank.slots.append(new)
            i, action = n, "inserted"
        else:
            provisional = [j for j in range(n) if not bank.slots[j].confirmed]
            free = [j for j in range(n) if not bank.slots[j].pinned]
            if provisional:
                i = min(provisional, key=lambda j: bank.slots[j].meta.get("order", 0))
            elif free:
                red = [
                    max(
                        (dot(bank.vectors[j], bank.vectors[o]) for o in range(n) if o != j),
                        default=-math.inf,
                    )
                    for j in range(n)
                ]
                wmax = max(s.weight for s in bank.slots)
                umax = max(max(s.uses for s in bank.slots), 1)
                use = [
                    s.weight / wmax + s.uses / umax + (1 - r)
                    for s, r in zip(bank.slots, red, strict=True)
                ]
                i = min(free, key=lambda j: (use[j], bank.slots[j].time))
            else:
                raise IdentityError("every slot is pinned")
            bank.slots[i] = new
            action = "replaced"
        put(i, new, v)
        return Update(action, i, best, drift)
    return Update("skipped", -1, best, drift)
