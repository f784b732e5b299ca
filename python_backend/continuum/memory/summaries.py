"""A summary record: what a group of old records becomes when the memory folds them.

``summary_record(group, ...)`` makes one record of two or more:

- text: ``"<n> records from <oldest> to <newest> UTC: "`` and then the records' texts, most
  important first (newest first among equals), joined by ``" | "`` and trimmed to ``MAX_TEXT``
  characters (a trimmed text ends with an ellipsis);
- who / what: the group's key for the field it was grouped by; for the other field, the value
  the records share, or ``"several"`` (who) / ``"summary"`` (what) when they differ;
- where: the mean of the places the records have (None when none has one);
- when: the newest record's; tick: the highest; importance: the highest;
- embedding: the normalised mean of the records' embeddings. It stands for every folded text,
  including those the trimmed text leaves out, and needs no embedder (a fold never waits on a
  model). When the mean vanishes (embeddings that cancel), the most important record's is taken.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from continuum.errors import IdentityError
from continuum.memory.records import MAX_TEXT, MemoryRecord, new_record_id

GROUP_BY = ("who", "what")
SEPARATOR = " | "


def summary_record(
    group: Sequence[MemoryRecord], *, group_by: str = "who", record_id: str | None = None
) -> MemoryRecord:
    """The summary of ``group`` (module docstring); its id is ``record_id`` or a new one.

    Raises:
        IdentityError: fewer than 2 records, a record without an embedding, or ``group_by``
            not one of GROUP_BY.
    """
    if group_by not in GROUP_BY:
        raise IdentityError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
    if len(group) < 2:
        raise IdentityError(f"a summary folds 2 records or more, got {len(group)}")
    if any(r.embedding is None for r in group):
        raise IdentityError("every record of a summary needs an embedding")
    # 1. the texts, most important first
    ranked = sorted(group, key=lambda r: (-r.importance, -r.when, r.id))
    oldest, newest = min(r.when for r in group), max(r.when for r in group)
    head = f"{len(group)} records from {_utc(oldest)} to {_utc(newest)} UTC: "
    text = head + SEPARATOR.join(r.text for r in ranked)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "\u2026"
    # 2. who and what
    whos, whats = {r.who for r in group}, {r.what for r in group}
    who = whos.pop() if len(whos) == 1 else "several"
    what = whats.pop() if len(whats) == 1 else "summary"
    # 3. place, time, importance
    places = np.array([r.where for r in group if r.where is not None], np.float64)  # [P, 3]
    where = tuple(float(v) for v in places.mean(axis=0)) if len(places) else None
    # 4. the embedding: the normalised mean, else the most important record's
    mean = np.mean([r.embedding for r in group], axis=0, dtype=np.float64)  # [D]
    norm = float(np.linalg.norm(mean))
    embedding = mean / norm if norm > 1e-6 else ranked[0].embedding
    return MemoryRecord(
        id=record_id or new_record_id(),
        who=who,
        what=what,
        text=text,
        where=where,  # type: ignore[arg-type]
        when=newest,
        tick=max(r.tick for r in group),
        importance=max(r.importance for r in group),
        summary=True,
        embedding=np.asarray(embedding, np.float32),
    )


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(when))
