"""One memory record: what happened, who did it, where and when, and its text's embedding.

A record's JSON (PROTOCOL.md section 15) is

    {"id", "who", "what", "where": [x, y, z] | null, "when", "tick", "text", "importance",
     "summary", "embedding": "<base64>"}

``embedding`` is the text's unit-length embedding as ``EMBEDDING_DIM`` little-endian float32
values, base64-encoded (2,048 characters), so that reopening a world does not embed every text
again (10^4 records take seconds to embed, milliseconds to decode). It is left out of the form
sent to engines (``to_json(embedding=False)``) and may be missing from a stored record (the
memory then embeds that record's text when it loads).
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from continuum.errors import IdentityError

EMBEDDING_DIM = 384  # MiniLM's
MAX_TEXT = 4000  # characters
MAX_WHO = 256  # characters: an entity id or a name
MAX_WHAT = 64  # characters: a short kind such as "said", "looked_at", "touched"
FIELDS = ("id", "who", "what", "where", "when", "tick", "text", "importance", "summary")


def new_record_id() -> str:
    """A fresh record id: ``"m-"`` and 12 random hex digits."""
    return "m-" + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class MemoryRecord:
    """A memory record; every field is checked when it is made.

    Attributes:
        id: unique within the world's memory (1..64 characters).
        who: an entity id or a name (1..``MAX_WHO`` characters).
        what: a short kind (1..``MAX_WHAT`` characters).
        text: what happened, said or seen (1..``MAX_TEXT`` characters).
        where: a place ``(x, y, z)`` in metres (world frame, glTF axes), or None.
        when: seconds since the epoch.
        tick: the simulation step it happened at (0 without physics).
        importance: 0..1.
        summary: True for a record that summarises older ones.
        embedding: the text's unit-length embedding, float32 [EMBEDDING_DIM], read-only; None
            until embedded. Not compared: two records are equal when their other fields are.

    Raises:
        IdentityError: a field of the wrong type or out of range; the message names it.
    """

    id: str
    who: str
    what: str
    text: str
    where: tuple[float, float, float] | None = None
    when: float = 0.0
    tick: int = 0
    importance: float = 0.5
    summary: bool = False
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)  # [D]

    def __post_init__(self) -> None:
        _check_string("memory record: id", self.id, 64)
        name = f"memory record {self.id!r}"
        _check_string(f"{name}: who", self.who, MAX_WHO)
        _check_string(f"{name}: what", self.what, MAX_WHAT)
        _check_string(f"{name}: text", self.text, MAX_TEXT)
        if self.where is not None:
            if not isinstance(self.where, list | tuple) or len(self.where) != 3:
                raise IdentityError(
                    f"{name}: where must be [x, y, z] or null, got {self.where!r:.80}"
                )
            for v in self.where:
                _check_number(f"{name}: where", v)
            object.__setattr__(self, "where", tuple(float(v) for v in self.where))
        _check_number(f"{name}: when", self.when)
        object.__setattr__(self, "when", float(self.when))
        if isinstance(self.tick, bool) or not isinstance(self.tick, int) or self.tick < 0:
            raise IdentityError(f"{name}: tick must be an integer >= 0, got {self.tick!r}")
        _check_number(f"{name}: importance", self.importance)
        if not 0.0 <= self.importance <= 1.0:
            raise IdentityError(f"{name}: importance must be in 0..1, got {self.importance}")
        object.__setattr__(self, "importance", float(self.importance))
        if not isinstance(self.summary, bool):
            raise IdentityError(f"{name}: summary must be true or false, got {self.summary!r}")
        if self.embedding is not None:
            try:
                embedding = _check_embedding(self.embedding)
            except IdentityError as exc:
                raise IdentityError(f"{name}: {exc}") from None
            object.__setattr__(self, "embedding", embedding)

    def to_json(self, *, embedding: bool = True) -> dict[str, Any]:
        """The record as JSON (module docstring); ``embedding=False`` leaves the embedding out
        (what engines get)."""
        out: dict[str, Any] = {
            "id": self.id,
            "who": self.who,
            "what": self.what,
            "where": list(self.where) if self.where is not None else None,
            "when": self.when,
            "tick": self.tick,
            "text": self.text,
            "importance": self.importance,
            "summary": self.summary,
        }
        if embedding and self.embedding is not None:
            out["embedding"] = encode_embedding(self.embedding)
        return out

    @classmethod
    def from_json(cls, doc: Any) -> MemoryRecord:
        """The record a ``to_json`` dict describes (``embedding`` optional).

        Raises:
            IdentityError: not an object, a missing or unexpected field, or a bad value; the
                message names the field.
        """
        if not isinstance(doc, dict):
            raise IdentityError(f"a memory record is a JSON object, got {type(doc).__name__}")
        missing = [k for k in FIELDS if k not in doc]
        extra = sorted(set(doc) - {*FIELDS, "embedding"})
        if missing or extra:
            raise IdentityError(
                f"memory record {doc.get('id')!r}: missing fields {missing}, unexpected "
                f"fields {extra}; expected {list(FIELDS)} and optionally 'embedding'"
            )
        raw = doc.get("embedding")
        try:
            embedding = decode_embedding(raw) if raw is not None else None
        except IdentityError as exc:
            raise IdentityError(f"memory record {doc.get('id')!r}: {exc}") from None
        record = cls(**{k: doc[k] for k in FIELDS})
        # decode_embedding checked it already: a second check costs a tenth of a world's load.
        object.__setattr__(record, "embedding", embedding)
        return record


def encode_embedding(embedding: np.ndarray) -> str:
    """float32 [EMBEDDING_DIM] -> base64 of its little-endian bytes."""
    data = np.ascontiguousarray(embedding, dtype="<f4").tobytes()
    return base64.b64encode(data).decode("ascii")


def decode_embedding(text: Any) -> np.ndarray:
    """The inverse of ``encode_embedding``: float32 [EMBEDDING_DIM], read-only.

    Raises:
        IdentityError: not base64, or not ``EMBEDDING_DIM`` finite float32 values.
    """
    if not isinstance(text, str):
        raise IdentityError(f"embedding must be a base64 string, got {type(text).__name__}")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise IdentityError("embedding is not valid base64") from None
    if len(data) != EMBEDDING_DIM * 4:
        raise IdentityError(
            f"embedding must be {EMBEDDING_DIM} float32 values ({EMBEDDING_DIM * 4} bytes), "
            f"got {len(data)} bytes"
        )
    return _check_embedding(np.frombuffer(data, dtype="<f4"))


def _check_embedding(value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != (EMBEDDING_DIM,) or array.dtype.kind != "f":
        raise IdentityError(
            f"embedding must be float [{EMBEDDING_DIM}], got {array.dtype} {list(array.shape)}"
        )
    if not np.isfinite(array).all():
        raise IdentityError("embedding must be finite")
    out = np.array(array, dtype=np.float32)  # a copy of its own
    out.setflags(write=False)
    return out


def _check_string(name: str, value: Any, limit: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        got = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
        raise IdentityError(f"{name} must be a string of 1..{limit} characters, got {got}")


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IdentityError(f"{name} must be a finite number, got {value!r:.40}")
