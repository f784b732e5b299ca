"""World events: every mutation of a persistent world, typed and versioned.

Each event carries the simulation ``tick`` it happened at and the wall-clock ``time`` (seconds
since the epoch). ``to_json`` gives a plain dict ``{"kind", "version", "tick", "time", ...}``;
``event_from_json`` reads it back and refuses a kind or a version this Continuum does not know,
so an old backend never misreads a newer world.

Entities use the scene.schema.json form (``Entity.to_json``): id, name, transform (position,
rotation ``[x, y, z, w]``, scale), parent, tags, components.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from continuum.errors import EventError


@dataclass(frozen=True, kw_only=True)
class _Event:
    tick: int = 0
    time: float = 0.0

    kind: ClassVar[str] = ""
    version: ClassVar[int] = 1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "version": self.version}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


@dataclass(frozen=True, kw_only=True)
class EntityAdded(_Event):
    """A new entity, in scene.schema.json form; missing fields take the scene defaults."""

    entity: dict[str, Any]
    kind: ClassVar[str] = "entity_added"


@dataclass(frozen=True, kw_only=True)
class EntityRemoved(_Event):
    """An entity leaves the world; it must have no children."""

    id: str
    kind: ClassVar[str] = "entity_removed"


@dataclass(frozen=True, kw_only=True)
class TransformSet(_Event):
    """New transform fields (any of position, rotation, scale) for an entity."""

    id: str
    transform: dict[str, list[float]]
    kind: ClassVar[str] = "transform_set"


@dataclass(frozen=True, kw_only=True)
class ComponentSet(_Event):
    """An entity's component ``name`` becomes ``value`` (any JSON value)."""

    id: str
    name: str
    value: Any
    kind: ClassVar[str] = "component_set"


@dataclass(frozen=True, kw_only=True)
class ComponentRemoved(_Event):
    """An entity loses its component ``name``."""

    id: str
    name: str
    kind: ClassVar[str] = "component_removed"


@dataclass(frozen=True, kw_only=True)
class TagsSet(_Event):
    """An entity's tags become ``tags``."""

    id: str
    tags: list[str] = field(default_factory=list)
    kind: ClassVar[str] = "tags_set"


@dataclass(frozen=True, kw_only=True)
class PhysicsSet(_Event):
    """The world's opaque physics blob (any JSON value) is replaced; reserved for the physics."""

    blob: Any
    kind: ClassVar[str] = "physics_set"


@dataclass(frozen=True, kw_only=True)
class ControlApplied(_Event):
    """A physics control ``op`` (a JSON object, see ``continuum.physics.controls``) was applied
    when the simulation's step count was ``step``, after the latest ``PhysicsSet``."""

    step: int
    op: dict[str, Any]
    kind: ClassVar[str] = "control_applied"


@dataclass(frozen=True, kw_only=True)
class IdentitySet(_Event):
    """Identity bank ``id`` (one recurring entity's stored embeddings and reference appearance,
    any JSON object; large arrays as asset references) is stored, replacing any before."""

    id: str
    bank: dict[str, Any]
    kind: ClassVar[str] = "identity_set"


@dataclass(frozen=True, kw_only=True)
class IdentityRemoved(_Event):
    """Identity bank ``id`` is dropped."""

    id: str
    kind: ClassVar[str] = "identity_removed"


@dataclass(frozen=True, kw_only=True)
class MemoryAdded(_Event):
    """An interaction memory record (a JSON object with a unique string ``id``: what happened,
    where the user looked, what was said) is appended."""

    record: dict[str, Any]
    kind: ClassVar[str] = "memory_added"


@dataclass(frozen=True, kw_only=True)
class MemoryFolded(_Event):
    """Memory records ``ids`` are folded into one ``summary`` record (a JSON object with a
    unique string ``id``): they leave the memory and the summary is appended."""

    ids: list[str]
    summary: dict[str, Any]
    kind: ClassVar[str] = "memory_folded"


@dataclass(frozen=True, kw_only=True)
class NarrativeSet(_Event):
    """Narrative state ``key`` becomes ``value`` (any JSON value; None removes the key)."""

    key: str
    value: Any
    kind: ClassVar[str] = "narrative_set"


Event = (
    EntityAdded
    | EntityRemoved
    | TransformSet
    | ComponentSet
    | ComponentRemoved
    | TagsSet
    | PhysicsSet
    | ControlApplied
    | IdentitySet
    | IdentityRemoved
    | MemoryAdded
    | MemoryFolded
    | NarrativeSet
)

EVENT_TYPES: dict[str, type[_Event]] = {
    cls.kind: cls
    for cls in (
        EntityAdded,
        EntityRemoved,
        TransformSet,
        ComponentSet,
        ComponentRemoved,
        TagsSet,
        PhysicsSet,
        ControlApplied,
        IdentitySet,
        IdentityRemoved,
        MemoryAdded,
        MemoryFolded,
        NarrativeSet,
    )
}


def event_from_json(doc: dict[str, Any]) -> Event:
    """The event a ``to_json`` dict describes.

    Raises:
        EventError: not a dict, an unknown ``kind``, a ``version`` other than the kind's
            current one, or missing or unexpected fields.
    """
    if not isinstance(doc, dict):
        raise EventError(f"an event must be a JSON object, got {type(doc).__name__}")
    kind = doc.get("kind")
    cls = EVENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise EventError(f"unknown event kind {kind!r}; expected one of {sorted(EVENT_TYPES)}")
    version = doc.get("version")
    if version != cls.version:
        raise EventError(
            f"event {kind!r} has version {version!r}, but this Continuum reads version "
            f"{cls.version} only; open the world with the Continuum that wrote it, or upgrade"
        )
    fields = {k: v for k, v in doc.items() if k not in ("kind", "version")}
    try:
        event = cls(**fields)
    except TypeError as exc:
        raise EventError(f"event {kind!r}: {exc}") from None
    if not isinstance(event.tick, int) or isinstance(event.tick, bool) or event.tick < 0:
        raise EventError(f"event {kind!r}: tick must be an integer >= 0, got {event.tick!r}")
    if not isinstance(event.time, int | float) or isinstance(event.time, bool):
        raise EventError(f"event {kind!r}: time must be a number, got {event.time!r}")
    return event  # type: ignore[return-value]
