"""Physics over the bridge (PROTOCOL.md section 12): the ``physics.*`` requests, the ``poses``
stream frame and the ``physics.event`` push, around one :class:`continuum.physics.Simulation`.

The server owns the simulation; this module only translates. ``control`` and ``query`` run in the
server's physics worker thread (they take the simulation's lock, and a ``step`` may take a while),
``layout`` and ``pose_message`` on the event loop (both read a snapshot). Every error a simulation
raises on purpose (a PhysicsError) becomes a protocol error with its ``code``: an unknown entity
``not_found``, anything else ``bad_request``; the simulation keeps running either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from continuum.errors import ContinuumError, PhysicsError, ProtocolError
from continuum.server.codec import Message, dumps_header
from continuum.server.protocol import ERROR_CODES, Limits

if TYPE_CHECKING:
    from continuum.physics import PhysicsConfig, PhysicsEvent, PoseFrame, Simulation
    from continuum.world import Scene

POSES = "poses"  # the stream topic
KINDS = ("physics.control", "physics.layout", "physics.query")


def scene_has_physics(scene: Scene) -> bool:
    """Whether serving ``scene`` needs a simulation: an entity with a ``physics`` component, or
    a scene-level ``mjcf`` model."""
    return scene.mjcf is not None or any("physics" in e.components for e in scene.entities)


def pose_message(frame: PoseFrame, *, seq: int, t: float) -> Message:
    """The ``poses`` stream message of one snapshot: one f32 [N, 7] blob in layout order."""
    poses = np.ascontiguousarray(frame.poses, dtype="<f4")  # [N, 7]
    header = {
        "seq": seq,
        "t": t,
        "sim_time": float(frame.sim_time),
        "step": int(frame.step),
        "layout": int(frame.layout),
    }
    return Message(POSES, header, [poses.reshape(len(frame.ids), 7)])


def layout(sim: Simulation, limits: Limits) -> Message:
    """The ``physics.layout`` reply: the layout version and the body ids in pose order."""
    version, ids = sim.layout()
    header = {"layout": int(version), "ids": list(ids)}
    size = len(dumps_header(header))
    if size > limits.max_header_bytes - 64:  # room for "re"
        raise ProtocolError(
            "too_large",
            f"physics.layout: the ids of {len(ids)} bodies take {size} header bytes, over "
            f"max_header_bytes ({limits.max_header_bytes}); serve fewer or shorter-named bodies",
        )
    return Message("physics.layout", header)


def control(
    sim: Simulation,
    msg: Message,
    *,
    on_applied: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> Message:
    """Apply ``physics.control`` (runs in the worker thread); ``on_applied(op, result)`` is
    called once it was (the persistent world logs it)."""
    op = _named(
        msg, "op", "teleport, grab, move, release, impulse, force, set, pause, resume, step"
    )
    result = _call(sim.control, op, f"physics.control {op['op']}")
    if on_applied is not None:
        on_applied(op, result)
    header = {"sim_time": sim.sim_time, "step": _step(sim, result), **result}
    return Message("physics.control", _plain(header))


def query(sim: Simulation, msg: Message) -> Message:
    """Answer ``physics.query`` (runs in the physics worker thread)."""
    q = _named(msg, "type", "ray, contacts, nearest")
    result = _call(sim.query, q, f"physics.query {q['type']}")
    return Message("physics.query", _plain(result))


def _named(msg: Message, key: str, choices: str) -> dict:
    """The request's fields, checking that ``key`` (what it asks for) is a string."""
    fields = _fields(msg)
    if not isinstance(fields.get(key), str):
        raise ProtocolError(
            "bad_request",
            f"{msg.kind}.{key} must be a string ({choices}), got {fields.get(key)!r:.40}",
        )
    return fields


def event_message(event: PhysicsEvent) -> Message:
    """The ``physics.event`` push of a simulation event (a divergence, say)."""
    return Message(
        "physics.event",
        _plain(
            {
                "kind": event.kind,
                "entities": list(event.entities),
                "sim_time": event.sim_time,
                "message": event.message,
            }
        ),
    )


def welcome_fields(config: PhysicsConfig) -> dict[str, float]:
    """What ``welcome.physics`` says of the simulation."""
    return {"dt": float(config.dt), "publish_hz": float(config.publish_hz)}


# -- private ------------------------------------------------------------------------------------


def _fields(msg: Message) -> dict[str, Any]:
    return {k: v for k, v in msg.header.items() if k not in ("id", "blobs")}


def _call(fn: Any, arg: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        result = fn(arg)
    except PhysicsError as exc:  # EntityNotFoundError's code is not_found
        code = exc.code if exc.code in ERROR_CODES else "bad_request"
        raise ProtocolError(code, f"{what}: {exc}") from None
    if not isinstance(result, dict):
        raise ContinuumError(f"{what} returned {type(result).__name__}, not a dict")
    return result


def _step(sim: Simulation, result: dict[str, Any]) -> int:
    if "step" in result:
        return int(result["step"])
    step = getattr(sim, "step_count", None)
    return int(step) if step is not None else int(sim.poses().step)


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars and arrays as numbers and lists, tuples as lists,
    and non-finite floats (a ray that hit nothing at an infinite distance) as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
