"""Header field readers shared by the request handlers: each checks one field of a request and
answers ``bad_request`` naming it (``<kind>.<field>``), what it must be and what came."""

from __future__ import annotations

import math
from typing import Any

from continuum.errors import ProtocolError
from continuum.server.codec import Message

_REQUIRED: Any = object()


def integer(msg: Message, name: str, lo: int, hi: int, default: Any = _REQUIRED) -> Any:
    """The integer field ``name`` in ``lo..hi``; ``default`` (returned as it is) when absent,
    if one is given."""
    if default is not _REQUIRED and name not in msg.header:
        return default
    value = msg.header.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProtocolError(
            "bad_request", f"{msg.kind}.{name} must be an integer in {lo}..{hi}, got {value!r:.40}"
        )
    return value


def numbers(msg: Message, name: str, n: int, default: Any = _REQUIRED) -> Any:
    """The field ``name`` as ``n`` finite numbers (floats); ``default`` when absent, if given."""
    if default is not _REQUIRED and name not in msg.header:
        return default
    value = msg.header.get(name)
    if (
        not isinstance(value, list)
        or len(value) != n
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    ):
        raise ProtocolError(
            "bad_request", f"{msg.kind}.{name} must be {n} finite numbers, got {value!r:.60}"
        )
    return [float(v) for v in value]
