"""A reconstructed face put into a world: a new entity showing its Gaussians, and a face
identity bank made from the photo's embedding (the same for the bridge and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from continuum.generation.facesplat.reconstruct import FaceReconstruction
from continuum.identity import Identities
from continuum.identity.embedders import Observation
from continuum.identity.world_banks import register_observations
from continuum.world import AssetInfo, AssetStore, EntityAdded, World
from continuum.world.world import splat_component


@dataclass(frozen=True)
class PlacedFace:
    """What ``place_face`` made: the stored splat asset and the identity bank (as
    ``describe()`` gives it)."""

    asset: AssetInfo
    bank: dict[str, Any]


def place_face(
    world: World,
    identities: Identities,
    assets: AssetStore,
    made: FaceReconstruction,
    entity: str,
    *,
    name: str | None = None,
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
    parent: str | None = None,
) -> PlacedFace:
    """Add entity ``entity`` (tagged "face") showing ``made.cloud`` at ``position`` and
    ``rotation`` (x, y, z, w) under ``parent``, as one undoable ``entity_added``, then give it a
    face bank of the photo's face.

    Raises:
        ValueError: ``entity`` exists already, or ``parent`` does not.
        StoreError: the world's store cannot be written (the entity is not added, or the bank
            not made: the message says which).
    """
    entities = world.state().entities
    if entity in entities:
        raise ValueError(f"entity {entity!r} exists already; name a new one")
    if parent is not None and parent not in entities:
        raise ValueError(f"no parent entity {parent!r}")
    asset = world.store_splat(made.cloud)
    doc: dict[str, Any] = {
        "id": entity,
        "name": name or entity,
        "transform": {"position": list(position), "rotation": list(rotation)},
        "tags": ["face"],
        "components": {"splat": splat_component(asset)},
    }
    if parent is not None:
        doc["parent"] = parent
    world.edit([EntityAdded(entity=doc)])
    face = made.face
    seen = Observation("face", face.vector, face.quality, face.chip, face)
    bank = register_observations(
        identities, world, assets, entity, [seen], meta={"source": "face.reconstruct"}
    )
    return PlacedFace(asset, bank)
