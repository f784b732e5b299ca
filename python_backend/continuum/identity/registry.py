"""All the identity banks of a world, and re-identification across them.

Banks of one kind keep their vectors in one pool (``[banks x capacity, dim]``, each bank a
block of rows), so that "which known entity is this?" is one matrix product and a max per
block, whatever the number of banks. ``reidentify_reference`` is the plain bank-by-bank version
the tests compare against.

Changes come back as world events (``IdentitySet`` with the bank's JSON, ``IdentityRemoved``) for
the caller to log, and ``Identities.from_state`` rebuilds everything from a world state.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from continuum.errors import IdentityError
from continuum.identity.bank import BankConfig, IdentityBank, Update
from continuum.world.events import Event, IdentityRemoved, IdentitySet
from continuum.world.state import WorldState

# The update rule per kind, from measured cosine similarities (tests/unit/identity): one face
# (dlib) under changes of light, pose, scale, compression or glasses stays at 0.95-1.0, while
# different people sit around 0.8-0.85 (dlib's "same person below distance 0.6" is about 0.91);
# one object's appearance under small changes stays at 0.91-1.0, different photos score
# 0.35-0.87.
DEFAULT_CONFIGS = {
    "face": BankConfig(merge=0.03, novelty=0.06, drift_threshold=0.10, min_quality=0.3),
    "appearance": BankConfig(merge=0.02, novelty=0.05, drift_threshold=0.12, min_quality=0.3),
}
# The similarity above which the best match is taken for the entity itself.
MATCH_THRESHOLDS = {"face": 0.91, "appearance": 0.9}


@dataclass(frozen=True)
class Recognition:
    """What an observation showed: ``matches`` ``[(entity, similarity)]`` best first, the
    ``entity`` taken (the best above the threshold, or the one named), its ``drift`` and the
    bank's ``update`` (None when not updated), and whether the drift crossed the threshold."""

    matches: list[tuple[str, float]]
    entity: str | None
    drift: float | None
    update: Update | None
    alert: bool
    threshold: float


class _Pool:
    """One kind's vectors: a block of ``capacity`` rows per bank."""

    def __init__(self, dim: int, capacity: int) -> None:
        self.dim, self.capacity = dim, capacity
        self.rows = np.zeros((8 * capacity, dim), np.float32)  # [blocks x capacity, dim]
        self.active = np.zeros(8 * capacity, bool)  # rows that count  # [blocks x capacity]
        self.banks: list[IdentityBank | None] = []  # by block; None: a free block

    def block(self) -> int:
        for i, bank in enumerate(self.banks):
            if bank is None:
                return i
        self.banks.append(None)
        needed = len(self.banks) * self.capacity
        if needed > len(self.rows):  # grow by doubling; every bank gets its new view
            grown = np.zeros((2 * len(self.rows), self.dim), np.float32)
            grown[: len(self.rows)] = self.rows
            active = np.zeros(2 * len(self.rows), bool)
            active[: len(self.active)] = self.active
            self.rows, self.active = grown, active
            for j, bank in enumerate(self.banks):
                if bank is not None:
                    bank.vectors, bank.active = self.view(j), self.active_view(j)
        return len(self.banks) - 1

    def view(self, block: int) -> np.ndarray:
        return self.rows[block * self.capacity : (block + 1) * self.capacity]

    def active_view(self, block: int) -> np.ndarray:
        return self.active[block * self.capacity : (block + 1) * self.capacity]

    def best(self, vector: np.ndarray) -> np.ndarray:
        """Each block's highest similarity to ``vector`` (-inf for free blocks)  # [blocks]"""
        n = len(self.banks)
        rows = n * self.capacity
        sims = np.where(self.active[:rows], self.rows[:rows] @ vector, -np.inf)
        return sims.reshape(n, self.capacity).max(axis=1, initial=-np.inf)


class Identities:
    """The banks of a world by entity. Thread-safe.

    Args:
        configs: the update rule per kind (DEFAULT_CONFIGS for those not given).
        dims: the embedding size per kind, checked on every vector (e.g. {"face": 128}).
    """

    def __init__(
        self,
        *,
        configs: dict[str, BankConfig] | None = None,
        dims: dict[str, int] | None = None,
    ) -> None:
        self.configs = {**DEFAULT_CONFIGS, **(configs or {})}
        self.dims = dict(dims or {})
        self._banks: dict[str, IdentityBank] = {}
        self._blocks: dict[str, int] = {}
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.RLock()

    # -- banks -----------------------------------------------------------------------------------

    def register(
        self,
        entity: str,
        kind: str,
        vectors: np.ndarray,
        *,
        qualities: Iterable[float] | None = None,
        assets: Iterable[str | None] | None = None,
        metas: Iterable[dict[str, Any]] | None = None,
        when: float | None = None,
    ) -> tuple[IdentityBank, list[Event]]:
        """A new bank for ``entity`` (replacing one of that entity) with ``vectors`` as its
        pinned references; returns it and the event to log.

        Args:
            vectors: the references' embeddings  # [N, dim]
        """
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or not 1 <= len(vectors) <= 64:
            raise IdentityError(f"register takes 1..64 embeddings [N, dim], got {vectors.shape}")
        n = len(vectors)
        qualities = list(qualities or [1.0] * n)
        assets = list(assets or [None] * n)
        metas = list(metas or [{}] * n)
        with self._lock:
            self._check_dim(kind, vectors.shape[1])
            if entity in self._banks:
                self._drop(entity)
            bank = self._new_bank(entity, kind, vectors.shape[1])
            for v, q, a, m in zip(vectors, qualities, assets, metas, strict=True):
                bank.add(v, quality=q, asset=a, meta=m, when=when)
            return bank, [self._event(bank)]

    def remove(self, entity: str) -> list[Event]:
        """Drop ``entity``'s bank; returns the event to log."""
        with self._lock:
            self.bank(entity)
            self._drop(entity)
            return [IdentityRemoved(id=entity)]

    def bank(self, entity: str) -> IdentityBank:
        with self._lock:
            bank = self._banks.get(entity)
        if bank is None:
            raise IdentityError(
                f"no identity bank for entity {entity!r}; register it first (identity.register)"
            )
        return bank

    def banks(self) -> list[IdentityBank]:
        with self._lock:
            return list(self._banks.values())

    def __len__(self) -> int:
        return len(self._banks)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Hold every bank still (for reading a bank's slots, or retrieving from it)."""
        with self._lock:
            yield

    def saved(self, entity: str) -> dict[str, Any] | None:
        """``entity``'s bank as JSON (None: it has none): what ``restore`` takes back."""
        with self._lock:
            bank = self._banks.get(entity)
            return None if bank is None else bank.to_json()

    def restore(self, entity: str, doc: dict[str, Any] | None) -> None:
        """Put ``entity``'s bank back as ``saved`` gave it (None: no bank), e.g. when the
        events of a change could not be stored."""
        with self._lock:
            if entity in self._banks:
                self._drop(entity)
            if doc is not None:
                self._load(entity, doc)

    @property
    def memories(self) -> int:
        """Slots over every bank."""
        with self._lock:
            return sum(len(b) for b in self._banks.values())

    # -- observing -------------------------------------------------------------------------------

    def reidentify(self, kind: str, vector: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` known entities of ``kind`` most similar to ``vector``, best first."""
        with self._lock:
            pool = self._pools.get(kind)
            if pool is None or not self._banks:
                return []
            v = self._unit(kind, vector)
            best = pool.best(v)
            order = np.argsort(-best, kind="stable")[:k]
            return [
                (pool.banks[i].entity, float(best[i]))  # type: ignore[union-attr]
                for i in order
                if np.isfinite(best[i])
            ]

    def observe(
        self,
        kind: str,
        vector: np.ndarray,
        *,
        entity: str | None = None,
        update: bool = True,
        quality: float = 1.0,
        asset: str | None = None,
        meta: dict[str, Any] | None = None,
        when: float | None = None,
    ) -> tuple[Recognition, list[Event]]:
        """Re-identify an observation and, when ``entity`` is named (or recognised, if not),
        update that bank with it; returns what it showed and the events to log.

        Raises:
            IdentityError: ``entity`` has no bank, or a bank of another kind; a bad vector.
        """
        with self._lock:
            matches = self.reidentify(kind, vector)
            threshold = MATCH_THRESHOLDS.get(kind, 0.8)
            target = entity
            if target is None and matches and matches[0][1] >= threshold:
                target = matches[0][0]
            if target is None:
                return Recognition(matches, None, None, None, False, 0.0), []
            bank = self.bank(target)
            if bank.kind != kind:
                raise IdentityError(
                    f"entity {target!r} has a {bank.kind} bank; observe it with kind {bank.kind!r}"
                )
            if update:
                result = bank.update(vector, quality=quality, asset=asset, meta=meta, when=when)
                drift = result.drift
                events = [self._event(bank)] if result.action != "skipped" else []
            else:
                result, drift, events = None, bank.drift_of(vector), []
            alert = entity is not None and drift > bank.config.drift_threshold
            return Recognition(
                matches, target, drift, result, alert, bank.config.drift_threshold
            ), events

    # -- persistence -------------------------------------------------------------------------------

    @classmethod
    def from_state(cls, state: WorldState, **kw: Any) -> Identities:
        """The banks a world state holds."""
        identities = cls(**kw)
        for entity, doc in state.identities.items():
            identities._load(entity, doc)
        return identities

    # -- private -----------------------------------------------------------------------------------

    def _new_bank(
        self, entity: str, kind: str, dim: int, config: BankConfig | None = None
    ) -> IdentityBank:
        config = config or self.configs.get(kind, BankConfig())
        pool = self._pools.get(kind)
        if pool is None:
            pool = self._pools[kind] = _Pool(dim, config.capacity)
        if pool.dim != dim or pool.capacity != config.capacity:
            raise IdentityError(
                f"{kind} banks hold {pool.dim}-D embeddings in {pool.capacity} slots, got {dim}-D "
                f"and {config.capacity}"
            )
        block = pool.block()
        bank = IdentityBank(
            entity, kind, dim, config, vectors=pool.view(block), active=pool.active_view(block)
        )
        pool.banks[block] = bank
        self._banks[entity], self._blocks[entity] = bank, block
        return bank

    def _load(self, entity: str, doc: dict[str, Any]) -> None:
        saved = IdentityBank.from_json(doc)
        bank = self._new_bank(entity, saved.kind, saved.dim, saved.config)
        bank.vectors[: len(saved)] = saved.matrix
        bank.active[: len(saved)] = saved.active[: len(saved)]
        bank.slots, bank.updates, bank.drift = saved.slots, saved.updates, saved.drift
        bank._clock = saved._clock

    def _drop(self, entity: str) -> None:
        bank = self._banks.pop(entity)
        block = self._blocks.pop(entity)
        pool = self._pools[bank.kind]
        pool.banks[block] = None
        pool.view(block)[:] = 0
        pool.active_view(block)[:] = False

    def _check_dim(self, kind: str, dim: int) -> None:
        want = self.dims.get(kind)
        if want is not None and dim != want:
            raise IdentityError(f"{kind} embeddings are {want}-D, got {dim}-D")

    def _unit(self, kind: str, vector: np.ndarray) -> np.ndarray:
        v = np.asarray(vector, np.float32).reshape(-1)
        pool = self._pools[kind]
        if v.shape != (pool.dim,):
            raise IdentityError(f"{kind} embeddings are {pool.dim}-D, got {v.shape[0]}-D")
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0:
            raise IdentityError("an embedding must be finite and non-zero")
        return v / norm

    @staticmethod
    def _event(bank: IdentityBank) -> IdentitySet:
        return IdentitySet(id=bank.entity, bank=bank.to_json())


def reidentify_reference(
    banks: Iterable[IdentityBank], vector: np.ndarray
) -> list[tuple[str, float]]:
    """``Identities.reidentify`` bank by bank: every entity and its best similarity, best first."""
    v = np.asarray(vector, np.float64)
    v = v / np.linalg.norm(v)
    scored = []
    for bank in banks:
        if len(bank):
            scored.append(
                (bank.entity, max(float(row @ v) for row in bank.matrix.astype(np.float64)))
            )
    return sorted(scored, key=lambda e: -e[1])
