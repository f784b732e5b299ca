"""Scene folders: ``scenes/<name>/scene.json`` validated against bridge/schema/scene.schema.json.

Transforms follow glTF: right-handed, +Y up, metres, quaternions ``[x, y, z, w]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from continuum.errors import SceneError

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "bridge" / "schema" / "scene.schema.json"
MAX_SCENE_BYTES = 64 << 20


@dataclass(frozen=True)
class Transform:
    """A local transform relative to the parent entity (or the world)."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)  # unit quaternion x, y, z, w
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Entity:
    """One thing in the world: identity, placement, and components by name."""

    id: str
    name: str
    transform: Transform = Transform()
    parent: str | None = None
    tags: tuple[str, ...] = ()
    components: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The scene.schema.json form, as the bridge sends it."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "transform": {
                "position": list(self.transform.position),
                "rotation": list(self.transform.rotation),
                "scale": list(self.transform.scale),
            },
            "tags": list(self.tags),
            "components": self.components,
        }
        if self.parent is not None:
            out["parent"] = self.parent
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Entity:
        """The entity of a ``to_json`` dict (a world state's entities are in this form)."""
        t = raw.get("transform", {})
        return cls(
            id=raw["id"],
            name=raw.get("name", raw["id"]),
            transform=Transform(
                position=tuple(float(v) for v in t.get("position", (0, 0, 0))),
                rotation=tuple(float(v) for v in t.get("rotation", (0, 0, 0, 1))),
                scale=tuple(float(v) for v in t.get("scale", (1, 1, 1))),
            ),
            parent=raw.get("parent"),
            tags=tuple(raw.get("tags", ())),
            components=raw.get("components", {}),
        )


@dataclass(frozen=True)
class Scene:
    """A loaded scene: its name, description and entities in file order.

    ``mjcf`` is the scene-level MuJoCo model (a file relative to the scene folder) that the
    physics merges in, or None.
    """

    name: str
    description: str
    entities: tuple[Entity, ...]
    path: Path | None = None
    mjcf: str | None = None

    def info(self) -> dict[str, Any]:
        """What a world keeps of the scene it was made from: name, description, the folder
        (absolute) and mjcf (``WorldState.to_scene`` takes it back)."""
        return {
            "name": self.name,
            "description": self.description,
            "path": str(self.path.resolve()) if self.path is not None else None,
            "mjcf": self.mjcf,
        }

    def entity(self, entity_id: str) -> Entity:
        for e in self.entities:
            if e.id == entity_id:
                return e
        raise KeyError(f"no entity {entity_id!r} in scene {self.name!r}")

    def resolve(self, relative: str) -> Path:
        """The file that ``relative`` names inside the scene folder.

        Raises:
            SceneError: the scene has no folder, or the path leads outside it.
        """
        if self.path is None:
            raise SceneError(
                f"scene {self.name!r} was not loaded from a folder, so it cannot name the file "
                f"{relative!r}; load it with load_scene"
            )
        folder = self.path.resolve()
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder):
            raise SceneError(
                f"{self.path / 'scene.json'}: the file {relative!r} lies outside the scene "
                "folder; scenes may only name files inside their own folder"
            )
        return target


@cache
def scene_schema() -> dict[str, Any]:
    """The JSON Schema of scene.json (bridge/schema/scene.schema.json)."""
    try:
        return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SceneError(
            f"scene schema missing at {SCHEMA_PATH}: install Continuum from its repository "
            f"(pip install -e .) so bridge/ is beside the package ({exc})"
        ) from None


def load_scene(path: str | Path) -> Scene:
    """Load and validate a scene folder (or its scene.json).

    Raises:
        SceneError: naming the file and, for invalid content, the JSON path of the first problem.
    """
    path = Path(path)
    file = path / "scene.json" if path.is_dir() else path
    try:
        size = file.stat().st_size
        if size > MAX_SCENE_BYTES:
            raise SceneError(f"{file}: {size} bytes exceeds the {MAX_SCENE_BYTES}-byte limit")
        doc = json.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise SceneError(
            f"{file}: no such scene file; a scene is a folder with scene.json"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SceneError(f"{file}: not a readable JSON file: {exc}") from None

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(scene_schema()).iter_errors(doc)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise SceneError(f"{file}: at {where}: {error.message}")

    entities = tuple(_entity(file, raw) for raw in doc["entities"])
    _check_references(file, entities)
    scene = Scene(doc["name"], doc.get("description", ""), entities, file.parent, doc.get("mjcf"))
    _check_files(file, scene)
    return scene


def _entity(file: Path, raw: dict[str, Any]) -> Entity:
    t = raw.get("transform", {})
    rotation = tuple(float(v) for v in t.get("rotation", (0, 0, 0, 1)))
    norm = math.sqrt(sum(v * v for v in rotation))
    if abs(norm - 1.0) > 1e-3:
        raise SceneError(
            f"{file}: entity {raw['id']!r}: rotation {list(rotation)} must be a unit quaternion "
            f"[x, y, z, w] (its length is {norm:.4f})"
        )
    return Entity(
        id=raw["id"],
        name=raw.get("name", raw["id"]),
        transform=Transform(
            position=tuple(float(v) for v in t.get("position", (0, 0, 0))),
            # Exact when already unit (within rounding), so load -> to_json -> load is stable.
            rotation=rotation if abs(norm - 1.0) < 1e-9 else tuple(v / norm for v in rotation),
            scale=tuple(float(v) for v in t.get("scale", (1, 1, 1))),
        ),
        parent=raw.get("parent"),
        tags=tuple(raw.get("tags", ())),
        components=raw.get("components", {}),
    )


def _check_files(file: Path, scene: Scene) -> None:
    if scene.mjcf is not None and not scene.resolve(scene.mjcf).is_file():
        raise SceneError(f"{file}: mjcf file {scene.mjcf!r} does not exist in {file.parent}")
    for e in scene.entities:
        splat = e.components.get("splat")
        if splat is not None and not scene.resolve(splat["file"]).is_file():
            raise SceneError(
                f"{file}: entity {e.id!r}: splat file {splat['file']!r} does not exist in "
                f"{file.parent}"
            )
        mesh = e.components.get("physics", {}).get("mesh")
        if mesh is not None and not scene.resolve(mesh).is_file():
            raise SceneError(
                f"{file}: entity {e.id!r}: physics mesh {mesh!r} does not exist in {file.parent}"
            )


def _check_references(file: Path, entities: tuple[Entity, ...]) -> None:
    ids: set[str] = set()
    for e in entities:
        if e.id in ids:
            raise SceneError(f"{file}: entity id {e.id!r} appears twice; ids must be unique")
        ids.add(e.id)
    parents = {e.id: e.parent for e in entities}
    for e in entities:
        if e.parent is not None and e.parent not in ids:
            raise SceneError(
                f"{file}: entity {e.id!r} names parent {e.parent!r}, which is not in the scene"
            )
        seen, cur = {e.id}, e.parent
        while cur is not None:
            if cur in seen:
                raise SceneError(f"{file}: entity {e.id!r} is its own ancestor (parent cycle)")
            seen.add(cur)
            cur = parents[cur]
