"""The ``world.*`` requests of PROTOCOL.md section 13, over a ``continuum.world.World``.

Each function checks one request's fields, calls the world, and returns the reply; world errors
become the protocol's codes (``_answering``). The server runs the ones that change the world in
its worker thread, one at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from continuum.errors import (
    AssetNotFoundError,
    ContinuumError,
    EventError,
    PhysicsError,
    ProtocolError,
    SceneError,
    StoreError,
    WorldLockedError,
)
from continuum.server import fields
from continuum.server.codec import Message, dumps_header
from continuum.server.protocol import ERROR_CODES
from continuum.world import World, WorldChange, WorldStore, event_from_json, list_worlds
from continuum.world.events import EVENT_TYPES
from continuum.world.history import EDIT_KINDS

MAX_EVENTS_PER_REPLY = 1000
_EDIT_KIND_NAMES = sorted(cls.kind for cls in EDIT_KINDS)


@contextlib.contextmanager
def answering(what: str) -> Iterator[None]:
    """Turn world, store and physics errors into the protocol's error codes."""
    try:
        yield
    except ProtocolError:
        raise
    except EventError as exc:  # before StoreError: it is one
        raise ProtocolError("conflict", f"{what}: {exc}") from None
    except WorldLockedError as exc:
        raise ProtocolError("conflict", f"{what}: {exc}") from None
    except AssetNotFoundError as exc:
        raise ProtocolError("not_found", f"{what}: {exc}") from None
    except StoreError as exc:
        raise ProtocolError(
            "store_failed", f"{what}: nothing changed, the world goes on: {exc}"
        ) from None
    except PhysicsError as exc:  # EntityNotFoundError's code is not_found
        code = exc.code if exc.code in ERROR_CODES else "bad_request"
        raise ProtocolError(code, f"{what}: {exc}") from None
    except SceneError as exc:
        raise ProtocolError("bad_request", f"{what}: {exc}") from None
    except ContinuumError as exc:
        raise ProtocolError("bad_request", f"{what}: {exc}") from None


def change_messages(
    change: WorldChange, world: dict[str, Any], max_header_bytes: int
) -> list[Message]:
    """The ``world.changed`` pushes of a change (``world``: the 13.1 description after it):
    one, or several in order when the events would not fit one header. Each but the last
    carries the seq of its own last event."""
    entries = [{"seq": seq, "event": event.to_json()} for seq, event in change.events]
    pages = _pages(entries, max_header_bytes - len(dumps_header({"world": world})) - 64)
    return [
        Message(
            "world.changed",
            {
                "events": page,
                "seq": change.seq if i == len(pages) - 1 else page[-1]["seq"],
                "world": world,
            },
        )
        for i, page in enumerate(pages)
    ]


def _pages(entries: list[dict[str, Any]], budget: int) -> list[list[dict[str, Any]]]:
    """``entries`` cut into runs whose JSON fits ``budget`` octets (an entry alone over it
    still goes alone: the receiver reports it, and can rebuild from ``world.get``)."""
    pages: list[list[dict[str, Any]]] = [[]]
    used = 0
    for entry in entries:
        size = len(dumps_header(entry)) + 1
        if pages[-1] and used + size > budget:
            pages.append([])
            used = 0
        pages[-1].append(entry)
        used += size
    return pages


def edit(world: World, msg: Message, max_events: int) -> Message:
    raw = msg.header.get("events")
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("bad_request", "world.edit.events must be a non-empty list of events")
    if len(raw) > max_events:
        raise ProtocolError(
            "too_large",
            f"world.edit carries {len(raw)} events, over max_edit_events ({max_events}); "
            "split the edit",
        )
    events = [_event(doc, i) for i, doc in enumerate(raw)]
    with answering("world.edit"):
        change = world.edit(events)
    return Message("world.edit", {"seq": change.seq})


def undo(world: World, msg: Message) -> Message:
    return _step(world.undo, "world.undo")


def redo(world: World, msg: Message) -> Message:
    return _step(world.redo, "world.redo")


def events(world: World, msg: Message, max_header_bytes: int) -> Message:
    after = fields.integer(msg, "after", 0, 2**62, None)
    if after is None:
        raise ProtocolError(
            "bad_request", "world.events.after must be the last seq seen (0 for every event)"
        )
    limit = fields.integer(msg, "limit", 1, MAX_EVENTS_PER_REPLY, MAX_EVENTS_PER_REPLY)
    store = world.store
    if store is None:
        raise ProtocolError(
            "unavailable",
            "world.events: this world is not persistent, so its past events are not kept; "
            "rebuild from world.get",
        )
    out: list[dict[str, Any]] = []
    more = False
    budget, used = max_header_bytes - 256, 0  # the page must fit one header
    with answering("world.events"), world.reading():
        for seq, event in store.events(after=after):
            if not isinstance(event, EDIT_KINDS):
                continue
            entry = {"seq": seq, "event": event.to_json()}
            size = len(dumps_header(entry)) + 1
            if len(out) == limit or (out and used + size > budget):
                more = True
                break
            out.append(entry)
            used += size
        now = store.seq
    return Message("world.events", {"events": out, "seq": now, "more": more})


def listing(root: Path, world: World) -> Message:
    worlds = []
    with answering("world.list"):
        for name in list_worlds(root):
            if name == world.name:
                with world.reading():
                    info = world.store.info()  # type: ignore[union-attr]
            else:
                try:
                    with WorldStore.open(root, name, read_only=True) as store:
                        info = store.info()
                except StoreError:
                    info = {"seq": None, "tick": None, "entities": None, "bytes": None}
            worlds.append(
                {
                    "name": name,
                    "seq": info["seq"],
                    "tick": info["tick"],
                    "entities": info["entities"],
                    "bytes": info["bytes"],
                    "open": name == world.name,
                }
            )
    return Message("world.list", {"worlds": worlds})


def name_field(msg: Message) -> str:
    name = msg.header.get("name")
    if not isinstance(name, str):
        raise ProtocolError(
            "bad_request", f"{msg.kind}.name must be a world name, got {name!r:.40}"
        )
    try:
        WorldStore.check_name(name)
    except StoreError as exc:
        raise ProtocolError("bad_request", f"{msg.kind}.name: {exc}") from None
    return name


def bool_field(msg: Message, name: str) -> bool:
    value = msg.header.get(name, False)
    if not isinstance(value, bool):
        raise ProtocolError(
            "bad_request", f"{msg.kind}.{name} must be a boolean, got {value!r:.40}"
        )
    return value


def at_field(msg: Message) -> int | None:
    return fields.integer(msg, "at", 0, 2**62, None)


# -- private ------------------------------------------------------------------------------------


def _step(run: Callable[[], WorldChange], what: str) -> Message:
    with answering(what):
        change = run()
    return Message(what, {"seq": change.seq, "events": len(change.events)})


def _event(doc: Any, index: int) -> Any:
    if not isinstance(doc, dict):
        raise ProtocolError("bad_request", f"world.edit.events[{index}] must be an object")
    kind = doc.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or cls not in EDIT_KINDS:
        raise ProtocolError(
            "bad_request",
            f"world.edit.events[{index}].kind must be one of {_EDIT_KIND_NAMES}, got {kind!r:.40}",
        )
    values = {k: v for k, v in doc.items() if k not in ("seq", "tick", "time", "version")}
    try:
        return event_from_json({**values, "version": cls.version})
    except EventError as exc:
        raise ProtocolError("bad_request", f"world.edit.events[{index}]: {exc}") from None
