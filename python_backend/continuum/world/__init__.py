"""The world state W, its scene format and its asset store.

Public names:
- ``Scene``, ``Entity``, ``Transform``: a world's entities, engine-neutral (glTF conventions)
- ``load_scene(path)``: read and validate ``scenes/<name>/scene.json``
- ``AssetStore``, ``AssetInfo``: content-addressed assets (sha256-named files), from ``assets``
- ``World``, ``WorldChange``, ``SplatChanged``: the world being served (edits, undo and redo,
  splats as packs in the asset store, listeners), from ``world``
- ``History``, ``inverse``: undo and redo as events, from ``history``
- ``WorldStore``, ``StoreConfig``, ``list_worlds``, ``collect_assets``: persistent worlds (SQLite
  event log plus snapshots; assets shared under ``<root>/.assets``, collected when no world names
  them), from ``store``
- ``WorldState``, ``apply``: the state as plain data and its pure step, from ``state``
- the events (entity edits: ``EntityAdded``, ``EntityRemoved``, ``TransformSet``,
  ``ComponentSet``, ``ComponentRemoved``, ``TagsSet``; the backend's own: ``PhysicsSet``,
  ``ControlApplied``, ``IdentitySet``, ``IdentityRemoved``, ``MemoryAdded``, ``MemoryFolded``,
  ``NarrativeSet``) and ``event_from_json``, from ``events``
"""

from continuum.world.assets import AssetInfo, AssetStore
from continuum.world.events import (
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    Event,
    IdentityRemoved,
    IdentitySet,
    MemoryAdded,
    MemoryFolded,
    NarrativeSet,
    PhysicsSet,
    TagsSet,
    TransformSet,
    event_from_json,
)
from continuum.world.history import History, inverse
from continuum.world.scene import Entity, Scene, Transform, load_scene, scene_schema
from continuum.world.state import WorldState, apply
from continuum.world.store import (
    CorruptSnapshotWarning,
    StoreConfig,
    WorldStore,
    collect_assets,
    list_worlds,
)
from continuum.world.world import SplatChanged, World, WorldChange

__all__ = [
    "AssetInfo",
    "AssetStore",
    "ComponentRemoved",
    "ComponentSet",
    "ControlApplied",
    "CorruptSnapshotWarning",
    "Entity",
    "EntityAdded",
    "EntityRemoved",
    "Event",
    "History",
    "IdentityRemoved",
    "IdentitySet",
    "MemoryAdded",
    "MemoryFolded",
    "NarrativeSet",
    "PhysicsSet",
    "Scene",
    "SplatChanged",
    "StoreConfig",
    "TagsSet",
    "Transform",
    "TransformSet",
    "World",
    "WorldChange",
    "WorldState",
    "WorldStore",
    "apply",
    "collect_assets",
    "event_from_json",
    "inverse",
    "list_worlds",
    "load_scene",
    "scene_schema",
]
