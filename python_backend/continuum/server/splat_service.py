"""The ``splat.*`` requests of PROTOCOL.md section 16: selections of an entity's splats and the
edits made to them.

A selection belongs to one version of an entity's splats (its pack's hash, ``base``) and is kept
by id in ``Selections`` (the 64 newest). An edit checks that ``base`` is still the entity's splat,
applies the op (``continuum.splats.editing``) to the unpacked cloud and shows the result through
``World.set_splat``: one undoable ``component_set`` event, announced to every engine.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from continuum.errors import ContinuumError, ProtocolError
from continuum.server import fields
from continuum.server.codec import Message
from continuum.world import AssetStore, World
from continuum.world.world import splat_component

MAX_SELECTIONS = 64
MAX_VIEWS = 16
MAX_STEPS = 2000
MODES = ("box", "sphere", "ray", "masks")
OPS = ("delete", "recolor", "tint", "transform", "duplicate", "optimize")
COMBINE = ("replace", "add", "subtract", "intersect")


@dataclass(frozen=True)
class Selection:
    """Scores in 0..1 of one version (``base``) of an entity's splats  # [N]"""

    id: int
    entity: str
    base: str
    scores: torch.Tensor

    soft: bool = False

    @property
    def count(self) -> int:
        return int((self.scores > 0.5).sum())

    @property
    def mask(self) -> torch.Tensor:
        """What the edits take: the scores when soft, else a bool mask  # [N]"""
        return self.scores if self.soft else self.scores > 0.5


class Selections:
    """The newest selections by id, and the clouds they were made of (the 4 newest). Thread-safe."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._kept: OrderedDict[int, Selection] = OrderedDict()
        self._clouds: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, entity: str, base: str, scores: torch.Tensor, *, soft: bool) -> Selection:
        with self._lock:
            selection = Selection(next(self._ids), entity, base, scores.float(), soft)
            self._kept[selection.id] = selection
            while len(self._kept) > MAX_SELECTIONS:
                self._kept.popitem(last=False)
            return selection

    def get(self, selection_id: Any) -> Selection:
        with self._lock:
            selection = self._kept.get(selection_id)  # type: ignore[arg-type]
        if selection is None:
            raise ProtocolError(
                "not_found",
                f"no selection {selection_id!r:.40}: make one with splat.select (the "
                f"{MAX_SELECTIONS} newest are kept)",
            )
        return selection

    def cloud(self, assets: AssetStore, asset: str) -> Any:
        """The SplatCloud of pack ``asset`` (unpacked once, then cached)."""
        from continuum.splats.pack import unpack_splats

        with self._lock:
            cloud = self._clouds.get(asset)
            if cloud is not None:
                self._clouds.move_to_end(asset)
                return cloud
        info = assets.info(asset)
        cloud = unpack_splats(assets.read(asset, 0, info.bytes))
        with self._lock:
            self._clouds[asset] = cloud
            while len(self._clouds) > 4:
                self._clouds.popitem(last=False)
        return cloud


def select(selections: Selections, world: World, assets: AssetStore, msg: Message) -> Message:
    from continuum.splats import selection as sel

    h = msg.header
    entity, base = _entity_base(world, msg)
    cloud = selections.cloud(assets, base)
    mode = h.get("mode")
    if mode not in MODES:
        raise ProtocolError(
            "bad_request", f"splat.select.mode must be one of {MODES}, got {mode!r:.40}"
        )
    soft = _bool(msg, "soft", False)
    with _answering("splat.select"):
        if mode == "box":
            rotation = h.get("rotation")
            scores = sel.select_box(
                cloud,
                fields.numbers(msg, "center", 3),
                fields.numbers(msg, "half_size", 3),
                None if rotation is None else _quat(msg, "rotation"),
            )
        elif mode == "sphere":
            scores = sel.select_sphere(
                cloud, fields.numbers(msg, "center", 3), _positive(msg, "radius")
            )
        elif mode == "ray":
            scores = sel.select_ray(
                cloud,
                fields.numbers(msg, "origin", 3),
                fields.numbers(msg, "direction", 3),
                _positive(msg, "radius"),
                None if h.get("max_distance") is None else _positive(msg, "max_distance"),
            )
        else:
            cameras = _cameras(msg)
            if len(msg.blobs) != len(cameras):
                raise ProtocolError(
                    "bad_request",
                    f"splat.select masks: {len(cameras)} views but {len(msg.blobs)} mask blobs",
                )
            masks = [torch.from_numpy(np.asarray(m) != 0) for m in msg.blobs]
            scores = sel.lift_masks(
                cloud,
                cameras,
                masks,
                k=int(h.get("k", 8)),
                threshold=float(h.get("threshold", 0.5)),
                soft=soft,
            )
        how = h.get("combine", "replace")
        if how not in COMBINE:
            raise ProtocolError("bad_request", f"splat.select.combine must be one of {COMBINE}")
        if how != "replace":
            earlier = selections.get(h.get("selection"))
            if earlier.base != base:
                raise ProtocolError(
                    "conflict", "splat.select.combine: the earlier selection is of another version"
                )
            scores = sel.combine(earlier.scores, scores, how)
    made = selections.add(entity, base, scores if soft else scores.float() > 0.5, soft=soft)
    header = {
        "selection": made.id,
        "entity": entity,
        "base": base,
        "count": made.count,
        "total": len(cloud),
    }
    blobs = [made.scores.numpy()] if _bool(msg, "labels", False) else []
    return Message("splat.select", header, blobs)


def selection_info(selections: Selections, msg: Message) -> Message:
    made = selections.get(msg.header.get("selection"))
    header = {
        "selection": made.id,
        "entity": made.entity,
        "base": made.base,
        "count": made.count,
        "total": len(made.scores),
    }
    return Message("splat.selection", header, [made.scores.numpy()])


def edit(
    selections: Selections,
    world: World,
    assets: AssetStore,
    msg: Message,
    *,
    progress: Callable[[int, int], None],
    edit_targets: Callable[[list[np.ndarray], str], list[np.ndarray]] | None = None,
) -> Message:
    """Apply ``splat.edit``. ``edit_targets(renders, instruction)`` makes an optimisation's
    targets with the image_edit slot."""
    from continuum.splats import editing

    h = msg.header
    entity, base = _entity_base(world, msg)
    made = selections.get(h.get("selection"))
    if made.entity != entity or made.base != base:
        raise ProtocolError(
            "conflict",
            f"splat.edit: selection {made.id} is of {made.entity!r} at {made.base[:12]}, not "
            f"{entity!r} at {base[:12]}",
        )
    op = h.get("op")
    if op not in OPS:
        raise ProtocolError("bad_request", f"splat.edit.op must be one of {OPS}, got {op!r:.40}")
    if made.count == 0:
        raise ProtocolError("bad_request", "splat.edit: the selection is empty; select something")
    cloud = selections.cloud(assets, base)
    mask = made.mask
    with _answering(f"splat.edit {op}"):
        if op == "delete":
            after = editing.delete(cloud, mask)
        elif op == "recolor":
            after = editing.recolor(cloud, mask, fields.numbers(msg, "color", 3))
        elif op == "tint":
            after = editing.tint(
                cloud, mask, fields.numbers(msg, "color", 3), _unit_number(msg, "amount")
            )
        elif op == "transform":
            after = editing.transform(
                cloud,
                mask,
                translation=fields.numbers(msg, "translation", 3) if "translation" in h else None,
                rotation=_quat(msg, "rotation") if "rotation" in h else None,
                scale=fields.numbers(msg, "scale", 3) if "scale" in h else None,
                pivot=fields.numbers(msg, "pivot", 3) if "pivot" in h else None,
            )
        elif op == "duplicate":
            after = editing.duplicate(cloud, mask, fields.numbers(msg, "offset", 3))
        else:
            cameras = _cameras(msg)
            steps = h.get("steps", 200)
            if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
                raise ProtocolError("bad_request", f"splat.edit.steps must be in 1..{MAX_STEPS}")
            if "instruction" in h:
                if edit_targets is None:
                    raise ProtocolError("unavailable", "no image_edit slot to make the targets")
                from continuum.splats import render_splats

                renders = [
                    (render_splats(cloud, c).rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
                    for c in cameras
                ]
                targets = edit_targets(renders, str(h["instruction"]))
            else:
                if len(msg.blobs) != len(cameras):
                    raise ProtocolError(
                        "bad_request",
                        f"splat.edit optimize: {len(cameras)} views but {len(msg.blobs)} targets",
                    )
                targets = list(msg.blobs)
            after = editing.optimize(
                cloud,
                mask,
                cameras,
                [torch.from_numpy(np.asarray(t)) for t in targets],
                steps=steps,
                lr=h.get("lr"),
                progress=progress,
            )
        changed = abs(len(after) - len(cloud)) if op in ("delete", "duplicate") else made.count
        if world.splat(entity) is None or world.splat(entity).hash != base:  # type: ignore[union-attr]
            raise ProtocolError("conflict", "splat.edit: stale version (another edit came first)")
        asset = world.set_splat(entity, after)
    return Message(
        "splat.edit", {"asset": splat_component(asset), "changed": changed, "seq": world.seq}
    )


# -- private -------------------------------------------------------------------------------------


def _entity_base(world: World, msg: Message) -> tuple[str, str]:
    entity, base = msg.header.get("entity"), msg.header.get("base")
    if not isinstance(entity, str):
        raise ProtocolError("bad_request", f"{msg.kind}.entity must be an entity id")
    if entity not in world.state().entities:
        raise ProtocolError("not_found", f"{msg.kind}: no entity {entity!r} in the world")
    current = world.splat(entity)
    if current is None:
        raise ProtocolError("bad_request", f"{msg.kind}: entity {entity!r} has no splats")
    if base != current.hash:
        raise ProtocolError(
            "conflict",
            f"{msg.kind}: stale version: {entity!r} now shows {current.hash[:12]}, not "
            f"{str(base)[:12]} (another edit came first); select again",
        )
    return entity, base


def _quat(msg: Message, name: str) -> list[float]:
    """A protocol quaternion [x, y, z, w], normalised, as the splats code takes it (w, x, y, z)."""
    x, y, z, w = fields.numbers(msg, name, 4)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if norm < 1e-12:
        raise ProtocolError("bad_request", f"{msg.kind}.{name} must be a non-zero quaternion")
    return [w / norm, x / norm, y / norm, z / norm]


def _positive(msg: Message, name: str) -> float:
    value = msg.header.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise ProtocolError("bad_request", f"{msg.kind}.{name} must be a positive number")
    return float(value)


def _unit_number(msg: Message, name: str) -> float:
    value = msg.header.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ProtocolError("bad_request", f"{msg.kind}.{name} must be a number in 0..1")
    return float(value)


def _bool(msg: Message, name: str, default: bool) -> bool:
    value = msg.header.get(name, default)
    if not isinstance(value, bool):
        raise ProtocolError("bad_request", f"{msg.kind}.{name} must be a boolean")
    return value


def _cameras(msg: Message) -> list[Any]:
    from continuum.splats import Camera

    views = msg.header.get("views")
    if not isinstance(views, list) or not 1 <= len(views) <= MAX_VIEWS:
        raise ProtocolError("bad_request", f"{msg.kind}.views must be 1..{MAX_VIEWS} views")
    cameras = []
    for i, view in enumerate(views):
        c = view.get("camera") if isinstance(view, dict) else None
        try:
            matrix = torch.tensor(c["world_to_camera"], dtype=torch.float64).reshape(4, 4)
            cameras.append(
                Camera(
                    float(c["fx"]),
                    float(c["fy"]),
                    float(c["cx"]),
                    float(c["cy"]),
                    matrix,
                    int(c["width"]),
                    int(c["height"]),
                )
            )
        except (TypeError, KeyError, ValueError, RuntimeError) as exc:
            raise ProtocolError("bad_request", f"{msg.kind}.views[{i}].camera: {exc}") from None
    return cameras


@contextlib.contextmanager
def _answering(what: str) -> Iterator[None]:
    """ValueError and ContinuumError from the splats code -> bad_request naming the request."""
    try:
        yield
    except ProtocolError:
        raise
    except (ValueError, ContinuumError) as exc:
        raise ProtocolError("bad_request", f"{what}: {exc}") from None
