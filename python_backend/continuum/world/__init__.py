"""The world state W and its scene format.

Public names:
- ``Scene``, ``Entity``, ``Transform``: a world's entities, engine-neutral (glTF conventions)
- ``load_scene(path)``: read and validate ``scenes/<name>/scene.json``
"""

from continuum.world.scene import Entity, Scene, Transform, load_scene, scene_schema

__all__ = ["Entity", "Scene", "Transform", "load_scene", "scene_schema"]
