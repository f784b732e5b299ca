"""The world state W, its scene format and its asset store.

Public names:
- ``Scene``, ``Entity``, ``Transform``: a world's entities, engine-neutral (glTF conventions)
- ``load_scene(path)``: read and validate ``scenes/<name>/scene.json``
- ``AssetStore``, ``AssetInfo``: content-addressed assets (sha256-named files), from ``assets``
- ``World``, ``SplatChanged``: the scene being served, its splats as packs in a store, from
  ``world``
- ``WorldStore``, ``StoreConfig``, ``list_worlds``: persistent worlds (SQLite event log plus
  snapshots), from ``store``
- ``WorldState``, ``apply``: the state as plain data and its pure step, from ``state``
- the events (``EntityAdded``, ``EntityRemoved``, ``TransformSet``, ``ComponentSet``,
  ``ComponentRemoved``, ``TagsSet``, ``PhysicsSet``, ``ControlApplied``) and
  ``event_from_json``, from ``events``
"""

from continuum.world.assets import AssetInfo, AssetStore
from continuum.world.events import (
    ComponentRemoved,
    ComponentSet,
    ControlApplied,
    EntityAdded,
    EntityRemoved,
    Event,
    PhysicsSet,
    TagsSet,
    TransformSet,
    event_from_json,
)
from continuum.world.scene import Entity, Scene, Transform, load_scene, scene_schema
from continuum.world.state import WorldState, apply
from continuum.world.store import CorruptSnapshotWarning, StoreConfig, WorldStore, list_worlds
from continuum.world.world import SplatChanged, World

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
    "PhysicsSet",
    "Scene",
    "SplatChanged",
    "StoreConfig",
    "TagsSet",
    "Transform",
    "TransformSet",
    "World",
    "WorldState",
    "WorldStore",
    "apply",
    "event_from_json",
    "list_worlds",
    "load_scene",
    "scene_schema",
]
