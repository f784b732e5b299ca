"""Interaction and narrative memory (M): what happened, who did it, where and when, retrieved
by meaning, place, time and importance; old records fold into summaries. Persisted in the world
as ``MemoryAdded`` and ``MemoryFolded`` events (PROTOCOL.md section 15).

Public names:
- ``MemoryRecord``, ``EMBEDDING_DIM``, ``MAX_TEXT``, ``new_record_id``: one record, its JSON form
  and its bounds (``records``)
- ``Memory``, ``MemoryConfig``, ``Scored``: the records indexed for vectorised retrieval, the
  ranking weights, a retrieved record with its scores; ``Memory.from_state`` rebuilds a world's
  memory (``index``)
- ``summary_record``: the summary a group of records folds into (``summaries``)
"""

from continuum.memory.index import Memory, MemoryConfig, Scored
from continuum.memory.records import EMBEDDING_DIM, MAX_TEXT, MemoryRecord, new_record_id
from continuum.memory.summaries import summary_record

__all__ = [
    "EMBEDDING_DIM",
    "MAX_TEXT",
    "Memory",
    "MemoryConfig",
    "MemoryRecord",
    "Scored",
    "new_record_id",
    "summary_record",
]
