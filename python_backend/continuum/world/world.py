"""The live world a backend serves: a scene, its asset store, and each entity's splat asset.

Splat components name a file in scene.json; the world packs each cloud as an engine pack
(``continuum.splats.pack``), keeps the pack in the content-addressed store and describes the
component by the pack's hash, which is how the bridge sends it. ``set_splat`` swaps an entity's
cloud while the world is served and tells the listeners (the server announces it to every engine).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from continuum.errors import AssetError, SceneError, SplatFormatError
from continuum.world.assets import AssetInfo, AssetStore
from continuum.world.scene import Entity, Scene

if TYPE_CHECKING:
    from continuum.splats.cloud import SplatCloud

SPLAT_PACK = "splat-pack"  # the asset kind of engine packs


@dataclass(frozen=True)
class SplatChanged:
    """An entity's splat component now shows another pack."""

    entity: str
    asset: AssetInfo


Listener = Callable[[SplatChanged], None]


def splat_component(asset: AssetInfo) -> dict[str, Any]:
    """A splat component as the bridge sends it (scene.schema.json ``$defs/splat_asset``)."""
    return {"asset": asset.hash, "bytes": asset.bytes, **asset.meta}


class World:
    """A scene being served, with its splats as packs in ``store``.

    Thread-safe: ``set_splat`` may be called from any thread while the server reads the world
    on its own loop. The world uses ``store`` but does not own it (close the store yourself).

    Args:
        scene: the scene to serve; None for an empty world.
        store: where splat packs go.

    Raises:
        SceneError: a splat file is missing, unreadable, or has fewer SH bands than its component
            asks for; the message names the entity and the file.
    """

    def __init__(self, scene: Scene | None, store: AssetStore) -> None:
        self.scene = scene if scene is not None else Scene("", "", ())
        self.store = store
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._splats: dict[str, AssetInfo] = {}
        for entity in self.scene.entities:
            if "splat" in entity.components:
                self._splats[entity.id] = self._load_splat(entity)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every splat change; returns a function that removes it.

        Listeners run in the thread that made the change, under the world's lock so that they
        see changes in order: they must return quickly and must not call into the world.
        """
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                self._listeners.remove(listener)

        return remove

    def splat(self, entity_id: str) -> AssetInfo | None:
        """The pack entity ``entity_id`` shows, or None."""
        with self._lock:
            return self._splats.get(entity_id)

    def entities_json(self) -> list[dict[str, Any]]:
        """Every entity in the scene.schema.json form, splat components as their packs."""
        with self._lock:
            splats = dict(self._splats)
        out = []
        for entity in self.scene.entities:
            raw = entity.to_json()
            if entity.id in splats:
                raw["components"] = {
                    **raw["components"],
                    "splat": splat_component(splats[entity.id]),
                }
            out.append(raw)
        return out

    def set_splat(
        self, entity_id: str, cloud: SplatCloud, *, sh_degree: int | None = None
    ) -> AssetInfo:
        """Show ``cloud`` on entity ``entity_id`` (adding a splat component if it had none).

        Packs and stores the cloud in the calling thread (about a second per 10^6 splats: call it
        off the server's event loop, e.g. ``await asyncio.to_thread(world.set_splat, ...)``), then
        updates the entity and tells the listeners, unless the entity already shows this pack.

        Args:
            entity_id: an entity of the scene.
            cloud: the Gaussians, in the entity's frame.
            sh_degree: keep SH up to this degree (default: all the cloud has).

        Raises:
            KeyError: no such entity.
            ValueError: ``sh_degree`` above the cloud's, or more splats than a pack holds.
            AssetError: the pack exceeds the store's ``max_asset_bytes``.
        """
        self.scene.entity(entity_id)  # raises KeyError naming the entity and the scene
        asset = self._store_pack(cloud, sh_degree)
        with self._lock:
            if self._splats.get(entity_id) == asset:
                return asset
            self._splats[entity_id] = asset
            change = SplatChanged(entity_id, asset)
            for listener in self._listeners:
                listener(change)
        return asset

    # -- private -----------------------------------------------------------------------------

    def _load_splat(self, entity: Entity) -> AssetInfo:
        from continuum.splats.formats import read_splats  # see _store_pack

        spec = entity.components["splat"]
        path = self.scene.resolve(spec["file"])
        where = f"scene {self.scene.name!r}, entity {entity.id!r}"
        try:
            cloud = read_splats(path)
            return self._store_pack(cloud, spec.get("sh_degree"))
        except (OSError, SplatFormatError, AssetError, ValueError) as exc:
            raise SceneError(f"{where}: splat file {path}: {exc}") from None

    def _store_pack(self, cloud: SplatCloud, sh_degree: int | None) -> AssetInfo:
        # Imported here so that torch loads only for worlds with splats: serving a scene of
        # primitives starts in a fifth of a second instead of two.
        from continuum.splats.pack import pack_splats, read_pack_header

        pack = pack_splats(cloud, sh_degree=sh_degree)
        head = read_pack_header(pack)
        meta = {"count": head.count, "sh_degree": head.sh_degree, "aabb": list(head.aabb)}
        return self.store.put(pack, kind=SPLAT_PACK, meta=meta)
