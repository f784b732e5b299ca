"""ZMTP 3.1 wire framing in plain Python (PROTOCOL.md section 2).

The backend's sockets speak ZMTP through libzmq; this module is the readable reference that the
golden vectors in ``bridge/vectors`` are generated from, that the GDScript transport is checked
against, and that the robustness tests use to play a misbehaving peer octet by octet.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from continuum.errors import ProtocolError

GREETING_SIZE = 64
MORE, LONG, COMMAND = 0x01, 0x02, 0x04
SIGNATURE = b"\xff" + b"\x00" * 7 + b"\x01\x7f"


@dataclass(frozen=True)
class Frame:
    """One ZMTP frame: its flags (MORE and COMMAND; LONG is a matter of encoding) and body."""

    flags: int
    body: bytes

    @property
    def more(self) -> bool:
        return bool(self.flags & MORE)

    @property
    def command(self) -> bool:
        return bool(self.flags & COMMAND)


def greeting(*, as_server: bool = False, minor: int = 1) -> bytes:
    """The 64-octet greeting for the NULL mechanism."""
    mechanism = b"NULL".ljust(20, b"\x00")
    return SIGNATURE + bytes([3, minor]) + mechanism + bytes([int(as_server)]) + b"\x00" * 31


def parse_greeting(data: bytes) -> tuple[int, int]:
    """Check a peer's greeting; returns its (major, minor) version."""
    if len(data) != GREETING_SIZE:
        raise ProtocolError("bad_message", f"greeting must be 64 octets, got {len(data)}")
    if data[0] != 0xFF or data[9] != 0x7F:
        raise ProtocolError("bad_message", "greeting signature is not FF ... 7F: not a ZMTP peer")
    if data[10] != 3:
        raise ProtocolError("bad_message", f"ZMTP major version 3 expected, got {data[10]}")
    if data[12:32].rstrip(b"\x00") != b"NULL":
        raise ProtocolError("bad_message", f"mechanism NULL expected, got {data[12:32]!r}")
    return data[10], data[11]


def encode_frame(body: bytes, *, more: bool = False, command: bool = False) -> bytes:
    """One frame, short when the body fits in 255 octets, long otherwise."""
    flags = (MORE if more else 0) | (COMMAND if command else 0)
    if len(body) <= 255:
        return bytes([flags, len(body)]) + body
    return bytes([flags | LONG]) + struct.pack(">Q", len(body)) + body


def encode_multipart(frames: Iterable[bytes]) -> bytes:
    """A whole message: every frame but the last carries MORE."""
    parts = list(frames)
    return b"".join(encode_frame(p, more=i < len(parts) - 1) for i, p in enumerate(parts))


def encode_command(name: str, data: bytes = b"") -> bytes:
    raw = name.encode("ascii")
    return encode_frame(bytes([len(raw)]) + raw + data, command=True)


def ready(socket_type: str, **properties: bytes) -> bytes:
    """The READY command carrying ``Socket-Type`` and any further properties."""
    props = {"Socket-Type": socket_type.encode("ascii"), **properties}
    body = b"".join(
        bytes([len(k)]) + k.encode("ascii") + struct.pack(">I", len(v)) + v
        for k, v in props.items()
    )
    return encode_command("READY", body)


def subscribe(topic: bytes) -> bytes:
    return encode_command("SUBSCRIBE", topic)


def ping(ttl_ds: int = 0, context: bytes = b"") -> bytes:
    return encode_command("PING", struct.pack(">H", ttl_ds) + context)


def split_command(body: bytes) -> tuple[str, bytes]:
    """A command frame's body -> (name, data)."""
    if not body or len(body) < 1 + body[0]:
        raise ProtocolError("bad_message", "command frame shorter than its name")
    return body[1 : 1 + body[0]].decode("ascii", "replace"), body[1 + body[0] :]


def parse_properties(data: bytes) -> dict[str, bytes]:
    """READY's metadata: name-length(1) name value-length(4, big-endian) value, repeated."""
    props, i = {}, 0
    while i < len(data):
        n = data[i]
        if i + 1 + n + 4 > len(data):
            raise ProtocolError("bad_message", "READY property runs past the command")
        name = data[i + 1 : i + 1 + n].decode("ascii", "replace")
        (size,) = struct.unpack_from(">I", data, i + 1 + n)
        start = i + 1 + n + 4
        if start + size > len(data):
            raise ProtocolError("bad_message", f"READY property {name!r} runs past the command")
        props[name] = data[start : start + size]
        i = start + size
    return props


class FrameDecoder:
    """Incremental frame parser: feed octets as they arrive, take whole frames out.

    A long frame above ``max_frame_bytes`` raises before its body is buffered.
    """

    def __init__(self, *, max_frame_bytes: int = 64 << 20) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> Frame | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        flags = buf[0]
        if flags & ~(MORE | LONG | COMMAND):
            raise ProtocolError("bad_message", f"frame flags 0x{flags:02x} use reserved bits")
        if flags & LONG:
            if len(buf) < 9:
                return None
            (size,) = struct.unpack_from(">Q", buf, 1)
            start = 9
        else:
            size, start = buf[1], 2
        if size > self.max_frame_bytes:
            raise ProtocolError(
                "too_large", f"frame of {size} octets exceeds the limit of {self.max_frame_bytes}"
            )
        if len(buf) < start + size:
            return None
        body = bytes(buf[start : start + size])
        del buf[: start + size]
        return Frame(flags & (MORE | COMMAND), body)
