"""The ``identity.*`` and ``memory.*`` requests of PROTOCOL.md section 15.

Each function checks one request, runs it on the world's ``Identities`` or ``Memory`` and
answers. Banks and records persist through the world (``World.log``); reference images go to the
asset store as ``image-rgb8`` assets. ``observe`` also returns the ``identity.drift`` push to
send to every session when an observation drifted past its bank's threshold.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from continuum.errors import ContinuumError, IdentityError, NoFaceError, ProtocolError, StoreError
from continuum.identity import Identities
from continuum.identity.embedders import KINDS, Observation, embedder
from continuum.identity.world_banks import (
    logged,
    register_observations,
    store_reference,
    view_meta,
)
from continuum.memory import Memory
from continuum.server.codec import Message
from continuum.world import AssetStore, IdentityRemoved, World

MAX_REGISTER_IMAGES = 16
MAX_QUERY_K = 64


@contextlib.contextmanager
def answering(what: str) -> Iterator[None]:
    """Identity, memory and store errors -> the protocol's codes."""
    try:
        yield
    except ProtocolError:
        raise
    except NoFaceError as exc:
        raise ProtocolError("no_face", f"{what}: {exc}") from None
    except StoreError as exc:
        raise ProtocolError("store_failed", f"{what}: nothing changed: {exc}") from None
    except ContinuumError as exc:
        code = "not_found" if "no identity bank" in str(exc) else "bad_request"
        raise ProtocolError(code, f"{what}: {exc}") from None


def register(ids: Identities, world: World, assets: AssetStore, msg: Message) -> Message:
    entity = entity_field(msg)
    if not 1 <= len(msg.blobs) <= MAX_REGISTER_IMAGES:
        raise ProtocolError(
            "bad_request",
            f"identity.register takes 1..{MAX_REGISTER_IMAGES} images (u8 blobs [H, W, 3]), "
            f"got {len(msg.blobs)}",
        )
    with answering("identity.register"):
        kind = _kind(msg.header.get("kind"))
        meta = _meta(msg)
        seen = [_see(kind, image) for image in msg.blobs]
        bank = register_observations(ids, world, assets, entity, seen, meta=meta)
    return Message("identity.register", {"bank": bank})


def observe(
    ids: Identities, world: World, assets: AssetStore, msg: Message
) -> tuple[Message, Message | None]:
    """The reply, and the ``identity.drift`` push when the observation drifted."""
    if len(msg.blobs) != 1:
        raise ProtocolError("bad_request", "identity.observe takes one image (a u8 blob [H, W, 3])")
    entity = msg.header.get("entity")
    if entity is not None:
        entity = entity_field(msg)
    update = msg.header.get("update", True)
    if not isinstance(update, bool):
        raise ProtocolError("bad_request", "identity.observe.update must be a boolean")
    with answering("identity.observe"):
        kind = _kind(msg.header.get("kind"))
        seen = _see(kind, msg.blobs[0])
        if entity is not None:
            ids.bank(entity)  # not_found before anything is stored
        ref = store_reference(assets, seen) if update else None
        with ids.holding():
            result, events = ids.observe(
                kind,
                seen.vector,
                entity=entity,
                update=False,  # first: which bank (then updated, logged, or put back)
            )
            if update and result.entity is not None:
                with logged(ids, world, result.entity) as log:
                    result, events = ids.observe(
                        kind,
                        seen.vector,
                        entity=result.entity,
                        quality=seen.quality,
                        asset=ref,
                        meta={**_meta(msg), **view_meta(seen)},
                    )
                    log(events)
    header: dict[str, Any] = {
        "matches": [{"entity": e, "similarity": round(s, 6)} for e, s in result.matches],
        "entity": result.entity,
        "drift": None if result.drift is None else round(result.drift, 6),
        "action": result.update.action if result.update is not None else None,
        "quality": round(seen.quality, 4),
    }
    if seen.face is not None:
        header["face"] = {
            "box": [int(v) for v in seen.face.box],
            "landmarks": np.round(seen.face.landmarks, 1).tolist(),
        }
    alert = None
    if result.alert:
        if result.update is not None:
            similarity = result.update.similarity  # to the bank as it was before this view
        else:
            similarity = ids.bank(result.entity).similarity(seen.vector)  # type: ignore[arg-type]
        alert = Message(
            "identity.drift",
            {
                "entity": result.entity,
                "drift": round(result.drift, 6),  # type: ignore[arg-type]
                "threshold": result.threshold,
                "similarity": similarity,
                "time": time.time(),
            },
        )
    return Message("identity.observe", header), alert


def query(ids: Identities, msg: Message) -> Message:
    entity = entity_field(msg)
    k = msg.header.get("k", 4)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_QUERY_K:
        raise ProtocolError(
            "bad_request", f"identity.query.k must be an integer in 1..{MAX_QUERY_K}"
        )
    with answering("identity.query"):
        bank = ids.bank(entity)
        vector = None
        if msg.blobs:
            kind = _kind(msg.header.get("kind", bank.kind))
            if kind != bank.kind:
                raise IdentityError(f"entity {entity!r} has a {bank.kind} bank, not {kind}")
            vector = _see(kind, msg.blobs[0]).vector
        with ids.holding():
            picked = bank.retrieve(vector, k)
            references = [
                {
                    "slot": i,
                    "similarity": round(similarity, 6),
                    "quality": bank.slots[i].quality,
                    "time": bank.slots[i].time,
                    "uses": bank.slots[i].uses,
                    "asset": bank.slots[i].asset,
                    "meta": bank.slots[i].meta,
                }
                for i, similarity in picked
            ]
    return Message("identity.query", {"entity": entity, "references": references})


def listing(ids: Identities) -> Message:
    return Message("identity.list", {"banks": [b.describe() for b in ids.banks()]})


def remove(ids: Identities, world: World, msg: Message) -> Message:
    entity = entity_field(msg)
    with answering("identity.remove"), ids.holding():
        ids.bank(entity)
        world.log([IdentityRemoved(id=entity)])  # stored first: then gone
        ids.remove(entity)
    return Message("identity.remove", {"entity": entity})


def reference_image(ids: Identities, assets: AssetStore, entity: str) -> tuple[np.ndarray, str]:
    """The best reference image of ``entity``'s bank and its asset (the generation hook).

    Raises:
        IdentityError: no such bank, or no slot with a reference image.
    """
    bank = ids.bank(entity)
    with ids.holding():
        for i, _ in bank.retrieve(None, len(bank)):
            asset = bank.slots[i].asset
            if asset is not None:
                info = assets.info(asset)
                data = assets.read(asset, 0, info.bytes)
                shape = (info.meta["height"], info.meta["width"], 3)
                return np.frombuffer(data, np.uint8).reshape(shape), asset
    raise IdentityError(f"identity {entity!r} has no reference image to generate from")


# -- memory -------------------------------------------------------------------------------------


def memory_add(memory: Memory, msg: Message, tick: int) -> Message:
    h = msg.header
    with answering("memory.add"):
        record = memory.add(
            h.get("who"),  # type: ignore[arg-type]
            h.get("what"),  # type: ignore[arg-type]
            h.get("text"),  # type: ignore[arg-type]
            where=h.get("where"),
            importance=h.get("importance", 0.5),
            tick=tick,
        )
    return Message("memory.add", {"record": record.to_json(embedding=False)})


def memory_query(memory: Memory, msg: Message) -> Message:
    h = msg.header
    known = {"text", "who", "what", "near", "radius", "since", "until", "k"}
    unknown = sorted(set(h) - known - {"id", "blobs"})
    if unknown:
        raise ProtocolError("bad_request", f"memory.query: unknown fields {unknown}")
    with answering("memory.query"):
        found = memory.query(
            h.get("text"),
            **{k: h[k] for k in ("who", "what", "near", "radius", "since", "until", "k") if k in h},
        )
    return Message("memory.query", {"records": [s.to_json() for s in found]})


def memory_summarize(memory: Memory, msg: Message) -> Message:
    older = msg.header.get("older_than_s")
    if isinstance(older, bool) or not isinstance(older, int | float) or not math.isfinite(older):
        raise ProtocolError(
            "bad_request", "memory.summarize.older_than_s must be a number of seconds"
        )
    with answering("memory.summarize"):
        folded, summaries = memory.summarize(older, group_by=msg.header.get("group_by", "who"))
    return Message(
        "memory.summarize",
        {
            "summarized": len(folded),
            "summaries": [r.to_json(embedding=False) for r in summaries],
        },
    )


# -- private ------------------------------------------------------------------------------------


def entity_field(msg: Message) -> str:
    """The request's ``entity``: an entity id (1..256 characters)."""
    entity = msg.header.get("entity")
    if not isinstance(entity, str) or not 0 < len(entity) <= 256:
        raise ProtocolError(
            "bad_request", f"{msg.kind}.entity must be an entity id, got {entity!r:.40}"
        )
    return entity


def _meta(msg: Message) -> dict[str, Any]:
    meta = msg.header.get("meta", {})
    if not isinstance(meta, dict):
        raise ProtocolError("bad_request", f"{msg.kind}.meta must be an object")
    return meta


def _kind(kind: Any) -> str:
    if kind not in KINDS:
        raise IdentityError(f"unknown identity kind {kind!r:.40}; the kinds are {', '.join(KINDS)}")
    return kind


def _see(kind: str, image: np.ndarray) -> Observation:
    from continuum.identity.images import check_image

    return embedder(kind).observe(check_image(image))
