"""Protocol constants of bridge/PROTOCOL.md: version, limits, error codes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 7
PROTOCOL_VERSION = f"{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}"

KIND_PATTERN = re.compile(rb"[a-z][a-z0-9_.]{0,31}")

ERROR_CODES = frozenset(
    {
        "bad_message",
        "bad_blob",
        "too_large",
        "unknown_kind",
        "bad_request",
        "handshake_required",
        "version_mismatch",
        "unauthorized",
        "rate_limited",
        "busy",
        "not_found",
        "conflict",
        "unavailable",
        "store_failed",
        "internal",
    }
)


@dataclass(frozen=True)
class Limits:
    """Bounds checked before anything is allocated (PROTOCOL.md section 7).

    Attributes:
        max_frame_bytes: largest single frame; libzmq drops a peer that sends more.
        max_header_bytes: largest JSON header.
        max_blobs: most blob frames in one message.
        max_message_bytes: all frames of one message together.
        max_dims: most dimensions of one blob's shape.
        rate_per_s: sustained requests per second per session.
        burst: requests a session may send at once before ``rate_per_s`` applies.
        max_sessions: concurrent sessions the backend holds.
        max_asset_bytes: largest asset the backend stores (a splat pack, say).
        chunk_bytes: octets per ``asset.chunk``, the last chunk of an asset excepted.
        max_credit: most chunks a transfer may have granted but not yet sent; it bounds what one
            session can make the backend queue on its socket.
        max_transfers: transfers one session may have running at once.
        max_pending: physics requests (``physics.control``, ``physics.query``) of one session
            queued or running at once (``world.*`` requests that change the world count too);
            they are answered in order by one worker thread.
        max_edit_events: most events in one ``world.edit``.
        max_jobs: generation jobs queued at once, all sessions together.
    """

    max_frame_bytes: int = 64 << 20
    max_header_bytes: int = 64 << 10
    max_blobs: int = 64
    max_message_bytes: int = 256 << 20
    max_dims: int = 8
    rate_per_s: float = 5000.0
    burst: int = 10000
    max_sessions: int = 256
    max_asset_bytes: int = 1 << 30
    chunk_bytes: int = 1 << 20
    max_credit: int = 8
    max_transfers: int = 4
    max_pending: int = 64
    max_edit_events: int = 1024
    max_jobs: int = 64

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"Limits.{name} must be positive, got {value!r}")
        if self.max_frame_bytes >= 2**63:
            raise ValueError(
                f"Limits.max_frame_bytes must be below 2^63, got {self.max_frame_bytes}"
            )
        # A chunk travels as one blob frame; a peer drops frames above its frame limit.
        if self.chunk_bytes > self.max_frame_bytes:
            raise ValueError(
                f"Limits.chunk_bytes ({self.chunk_bytes}) must not exceed max_frame_bytes "
                f"({self.max_frame_bytes})"
            )

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


def parse_version(text: object) -> tuple[int, int]:
    """Parse ``"MAJOR.MINOR"``; raises ValueError naming the expected form."""
    if not isinstance(text, str):
        raise ValueError(f"protocol must be a string like '1.0', got {text!r}")
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"protocol must look like 'MAJOR.MINOR' (e.g. '1.0'), got {text!r}")
    return int(parts[0]), int(parts[1])
