"""The interaction and narrative memory of a world: records, retrieval and folding.

``Memory`` holds the records in the order they came and, beside them, one row per record in a
few arrays (embeddings ``[N, EMBEDDING_DIM]``, times, importances, places, interned who/what),
so that a query is a handful of vectorised operations over every record:

1. the filters select: ``who`` and ``what`` (equal), ``near``/``radius`` (records with a place
   within ``radius`` metres), ``since``/``until`` (``since <= when <= until``);
2. each selected record scores

       score = w_similarity * cosine(text, record)      (only when the query has a text)
             + w_recency * 0.5 ** (age / half_life_s)   (age = now - when, 0 at the least)
             + w_importance * importance

3. the ``k`` best come back, best first (ties: the newer first, then the one added first).

``query_reference`` (``_reference.py``) is the plain record-by-record version the tests compare
against.

**Persistence.** The world's log is the memory's truth: given ``log`` (``World.log``), ``add``
logs ``MemoryAdded(record=record.to_json())`` and ``summarize`` one ``MemoryFolded(ids,
summary)`` per group (all in one call: all or nothing) before the index changes, so the index
never holds what the world does not. ``Memory.from_state`` rebuilds the memory of a world state.
Without ``log`` the memory lives in this object only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from continuum.errors import IdentityError
from continuum.memory.records import EMBEDDING_DIM, MAX_TEXT, MemoryRecord, new_record_id
from continuum.memory.summaries import GROUP_BY, summary_record
from continuum.world.events import Event, MemoryAdded, MemoryFolded
from continuum.world.state import WorldState

EmbedTexts = Callable[[Sequence[str]], np.ndarray]  # texts -> unit rows, float32 [N, D]
Log = Callable[[list[Event]], int]  # events -> the world's seq (``World.log``)
MAX_K = 100


@dataclass(frozen=True)
class MemoryConfig:
    """How the memory ranks and how much it holds.

    Attributes:
        w_similarity: weight of the cosine similarity to the query's text (-1..1; MiniLM gives
            a paraphrase or a related sentence about 0.3-0.8, an unrelated one about 0-0.15).
            The text is what the asker wants, so it leads: with the defaults a related record
            outranks an unrelated one up to a few days newer or much more important.
        w_recency: weight of the recency, ``0.5 ** (age / half_life_s)`` (1 now, 0.5 after one
            half-life).
        w_importance: weight of the record's importance (0..1).
        half_life_s: the recency's half-life in seconds (one day).
        max_records: the most records the memory holds; ``add`` beyond it is refused (fold
            old ones with ``summarize``).
    """

    w_similarity: float = 1.0
    w_recency: float = 0.25
    w_importance: float = 0.25
    half_life_s: float = 86400.0
    max_records: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("w_similarity", "w_recency", "w_importance"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise IdentityError(f"MemoryConfig.{name} must be finite and >= 0, got {value}")
        if not math.isfinite(self.half_life_s) or self.half_life_s <= 0:
            raise IdentityError(f"MemoryConfig.half_life_s must be > 0, got {self.half_life_s}")
        if not 1 <= self.max_records <= 1_000_000:
            raise IdentityError(
                f"MemoryConfig.max_records must be in 1..1,000,000, got {self.max_records}"
            )


@dataclass(frozen=True)
class Scored:
    """A record a query found: its ``score``, its ``similarity`` to the query's text (None for
    a query without one) and its ``recency`` (0..1)."""

    record: MemoryRecord
    score: float
    similarity: float | None
    recency: float

    def to_json(self) -> dict[str, Any]:
        """``memory.query``'s form: the record without its embedding, and the numbers."""
        return {
            "record": self.record.to_json(embedding=False),
            "score": self.score,
            "similarity": self.similarity,
            "recency": self.recency,
        }


class _Rows:
    """The numbers of the records, one row each, in arrays that grow by doubling (up to
    ``limit`` rows); ``who`` and ``what`` are codes of interned strings."""

    NAMES = ("vectors", "when", "importance", "where", "summary", "who", "what")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.codes: dict[str, dict[str, int]] = {"who": {}, "what": {}}  # string -> code
        self._make(64)

    def _make(self, size: int) -> None:
        self.vectors = np.zeros((size, EMBEDDING_DIM), np.float32)  # [cap, D]
        self.when = np.zeros(size, np.float64)  # [cap]
        self.importance = np.zeros(size, np.float64)  # [cap]
        self.where = np.full((size, 3), np.nan)  # [cap, 3], NaN: no place
        self.summary = np.zeros(size, bool)  # [cap]
        self.who = np.full(size, -1, np.int32)  # [cap]
        self.what = np.full(size, -1, np.int32)  # [cap]

    def reserve(self, used: int, capacity: int) -> None:
        """Room for ``capacity`` rows, keeping the first ``used``."""
        if capacity <= len(self.when):
            return
        old = {name: getattr(self, name) for name in self.NAMES}
        self._make(max(capacity, min(2 * len(self.when), self.limit)))
        for name, array in old.items():
            getattr(self, name)[:used] = array[:used]

    def put(self, row: int, record: MemoryRecord) -> None:
        self.vectors[row] = record.embedding
        self.when[row] = record.when
        self.importance[row] = record.importance
        self.where[row] = record.where if record.where is not None else np.nan
        self.summary[row] = record.summary
        for name in ("who", "what"):
            codes = self.codes[name]
            getattr(self, name)[row] = codes.setdefault(getattr(record, name), len(codes))

    def keep(self, mask: np.ndarray) -> None:
        """Keep the rows where ``mask`` [n] is True, in order, at the start."""
        n, m = len(mask), int(mask.sum())
        for name in self.NAMES:
            array = getattr(self, name)
            array[:m] = array[:n][mask]


class Memory:
    """A world's memory records, indexed for retrieval. Thread-safe.

    Args:
        embed_texts: texts -> their L2-normalised embeddings, float32 [N, EMBEDDING_DIM]
            (default: ``continuum.identity.embedders.TextEmbedder().embed``, loaded on first use).
        config: ranking weights and bounds.
        log: where the memory's events go before the index changes (``World.log``); None keeps
            them nowhere.
    """

    def __init__(
        self,
        *,
        embed_texts: EmbedTexts | None = None,
        config: MemoryConfig | None = None,
        log: Log | None = None,
    ) -> None:
        self.config = config or MemoryConfig()
        self._embed_texts = embed_texts
        self._log = log
        self._lock = threading.RLock()
        self._embedder_lock = threading.Lock()
        self._records: list[MemoryRecord] = []
        self._rows: dict[str, int] = {}  # id -> row
        self._data = _Rows(self.config.max_records)

    @classmethod
    def from_state(
        cls,
        state: WorldState,
        *,
        embed_texts: EmbedTexts | None = None,
        config: MemoryConfig | None = None,
        log: Log | None = None,
    ) -> Memory:
        """The memory of ``state`` (``state.memory``, in order); records stored without an
        embedding are embedded now, in one batch.

        Raises:
            IdentityError: a record that is not a memory record (the message names it),
                duplicate ids, or more than ``config.max_records`` records.
        """
        memory = cls(embed_texts=embed_texts, config=config, log=log)
        records = [MemoryRecord.from_json(doc) for doc in state.memory]
        missing = [i for i, r in enumerate(records) if r.embedding is None]
        if missing:
            vectors = memory._embed([records[i].text for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                records[i] = replace(records[i], embedding=vector)
        with memory._lock:
            memory._check_new(records)
            memory._insert(records)
        return memory

    # -- reading -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._rows

    def records(self) -> list[MemoryRecord]:
        """Every record, oldest added first (summaries where their fold put them: last)."""
        with self._lock:
            return list(self._records)

    def get(self, record_id: str) -> MemoryRecord:
        """The record ``record_id``.

        Raises:
            IdentityError: no such record (it may have been folded into a summary).
        """
        with self._lock:
            row = self._rows.get(record_id)
            if row is None:
                raise IdentityError(f"no memory record {record_id!r}")
            return self._records[row]

    def query(
        self,
        text: str | None = None,
        *,
        who: str | None = None,
        what: str | None = None,
        near: Sequence[float] | None = None,
        radius: float | None = None,
        since: float | None = None,
        until: float | None = None,
        k: int = 10,
        now: float | None = None,
    ) -> list[Scored]:
        """The ``k`` records that score best among those the filters select, best first (module
        docstring). ``now`` is the time recency is measured from (default: the clock).

        Raises:
            IdentityError: a bad argument (named): ``text`` empty or over MAX_TEXT characters,
                ``near`` without ``radius`` (or the reverse), ``radius`` not > 0 and finite,
                ``since`` after ``until``, ``k`` outside 1..100.
        """
        # 1. check the arguments, embed the text (outside the lock: the model is slow)
        _check_query(text, who, what, near, radius, since, until, k, now)
        vector = self._embed([text])[0] if text is not None else None  # [D]
        now = time.time() if now is None else float(now)
        cfg = self.config
        with self._lock:
            # 2. the filters select rows
            data, n = self._data, len(self._records)
            mask = np.ones(n, bool)
            for name, value in (("who", who), ("what", what)):
                if value is not None:
                    code = data.codes[name].get(value, -1)
                    mask &= getattr(data, name)[:n] == code
            if near is not None:
                offset = data.where[:n] - np.asarray(near, np.float64)  # [n, 3], NaN: no place
                mask &= np.einsum("ij,ij->i", offset, offset) <= float(radius) ** 2  # NaN: False
            if since is not None:
                mask &= data.when[:n] >= since
            if until is not None:
                mask &= data.when[:n] <= until
            rows = np.flatnonzero(mask)  # [M]
            if len(rows) == 0:
                return []
            # 3. score them
            when = data.when[rows]
            recency = 0.5 ** (np.maximum(now - when, 0.0) / cfg.half_life_s)  # [M]
            score = cfg.w_recency * recency + cfg.w_importance * data.importance[rows]
            similarity = None
            if vector is not None:
                if len(rows) > n // 8:  # most rows: one product over all beats a gather
                    similarity = (data.vectors[:n] @ vector)[rows].astype(np.float64)  # [M]
                else:
                    similarity = (data.vectors[rows] @ vector).astype(np.float64)  # [M]
                score = score + cfg.w_similarity * similarity
            # 4. the k best: every row scoring at least the k-th best, then sorted exactly
            if len(rows) > k:
                kth = np.partition(score, len(rows) - k)[len(rows) - k]
                keep = np.flatnonzero(score >= kth)
            else:
                keep = np.arange(len(rows))
            order = keep[np.lexsort((rows[keep], -when[keep], -score[keep]))][:k]
            return [
                Scored(
                    self._records[rows[i]],
                    float(score[i]),
                    None if similarity is None else float(similarity[i]),
                    float(recency[i]),
                )
                for i in order
            ]

    # -- changing ----------------------------------------------------------------------------------

    def add(
        self,
        who: str,
        what: str,
        text: str,
        *,
        where: Sequence[float] | None = None,
        importance: float = 0.5,
        when: float | None = None,
        tick: int = 0,
    ) -> MemoryRecord:
        """Remember something: a new record (a fresh id; ``when`` default now), embedded,
        logged (``MemoryAdded``) and indexed, all or nothing.

        Raises:
            IdentityError: a bad field (named; see MemoryRecord), or the memory is full.
            StoreError: the world's store cannot be written (nothing changed).
        """
        # 1. check the fields, then embed (outside the lock)
        record = MemoryRecord(
            id=new_record_id(),
            who=who,
            what=what,
            text=text,
            where=tuple(where) if where is not None else None,  # type: ignore[arg-type]
            when=time.time() if when is None else when,
            tick=tick,
            importance=importance,
        )
        record = replace(record, embedding=self._embed([text])[0])
        # 2. log, then index
        with self._lock:
            self._check_new([record])
            if self._log is not None:
                self._log([MemoryAdded(record=record.to_json())])
            self._insert([record])
        return record

    def summarize(
        self, older_than_s: float, *, group_by: str = "who", now: float | None = None
    ) -> tuple[list[str], list[MemoryRecord]]:
        """Fold the records older than ``older_than_s`` (``when < now - older_than_s``; not
        summaries themselves) by ``group_by`` ("who" or "what"): each group of 2 or more
        becomes one summary record (``summaries.summary_record``), logged as one
        ``MemoryFolded`` per group, all in one ``log`` call; the folded records leave the index.

        Returns:
            the ids folded (group by group, each group oldest first) and the new summaries (in
            the order of their groups' first records).

        Raises:
            IdentityError: ``older_than_s`` not >= 0 and finite, a bad ``group_by``.
            StoreError: the world's store cannot be written (nothing changed).
        """
        # 1. check the arguments
        if (
            isinstance(older_than_s, bool)
            or not isinstance(older_than_s, int | float)
            or not math.isfinite(older_than_s)
            or older_than_s < 0
        ):
            raise IdentityError(f"older_than_s must be a finite number >= 0, got {older_than_s!r}")
        if group_by not in GROUP_BY:
            raise IdentityError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
        now = time.time() if now is None else _number("now", now)
        with self._lock:
            # 2. the old records, grouped in the order of their first
            data, n = self._data, len(self._records)
            old = np.flatnonzero(~data.summary[:n] & (data.when[:n] < now - older_than_s))
            groups: dict[str, list[MemoryRecord]] = {}
            for row in old:
                record = self._records[row]
                groups.setdefault(getattr(record, group_by), []).append(record)
            folds = [
                (group, summary_record(group, group_by=group_by))
                for group in groups.values()
                if len(group) >= 2
            ]
            if not folds:
                return [], []
            summaries = [summary for _, summary in folds]
            self._check_new(summaries, folding=sum(len(group) for group, _ in folds))
            # 3. log, then index
            if self._log is not None:
                self._log(
                    [
                        MemoryFolded(ids=[r.id for r in group], summary=summary.to_json())
                        for group, summary in folds
                    ]
                )
            folded = [r.id for group, _ in folds for r in group]
            self._remove(folded)
            self._insert(summaries)
            return folded, summaries

    # -- private -----------------------------------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray:
        """``embed_texts(texts)``, checked and normalised  # [N, D]"""
        with self._embedder_lock:
            if self._embed_texts is None:
                from continuum.identity.embedders import TextEmbedder  # loads a model: lazily

                self._embed_texts = TextEmbedder().embed
            embed = self._embed_texts
        vectors = np.asarray(embed(texts), dtype=np.float32)
        if vectors.shape != (len(texts), EMBEDDING_DIM) or not np.isfinite(vectors).all():
            raise IdentityError(
                f"the text embedder returned {list(vectors.shape)} (or non-finite values) for "
                f"{len(texts)} texts; expected finite [{len(texts)}, {EMBEDDING_DIM}]"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # [N, 1]
        if (norms < 1e-6).any():
            raise IdentityError("the text embedder returned a zero vector")
        return vectors / norms

    def _check_new(self, records: Sequence[MemoryRecord], *, folding: int = 0) -> None:
        """Refuse ``records`` (before anything is logged) if the memory would hold more than
        ``max_records`` (after ``folding`` records leave it) or an id is taken."""
        if len(self._records) - folding + len(records) > self.config.max_records:
            raise IdentityError(
                f"the memory holds {len(self._records)} records, at most "
                f"{self.config.max_records}: summarize old ones first"
            )
        ids = {r.id for r in records}
        if len(ids) != len(records) or not ids.isdisjoint(self._rows):
            taken = sorted(i for i in ids if i in self._rows)
            raise IdentityError(f"duplicate memory record ids (taken: {taken[:5]})")

    def _insert(self, records: Sequence[MemoryRecord]) -> None:
        """Index ``records`` (embedded, ids new) after the others."""
        start = len(self._records)
        self._data.reserve(start, start + len(records))
        for row, record in enumerate(records, start):
            self._data.put(row, record)
            self._rows[record.id] = row
        self._records.extend(records)

    def _remove(self, ids: Sequence[str]) -> None:
        """Drop records ``ids`` (known) from the index, keeping the others' order."""
        keep = np.ones(len(self._records), bool)
        keep[[self._rows[i] for i in ids]] = False
        self._data.keep(keep)
        self._records = [r for r, k in zip(self._records, keep, strict=True) if k]
        self._rows = {r.id: row for row, r in enumerate(self._records)}


def _check_query(
    text: Any,
    who: Any,
    what: Any,
    near: Any,
    radius: Any,
    since: Any,
    until: Any,
    k: Any,
    now: Any,
) -> None:
    if text is not None and (not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT):
        raise IdentityError(f"text must be a string of 1..{MAX_TEXT} characters, got {text!r:.40}")
    for name, value in (("who", who), ("what", what)):
        if value is not None and not isinstance(value, str):
            raise IdentityError(f"{name} must be a string, got {type(value).__name__}")
    if (near is None) != (radius is None):
        raise IdentityError("near and radius go together: give both or neither")
    if near is not None:
        if not isinstance(near, Sequence) or isinstance(near, str) or len(near) != 3:
            raise IdentityError(f"near must be [x, y, z], got {near!r:.80}")
        for v in near:
            _number("near", v)
        if _number("radius", radius) <= 0:
            raise IdentityError(f"radius must be > 0, got {radius!r}")
    if (
        since is not None
        and until is not None
        and _number("since", since) > _number("until", until)
    ):
        raise IdentityError(f"since ({since}) must not be after until ({until})")
    for name, value in (("since", since), ("until", until), ("now", now)):
        if value is not None:
            _number(name, value)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise IdentityError(f"k must be an integer in 1..{MAX_K}, got {k!r}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IdentityError(f"{name} must be a finite number, got {value!r:.40}")
    return float(value)
