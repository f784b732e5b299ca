"""The world state W, its scene format and its asset store.

Public names:
- ``Scene``, ``Entity``, ``Transform``: a world's entities, engine-neutral (glTF conventions)
- ``load_scene(path)``: read and validate ``scenes/<name>/scene.json``
- ``AssetStore``, ``AssetInfo``: content-addressed assets (sha256-named files), from ``assets``
- ``World``, ``SplatChanged``: the scene being served, its splats as packs in a store, from
  ``world``
"""

from continuum.world.assets import AssetInfo, AssetStore
from continuum.world.scene import Entity, Scene, Transform, load_scene, scene_schema
from continuum.world.world import SplatChanged, World

__all__ = [
    "AssetInfo",
    "AssetStore",
    "Entity",
    "Scene",
    "SplatChanged",
    "Transform",
    "World",
    "load_scene",
    "scene_schema",
]
