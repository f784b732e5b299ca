"""The logical bridge message and its multipart encoding (PROTOCOL.md section 3).

A message is ``[kind, header, blob_0, ...]``: an ASCII kind, a JSON object header, and raw
little-endian blobs that ``header["blobs"]`` describes. This module knows nothing of sockets or
ZMTP framing (see ``zmtp.py``); it turns frames into a :class:`Message` and back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from continuum.errors import ProtocolError
from continuum.server.protocol import KIND_PATTERN, Limits

# Wire dtype name -> numpy little-endian dtype.
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "u8": "u1",
        "i8": "i1",
        "u16": "<u2",
        "i16": "<i2",
        "u32": "<u4",
        "i32": "<i4",
        "u64": "<u8",
        "i64": "<i8",
        "f16": "<f2",
        "f32": "<f4",
        "f64": "<f8",
    }.items()
}
_NAME_OF = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}

Frame = bytes | bytearray | memoryview


@dataclass
class Message:
    """One bridge message.

    Attributes:
        kind: the message kind, e.g. ``"ping"``.
        header: JSON-serialisable fields; ``blobs`` descriptors are derived on encode.
        blobs: arrays sent as raw frames, each C-contiguous little-endian after encoding.
    """

    kind: str
    header: dict[str, Any] = field(default_factory=dict)
    blobs: list[np.ndarray] = field(default_factory=list)


def dumps_header(header: dict[str, Any]) -> bytes:
    """Compact, key-sorted UTF-8 JSON: the byte-stable form both sides encode."""
    return json.dumps(
        header, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def blob_descriptor(array: np.ndarray) -> dict[str, Any]:
    """The ``{"dtype", "shape"}`` descriptor of an array; raises ProtocolError for other dtypes."""
    name = _NAME_OF.get((array.dtype.kind, array.dtype.itemsize))
    if name is None or array.dtype.kind not in "uif":
        raise ProtocolError(
            "bad_blob", f"blob dtype {array.dtype} is not sendable; use one of {sorted(DTYPES)}"
        )
    return {"dtype": name, "shape": list(array.shape)}


def encode_message(message: Message) -> list[bytes | memoryview]:
    """Encode a message into frames ``[kind, header, blob...]``.

    The header gains ``blobs`` descriptors when the message has blobs. Blob frames are zero-copy
    views when the array is already C-contiguous little-endian.
    """
    if not KIND_PATTERN.fullmatch(message.kind.encode("ascii", "replace")):
        raise ProtocolError("bad_message", f"kind {message.kind!r} does not match [a-z][a-z0-9_.]*")
    header = dict(message.header)
    header.pop("blobs", None)
    frames: list[bytes | memoryview] = []
    if message.blobs:
        header["blobs"] = [blob_descriptor(b) for b in message.blobs]
        for blob, desc in zip(message.blobs, header["blobs"], strict=True):
            wire = np.ascontiguousarray(blob, dtype=DTYPES[desc["dtype"]])
            frames.append(memoryview(wire).cast("B"))
    return [message.kind.encode("ascii"), dumps_header(header), *frames]


DEFAULT_LIMITS = Limits()


def decode_message(frames: Sequence[Frame], limits: Limits = DEFAULT_LIMITS) -> Message:
    """Decode frames into a Message, checking every bound before allocating.

    Blobs become read-only numpy views on the frames (no copy).

    Raises:
        ProtocolError: with the PROTOCOL.md error code and a message naming what was wrong.
    """
    if len(frames) < 2:
        raise ProtocolError(
            "bad_message", f"a message needs at least 2 frames (kind, header), got {len(frames)}"
        )
    if len(frames) - 2 > limits.max_blobs:
        raise ProtocolError(
            "too_large", f"{len(frames) - 2} blob frames exceed the limit of {limits.max_blobs}"
        )
    total = sum(len(f) for f in frames)
    if total > limits.max_message_bytes:
        raise ProtocolError(
            "too_large", f"message of {total} bytes exceeds {limits.max_message_bytes}"
        )
    kind_bytes = bytes(frames[0])
    if not KIND_PATTERN.fullmatch(kind_bytes):
        raise ProtocolError(
            "bad_message",
            f"kind {kind_bytes[:40]!r} must be 1..32 ASCII characters matching [a-z][a-z0-9_.]*",
        )
    header = _decode_header(frames[1], limits)
    blobs = _decode_blobs(header, frames[2:], limits)
    return Message(kind_bytes.decode("ascii"), header, blobs)


def request_id(frames: Sequence[Frame]) -> int | None:
    """Best-effort ``id`` of a request whose full decode failed, for the error's ``re``."""
    if len(frames) < 2 or len(frames[1]) > DEFAULT_LIMITS.max_header_bytes:
        return None
    try:
        value = json.loads(bytes(frames[1])).get("id")
    except (ValueError, AttributeError):
        return None
    return value if _is_id(value) else None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _decode_header(frame: Frame, limits: Limits) -> dict[str, Any]:
    if len(frame) > limits.max_header_bytes:
        raise ProtocolError(
            "too_large", f"header of {len(frame)} bytes exceeds {limits.max_header_bytes}"
        )
    try:
        header = json.loads(bytes(frame).decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ProtocolError("bad_message", f"header is not UTF-8: {exc}") from None
    except ValueError as exc:
        raise ProtocolError("bad_message", f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(
            "bad_message", f"header must be a JSON object, got {type(header).__name__}"
        )
    return header


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode_blobs(
    header: dict[str, Any], frames: Sequence[Frame], limits: Limits
) -> list[np.ndarray]:
    descriptors = header.get("blobs", [])
    if not isinstance(descriptors, list):
        raise ProtocolError("bad_blob", "header.blobs must be a list of {dtype, shape}")
    if len(descriptors) != len(frames):
        raise ProtocolError(
            "bad_blob",
            f"header.blobs describes {len(descriptors)} blobs but {len(frames)} frames follow",
        )
    blobs = []
    for i, (desc, frame) in enumerate(zip(descriptors, frames, strict=True)):
        dtype, shape = _check_descriptor(i, desc, limits)
        expected = math.prod(shape) * dtype.itemsize
        if expected != len(frame):
            raise ProtocolError(
                "bad_blob",
                f"blob {i}: {desc['dtype']}{shape} needs {expected} bytes, "
                f"the frame has {len(frame)}",
            )
        blobs.append(np.frombuffer(frame, dtype=dtype).reshape(shape))
    return blobs


def _check_descriptor(i: int, desc: object, limits: Limits) -> tuple[np.dtype, list[int]]:
    if not isinstance(desc, dict) or desc.get("dtype") not in DTYPES:
        raise ProtocolError(
            "bad_blob", f"blob {i}: descriptor needs dtype in {sorted(DTYPES)}, got {desc!r:.80}"
        )
    shape = desc.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > limits.max_dims
        or not all(_is_id(d) and d <= limits.max_message_bytes for d in shape)
    ):
        raise ProtocolError(
            "bad_blob",
            f"blob {i}: shape must be a list of at most {limits.max_dims} non-negative ints, "
            f"got {shape!r:.80}",
        )
    return DTYPES[desc["dtype"]], shape
