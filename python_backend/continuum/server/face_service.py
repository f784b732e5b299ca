"""The ``face.reconstruct`` request of PROTOCOL.md section 17: the photo reconstructed
(``generation.facesplat.reconstruct_face``) and placed in the world as a new entity with a face
identity bank (``generation.facesplat.place_face``)."""

from __future__ import annotations

import math
from collections.abc import Callable

from continuum.errors import ContinuumError, NoFaceError, ProtocolError, StoreError
from continuum.identity import Identities
from continuum.server import fields, identity_service
from continuum.server.codec import Message
from continuum.world import AssetStore, World
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
    from continuum.generation.facesplat import FaceConfig, place_face, reconstruct_face

    # 1. The request: a new entity id, where to put it, the photo (checked before the work).
    h = msg.header
    entity = identity_service.entity_field(msg)
    if entity in world.state().entities:
        raise ProtocolError(
            "conflict", f"face.reconstruct: entity {entity!r} exists already; name a new one"
        )
    name = h.get("name", entity)
    if not isinstance(name, str) or not 0 < len(name) <= 256:
        raise ProtocolError("bad_request", "face.reconstruct.name must be a string (1..256)")
    position = fields.numbers(msg, "position", 3, [0.0, 0.0, 0.0])
    rotation = fields.numbers(msg, "rotation", 4, [0.0, 0.0, 0.0, 1.0])
    parent = h.get("parent")
    if parent is not None and parent not in world.state().entities:
        raise ProtocolError("not_found", f"face.reconstruct: no parent entity {parent!r:.60}")
    steps = fields.integer(msg, "steps", 1, MAX_STEPS, None)
    if len(msg.blobs) != 1:
        raise ProtocolError("bad_request", "face.reconstruct takes one photo (a u8 blob [H, W, 3])")

    # 2. Reconstruct (the slow part; nothing has changed yet), then place.
    try:
        config = FaceConfig() if steps is None else FaceConfig(steps=steps)
        made = reconstruct_face(msg.blobs[0], config=config, progress=progress)
        placed = place_face(
            world,
            ids,
            assets,
            made,
            entity,
            name=name,
            position=tuple(position),
            rotation=tuple(rotation),
            parent=parent,
        )
    except NoFaceError as exc:
        raise ProtocolError("no_face", f"face.reconstruct: {exc}") from None
    except StoreError as exc:
        raise ProtocolError("store_failed", f"face.reconstruct: {exc}") from None
    except ValueError as exc:  # the id was taken meanwhile
        raise ProtocolError("conflict", f"face.reconstruct: {exc}") from None
    except ContinuumError as exc:
        raise ProtocolError("bad_request", f"face.reconstruct: {exc}") from None
    return Message(
        "face.reconstruct",
        {
            "entity": entity,
            "asset": splat_component(placed.asset),
            "bank": placed.bank,
            "faces": made.faces_found,
            "gaussians": len(made.cloud),
            "psnr_db": round(made.psnr, 3) if math.isfinite(made.psnr) else None,
            "seconds": round(made.seconds, 3),
            "seq": world.seq,
        },
    )
