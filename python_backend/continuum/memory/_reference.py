"""The plain, record-by-record memory query that the tests compare ``Memory.query`` against."""

from __future__ import annotations

import math
from collections.abc import Sequence

from continuum.memory.index import MemoryConfig, Scored
from continuum.memory.records import MemoryRecord


def query_reference(
    records: Sequence[MemoryRecord],
    vector: Sequence[float] | None,
    *,
    config: MemoryConfig,
    now: float,
    who: str | None = None,
    what: str | None = None,
    near: Sequence[float] | None = None,
    radius: float | None = None,
    since: float | None = None,
    until: float | None = None,
    k: int = 10,
) -> list[Scored]:
    """``Memory.query`` over ``records`` (in their order) with the query text's embedding
    ``vector`` (unit length; None for no text), one record at a time in plain Python."""
    scored = []
    for order, record in enumerate(records):
        # 1. the filters
        if who is not None and record.who != who:
            continue
        if what is not None and record.what != what:
            continue
        if near is not None and (record.where is None or math.dist(record.where, near) > radius):
            continue
        if since is not None and record.when < since:
            continue
        if until is not None and record.when > until:
            continue
        # 2. the score
        recency = 0.5 ** (max(now - record.when, 0.0) / config.half_life_s)
        score = config.w_recency * recency + config.w_importance * record.importance
        similarity = None
        if vector is not None:
            similarity = sum(
                float(a) * float(b) for a, b in zip(vector, record.embedding, strict=True)
            )
            score += config.w_similarity * similarity
        scored.append((-score, -record.when, order, Scored(record, score, similarity, recency)))
    # 3. the best first
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored[:k]]
