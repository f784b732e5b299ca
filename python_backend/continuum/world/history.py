"""Undo and redo as events: the inverse of an edit, and the history of edits a world keeps.

Undoing never rewinds the log: it appends the events that take an edit back (``inverse``), so
an undo is persisted, pushed and replayed like any other change. ``inverse`` is a pure function
of the state before the edit; ``History`` holds, per edit, the events that undo it and the
events that would do it again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from continuum.errors import EventError
from continuum.world.events import (
    ComponentRemoved,
    ComponentSet,
    EntityAdded,
    EntityRemoved,
    Event,
    TagsSet,
    TransformSet,
)
from continuum.world.state import WorldState, apply_in_place

EDIT_KINDS = (EntityAdded, EntityRemoved, TransformSet, ComponentSet, ComponentRemoved, TagsSet)


def inverse(state: WorldState, events: Sequence[Event]) -> list[Event]:
    """The events that, appended after ``events`` (applied to ``state``), restore ``state``'s
    entities. ``state`` is left as it was.

    Raises:
        EventError: an event does not apply (as ``apply`` would), or is not an entity edit
            (physics events are not undoable).
    """
    scratch = state.copy()
    undo: list[Event] = []
    for event in events:
        undo.append(_inverse_one(scratch, event))
        apply_in_place(scratch, event, seq=scratch.seq + 1)
    undo.reverse()
    return undo


def _inverse_one(state: WorldState, event: Event) -> Event:
    if not isinstance(event, EDIT_KINDS):
        raise EventError(f"event {event.kind} is not an entity edit and cannot be undone")
    if isinstance(event, EntityAdded):
        entity_id = event.entity.get("id") if isinstance(event.entity, dict) else None
        return EntityRemoved(id=entity_id)  # type: ignore[arg-type]
    old = state.entities.get(event.id)
    if old is None:
        raise EventError(f"event {event.kind}: no entity {event.id!r} in the world")
    if isinstance(event, EntityRemoved):
        return EntityAdded(entity=old)
    if isinstance(event, TransformSet):
        keys = event.transform if isinstance(event.transform, dict) else {}
        return TransformSet(
            id=event.id, transform={k: old["transform"][k] for k in keys if k in old["transform"]}
        )
    if isinstance(event, TagsSet):
        return TagsSet(id=event.id, tags=list(old["tags"]))
    if event.name in old["components"]:
        return ComponentSet(id=event.id, name=event.name, value=old["components"][event.name])
    return ComponentRemoved(id=event.id, name=event.name)


@dataclass(frozen=True)
class Step:
    """One edit in the history: ``undo`` takes it back, ``redo`` does it again."""

    undo: tuple[Event, ...]
    redo: tuple[Event, ...]


class History:
    """The edits of a world that can be undone and redone, newest last (at most ``depth``).

    Not thread-safe: the world calls it under its lock.
    """

    def __init__(self, depth: int = 1000) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._undo: deque[Step] = deque(maxlen=depth)
        self._redo: deque[Step] = deque(maxlen=depth)

    @property
    def can_undo(self) -> int:
        return len(self._undo)

    @property
    def can_redo(self) -> int:
        return len(self._redo)

    def edited(self, step: Step) -> None:
        """A new edit: it becomes undoable, and nothing can be redone any more."""
        self._undo.append(step)
        self._redo.clear()

    def pop_undo(self) -> Step | None:
        return self._undo.pop() if self._undo else None

    def pop_redo(self) -> Step | None:
        return self._redo.pop() if self._redo else None

    def undone(self, step: Step) -> None:
        """``step`` (its events now appended) can be redone: redo = its ``redo``."""
        self._redo.append(step)

    def redone(self, step: Step) -> None:
        """``step`` was done again: it can be undone again, the rest of the redo stays."""
        self._undo.append(step)
