"""The ``face.reconstruct`` request of PROTOCOL.md section 17.

A photo becomes a new entity: its face reconstructed as Gaussians (``generation.facesplat``),
stored as a splat asset and shown by the entity (one undoable ``entity_added``), and a face
identity bank made from the photo's embedding (``identity_service.register_observations``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from continuum.errors import ContinuumError, NoFaceError, ProtocolError, StoreError
from continuum.identity import Identities
from continuum.identity.embedders import Observation
from continuum.server import fields, identity_service
from continuum.server.codec import Message
from continuum.world import AssetStore, EntityAdded, World
from continuum.world.world import splat_component

MAX_STEPS = 5000


def reconstruct(
    ids: Identities,
    world: World,
    assets: AssetStore,
    msg: Message,
    *,
    progress: Callable[[int, int], None],
) -> Message:
    """Answer ``face.reconstruct`` (``progress(step, steps)`` during the refinement)."""
    from continuum.generation.facesplat import FaceConfig, reconstruct_face

    # 1. The request: a new entity id, where to put it, the photo.
    h = msg.header
    entity = identity_service.entity_field(msg)
    if entity in world.state().entities:
        raise ProtocolError(
            "conflict", f"face.reconstruct: entity {entity!r} exists already; name a new one"
        )
    name = h.get("name", entity)
    if not isinstance(name, str) or not 0 < len(name) <= 256:
        raise ProtocolError("bad_request", "face.reconstruct.name must be a string (1..256)")
    transform = {
        "position": fields.numbers(msg, "position", 3, [0.0, 0.0, 0.0]),
        "rotation": fields.numbers(msg, "rotation", 4, [0.0, 0.0, 0.0, 1.0]),
    }
    parent = h.get("parent")
    if parent is not None and parent not in world.state().entities:
        raise ProtocolError("not_found", f"face.reconstruct: no parent entity {parent!r:.60}")
    steps = fields.integer(msg, "steps", 1, MAX_STEPS, None)
    if len(msg.blobs) != 1:
        raise ProtocolError("bad_request", "face.reconstruct takes one photo (a u8 blob [H, W, 3])")

    # 2. Reconstruct (the slow part; nothing has changed yet).
    try:
        config = FaceConfig() if steps is None else FaceConfig(steps=steps)
        made = reconstruct_face(msg.blobs[0], config=config, progress=progress)
    except NoFaceError as exc:
        raise ProtocolError("no_face", f"face.reconstruct: {exc}") from None
    except (ValueError, ContinuumError) as exc:
        raise ProtocolError("bad_request", f"face.reconstruct: {exc}") from None

    # 3. The entity, showing the stored cloud, then its identity bank from the photo.
    face = made.face
    try:
        asset = world.store_splat(made.cloud)
        doc: dict[str, Any] = {
            "id": entity,
            "name": name,
            "transform": transform,
            "tags": ["face"],
            "components": {"splat": splat_component(asset)},
        }
        if parent is not None:
            doc["parent"] = parent
        world.edit([EntityAdded(entity=doc)])
        seen = Observation("face", face.vector, face.quality, face.chip, face)
        bank = identity_service.register_observations(
            ids, world, assets, entity, [seen], meta={"source": "face.reconstruct"}
        )
    except StoreError as exc:
        raise ProtocolError("store_failed", f"face.reconstruct: {exc}") from None
    return Message(
        "face.reconstruct",
        {
            "entity": entity,
            "asset": splat_component(asset),
            "bank": bank,
            "faces": made.faces_found,
            "gaussians": len(made.cloud),
            "psnr_db": _finite(made.psnr),
            "seconds": round(made.seconds, 3),
            "seq": world.seq,
        },
    )


def _finite(value: float) -> float | None:
    return round(float(value), 3) if math.isfinite(value) else None
