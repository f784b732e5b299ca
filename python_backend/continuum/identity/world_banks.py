"""Identity banks kept in a world: what changes a bank also stores its reference images as
assets and logs the bank's events in the world, all or nothing for the registry.

Used by the bridge's ``identity.*`` requests and by anything else that makes identities in a
world (a face reconstructed from a photo, say).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from continuum.errors import StoreError
from continuum.identity.embedders import Observation
from continuum.identity.registry import Identities
from continuum.world import AssetStore, World

REFERENCE_KIND = "image-rgb8"  # an asset of RGB8 rows; its meta has width and height
REFERENCE_SIDE = 256  # the longer side of a stored reference image, at most


def register_observations(
    ids: Identities,
    world: World,
    assets: AssetStore,
    entity: str,
    seen: list[Observation],
    *,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Give ``entity`` a bank made of ``seen`` (one kind), reference images stored as assets
    and the bank logged in the world; returns the bank as ``describe()`` gives it.

    Raises:
        StoreError: the world's store refused the bank (the registry is left as it was).
    """
    refs = [store_reference(assets, s) for s in seen]
    with ids.holding(), logged(ids, world, entity) as log:
        _, events = ids.register(
            entity,
            seen[0].kind,
            np.stack([s.vector for s in seen]),
            qualities=[s.quality for s in seen],
            assets=refs,
            metas=[{**(meta or {}), **view_meta(s)} for s in seen],
        )
        log(events)
        return ids.bank(entity).describe()


def view_meta(seen: Observation) -> dict[str, Any]:
    """What a slot keeps of where it was seen: a face's box."""
    return {"box": [int(v) for v in seen.face.box]} if seen.face is not None else {}


def store_reference(assets: AssetStore, seen: Observation) -> str:
    """The observation's reference image, at most REFERENCE_SIDE pixels across, as an asset;
    returns its hash."""
    image = np.ascontiguousarray(_thumbnail(seen.reference, REFERENCE_SIDE), np.uint8)
    height, width = image.shape[:2]
    info = assets.put(image.tobytes(), kind=REFERENCE_KIND, meta={"width": width, "height": height})
    return info.hash


@contextlib.contextmanager
def logged(ids: Identities, world: World, entity: str) -> Iterator[Any]:
    """``log(events)`` into the world; if the store refuses them, ``entity``'s bank is put back
    as it was, so the registry never holds what the world does not."""
    before = ids.saved(entity)
    try:
        yield world.log
    except StoreError:
        ids.restore(entity, before)
        raise


def _thumbnail(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` scaled down (never up) so that its longer side is at most ``side``."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    from PIL import Image

    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
