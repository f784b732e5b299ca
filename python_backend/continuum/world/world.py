"""The live world a backend serves: its state, changed only by events, with undo and redo.

A ``World`` holds a ``WorldState`` and, when persistent, the ``WorldStore`` its events go to
(every change is stored before anyone hears of it). Changes come as entity edits (``edit``, from
an engine or the backend; undoable), ``undo``/``redo`` (history.py), new splat versions
(``set_splat``) and the backend's own physics events (``log``: stored, never announced).

Splat components in the state are splat-pack references (``splat_component``): a scene's
``{"file": ...}`` components are packed into the asset store and replaced by the pack's hash
when the world opens, so that a stored world does not depend on the scene's files.

Listeners hear every change (``WorldChange``) in order; a physics hook (set by the server) turns
entity edits into simulation edits and returns the events that log the simulation's new state,
stored in the same transaction as the edit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from continuum.errors import (
    AssetError,
    AssetNotFoundError,
    EventError,
    SceneError,
    SplatFormatError,
    StoreError,
)
from continuum.world.assets import HASH_PATTERN, AssetInfo, AssetStore
from continuum.world.events import (
    ComponentSet,
    ControlApplied,
    EntityAdded,
    Event,
    IdentityRemoved,
    IdentitySet,
    MemoryAdded,
    MemoryFolded,
    NarrativeSet,
    PhysicsSet,
)
from continuum.world.history import EDIT_KINDS, History, Step, inverse
from continuum.world.scene import Scene
from continuum.world.state import WorldState, apply_in_place
from continuum.world.store import WorldStore

if TYPE_CHECKING:
    from continuum.splats.cloud import SplatCloud

SPLAT_PACK = "splat-pack"  # the asset kind of engine packs
# The backend's own events: stored, never pushed, not undoable by engines.
BACKEND_KINDS = (
    PhysicsSet,
    ControlApplied,
    IdentitySet,
    IdentityRemoved,
    MemoryAdded,
    MemoryFolded,
    NarrativeSet,
)


@dataclass(frozen=True)
class SplatChanged:
    """An entity's splat component now shows another pack."""

    entity: str
    asset: AssetInfo


@dataclass(frozen=True)
class WorldChange:
    """Entity events just applied, ``(seq, event)`` in order, the splat packs they changed, and
    the world's seq after them (the backend's physics events are not listed)."""

    events: tuple[tuple[int, Event], ...]
    splats: tuple[SplatChanged, ...]
    seq: int


Listener = Callable[[WorldChange], None]
PhysicsHook = Callable[[Sequence[Event], WorldState], list[Event]]  # (edits, state before)


def splat_component(asset: AssetInfo) -> dict[str, Any]:
    """A splat component as stored and sent (scene.schema.json ``$defs/splat_asset``)."""
    return {"asset": asset.hash, "bytes": asset.bytes, **asset.meta}


class World:
    """A world being served: ``scene``'s entities (in memory), or a persistent ``store``'s.

    Thread-safe: every method may be called from any thread; changes are serialised. The world
    uses ``assets`` and ``store`` but does not own them (close them yourself).

    Args:
        scene: the scene to serve when ``store`` is None; None for an empty world.
        assets: where splat packs go.
        store: a persistent world open for writing (its scene is the one it was created from).
        history_depth: how many edits back ``undo`` reaches.

    Raises:
        SceneError: a splat file is missing, unreadable, or has fewer SH bands than its component
            asks for; the message names the entity and the file.
        StoreError: the store cannot be written.
    """

    def __init__(
        self,
        scene: Scene | None,
        assets: AssetStore,
        *,
        store: WorldStore | None = None,
        history_depth: int = 1000,
    ) -> None:
        self.assets = assets
        self.store = store
        self.history = History(history_depth)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._hook: PhysicsHook | None = None
        self._clock: Callable[[], int] = lambda: 0
        if store is None:
            scene = scene if scene is not None else Scene("", "", ())
            self._info = scene.info()
            self._state = WorldState()
            for entity in scene.entities:
                apply_in_place(
                    self._state, EntityAdded(entity=entity.to_json()), seq=self._state.seq + 1
                )
        else:
            self._info = store.scene_info
            self._state = store.state()
        self._pack_splat_files()

    # -- reading -------------------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        """The persistent world's name; None for a world in memory."""
        return self.store.name if self.store is not None else None

    @property
    def scene(self) -> Scene:
        """The world's entities now, as a Scene (what the physics assembles)."""
        with self._lock:
            return self._state.to_scene(self._info)

    @property
    def seq(self) -> int:
        return self._state.seq

    @property
    def tick(self) -> int:
        return self._state.tick

    def state(self) -> WorldState:
        """The state now (a copy sharing the read-only entity dicts)."""
        with self._lock:
            return self._state.copy()

    def describe(self) -> dict[str, Any]:
        """PROTOCOL.md 13.1 without ``physics``: name, persistent, seq, tick, undo, redo."""
        with self._lock:
            return {
                "name": self.name,
                "persistent": self.store is not None,
                "seq": self._state.seq,
                "tick": self._state.tick,
                "undo": self.history.can_undo,
                "redo": self.history.can_redo,
            }

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the world still (no change starts) while reading its store."""
        with self._lock:
            yield

    def entities_json(self) -> list[dict[str, Any]]:
        """Every entity in the scene.schema.json form (splat components as pack references)."""
        with self._lock:
            return list(self._state.entities.values())

    def splat(self, entity_id: str) -> AssetInfo | None:
        """The pack entity ``entity_id`` shows, or None."""
        with self._lock:
            entity = self._state.entities.get(entity_id)
        component = entity["components"].get("splat") if entity else None
        if not isinstance(component, dict) or "asset" not in component:
            return None
        return self.assets.info(component["asset"])

    # -- listening and wiring ---------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that removes it.

        Listeners run in the thread that made the change, under the world's lock so that they
        hear changes in order: they must return quickly and must not change the world.
        """
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                self._listeners.remove(listener)

        return remove

    def set_physics(self, hook: PhysicsHook | None, clock: Callable[[], int]) -> None:
        """Wire the simulation: ``hook(events, state_before)`` applies entity edits to it (raising
        ContinuumError to refuse them) and returns the events that log its new state; ``clock()``
        is its step count, the tick of new events."""
        with self._lock:
            self._hook, self._clock = hook, clock

    # -- changing ----------------------------------------------------------------------------------

    def edit(self, events: Sequence[Event]) -> WorldChange:
        """Apply entity edits, all or nothing, as one undoable step (their tick and time are
        stamped now).

        Raises:
            EventError: an event is not an entity edit or does not fit the world.
            AssetNotFoundError: a splat component names a pack the asset store does not hold.
            StoreError: the store cannot be written (nothing changed).
            ContinuumError: the physics refused the edit (nothing changed).
        """
        for event in events:
            if not isinstance(event, EDIT_KINDS):
                raise EventError(f"event {event.kind} is the backend's; edits change entities")
            if isinstance(event, ComponentSet) and event.name == "splat":
                self._check_splat_reference(event.value)
            if isinstance(event, EntityAdded) and isinstance(event.entity, dict):
                components = event.entity.get("components")
                if isinstance(components, dict) and "splat" in components:
                    self._check_splat_reference(components["splat"])
        with self._lock:
            change, undo = self._commit(events)
            self.history.edited(Step(undo=tuple(undo), redo=tuple(events)))
            return self._announce(change)

    def undo(self) -> WorldChange:
        """Take back the newest undoable edit.

        Raises:
            EventError: nothing to undo, or its inverse no longer fits (it is dropped).
            StoreError: the store cannot be written (nothing changed, the edit stays undoable).
        """
        return self._step_history(undoing=True)

    def redo(self) -> WorldChange:
        """Do the newest undone edit again (same errors as ``undo``)."""
        return self._step_history(undoing=False)

    def _step_history(self, *, undoing: bool) -> WorldChange:
        history, word = self.history, "undo" if undoing else "redo"
        with self._lock:
            step = history.pop_undo() if undoing else history.pop_redo()
            if step is None:
                raise EventError(f"nothing to {word}")
            try:
                change, inverse_now = self._commit(step.undo if undoing else step.redo)
            except EventError as exc:
                raise EventError(f"the edit cannot be {word}ne any more: {exc}") from None
            except BaseException:  # not applied: back where it was
                (history.redone if undoing else history.undone)(step)
                raise
            if undoing:  # redo does the edit again; its undo is what undid it before
                history.undone(Step(undo=tuple(inverse_now), redo=step.redo))
            else:
                history.redone(Step(undo=tuple(inverse_now), redo=step.redo))
            return self._announce(change)

    def log(self, events: Sequence[Event]) -> int:
        """Store the backend's own events (physics: ``PhysicsSet``, ``ControlApplied``;
        identity banks, memory records and narrative state: ``IdentitySet``,
        ``IdentityRemoved``, ``MemoryAdded``, ``MemoryFolded``, ``NarrativeSet``); stamped with
        the tick and time now unless they have a later tick. Not announced, not undoable.
        Returns the world's seq.

        Raises:
            EventError: an entity edit (use ``edit``), or an event that does not fit.
            StoreError: the store cannot be written (nothing changed).
        """
        for event in events:
            if not isinstance(event, BACKEND_KINDS):
                raise EventError(f"log takes the backend's own events only, got {event.kind}")
        with self._lock:
            stamped = self._stamp(events)
            if self.store is not None:
                self.store.append(stamped)  # all or nothing, checked against its own state
                self._apply(stamped)
            else:
                scratch = self._state.copy()  # all or nothing
                for event in stamped:
                    apply_in_place(scratch, event, seq=scratch.seq + 1)
                self._state = scratch
            return self._state.seq

    def fork(self, root: Path, name: str, *, at: int | None = None) -> None:
        """Copy this world up to event ``at`` (default: now) to a new persistent world ``name``:
        beside its store, or under ``root`` for a world in memory (then only as it is now).

        Raises:
            StoreError: the name is taken or invalid, ``at`` is out of range, or the disk fails.
        """
        with self._lock:
            if self.store is not None:
                self.store.fork(name, at=at)
                return
            if at is not None and at != self._state.seq:
                raise StoreError(
                    f"this world is not persistent: it can be forked as it is now (seq "
                    f"{self._state.seq}) only, not at seq {at}"
                )
            state = self._state
            rest: list[Event] = [
                *(IdentitySet(id=k, bank=v) for k, v in state.identities.items()),
                *(MemoryAdded(record=r) for r in state.memory),
                *(NarrativeSet(key=k, value=v) for k, v in state.narrative.items()),
            ]
            with WorldStore.create(root, name, self.scene) as fork:
                if rest:
                    fork.append(rest)

    def set_splat(
        self, entity_id: str, cloud: SplatCloud, *, sh_degree: int | None = None
    ) -> AssetInfo:
        """Show ``cloud`` on entity ``entity_id`` (adding a splat component if it had none), as
        an undoable edit.

        Packs and stores the cloud in the calling thread (about a second per 10^6 splats: call it
        off the server's event loop), then changes the entity, unless it shows this pack already.

        Raises:
            KeyError: no such entity.
            ValueError: ``sh_degree`` above the cloud's, or more splats than a pack holds.
            AssetError: the pack exceeds the store's ``max_asset_bytes``.
            StoreError: the store cannot be written.
        """
        if entity_id not in self._state.entities:
            raise KeyError(f"no entity {entity_id!r} in world {self.name or self._info['name']!r}")
        asset = self.store_splat(cloud, sh_degree=sh_degree)
        with self._lock:
            if self.splat(entity_id) != asset:
                self.edit([ComponentSet(id=entity_id, name="splat", value=splat_component(asset))])
        return asset

    def store_splat(self, cloud: SplatCloud, *, sh_degree: int | None = None) -> AssetInfo:
        """Pack and store ``cloud`` as a splat asset (content-addressed: storing it twice stores
        it once) without showing it anywhere; ``splat_component(asset)`` then names it in an
        entity's components. Raises as ``set_splat``."""
        # Imported here so that torch loads only for worlds with splats: serving a scene of
        # primitives starts in a fifth of a second instead of two.
        from continuum.splats.pack import pack_splats, read_pack_header

        pack = pack_splats(cloud, sh_degree=sh_degree)
        head = read_pack_header(pack)
        meta = {"count": head.count, "sh_degree": head.sh_degree, "aabb": list(head.aabb)}
        return self.assets.put(pack, kind=SPLAT_PACK, meta=meta)

    # -- private -------------------------------------------------------------------------------

    def _stamp(self, events: Sequence[Event]) -> list[Event]:
        tick, now = max(self._clock(), self._state.tick), time.time()
        return [dataclasses.replace(e, tick=max(tick, e.tick), time=now) for e in events]

    def _commit(self, events: Sequence[Event]) -> tuple[WorldChange, list[Event]]:
        """Store and apply ``events`` (with the physics' events); returns the change and the
        events that undo it. On any error nothing changed (the physics is put back)."""
        if not events:
            raise EventError("an edit needs at least one event")
        stamped = self._stamp(events)
        undo = inverse(self._state, stamped)  # raises EventError when one does not fit
        splats = tuple(  # looked up first: nothing may fail once the events are stored
            SplatChanged(e.id, self.assets.info(e.value["asset"]))
            for e in stamped
            if isinstance(e, ComponentSet) and e.name == "splat"
        )
        extra: list[Event] = []
        if self._hook is not None:
            extra = self._stamp(self._hook(stamped, self._state.copy()))
        first = self._state.seq + 1
        try:
            if self.store is not None:
                self.store.append([*stamped, *extra])
        except BaseException:
            if self._hook is not None:
                after = self._state.copy()
                for event in stamped:
                    apply_in_place(after, event, seq=after.seq + 1)
                self._hook(self._stamp(undo), after)  # the simulation as it was
            raise
        self._apply([*stamped, *extra])
        pairs = tuple(zip(range(first, first + len(stamped)), stamped, strict=True))
        return WorldChange(pairs, splats, self._state.seq), undo

    def _apply(self, events: Sequence[Event]) -> None:
        for event in events:
            apply_in_place(self._state, event, seq=self._state.seq + 1)

    def _announce(self, change: WorldChange) -> WorldChange:
        for listener in self._listeners:
            listener(change)
        return change

    def _check_splat_reference(self, value: Any) -> None:
        asset = value.get("asset") if isinstance(value, dict) else None
        if not isinstance(asset, str) or not HASH_PATTERN.fullmatch(asset):
            raise EventError(
                f"a splat component must name a splat pack by hash ({{'asset': HASH, ...}}), "
                f"got {value!r:.80}"
            )
        if asset not in self.assets:
            raise AssetNotFoundError(f"no splat pack {asset} on this backend")

    def _pack_splat_files(self) -> None:
        """Replace each ``{"file": ...}`` splat component by the pack of that file."""
        scene = self._state.to_scene(self._info)
        events = []
        for entity in scene.entities:
            spec = entity.components.get("splat")
            if isinstance(spec, dict) and "file" in spec:
                value = splat_component(self._load_splat(scene, entity.id, spec))
                events.append(ComponentSet(id=entity.id, name="splat", value=value))
        if events:
            stamped = self._stamp(events)
            if self.store is not None:
                self.store.append(stamped)
            self._apply(stamped)

    def _load_splat(self, scene: Scene, entity_id: str, spec: dict[str, Any]) -> AssetInfo:
        from continuum.splats.formats import read_splats  # see store_splat

        where = f"scene {scene.name!r}, entity {entity_id!r}"
        try:
            path = scene.resolve(spec["file"])
            cloud = read_splats(path)
            return self.store_splat(cloud, sh_degree=spec.get("sh_degree"))
        except SceneError as exc:
            raise SceneError(f"{where}: {exc}") from None
        except (OSError, SplatFormatError, AssetError, ValueError) as exc:
            raise SceneError(f"{where}: splat file {path}: {exc}") from None
